"""`serve --processes N`: N service processes on one port (SO_REUSEPORT) over the Redis store.

The parent serves no requests. It holds what belongs to the machine: the data dir's lock and,
when no REDIS_URL is given, the embedded Redis (AOF on) that the children share. It starts the
children with STORE=redis, REUSE_PORT=1 and the Redis URL, starts a child again when it dies,
and on SIGINT or SIGTERM stops the children (each shuts down gracefully), then Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from contextlib import suppress

from ..core.errors import StartupError
from ..core.settings import Settings
from ..ops.logs import configure_logging
from ..store.lock import DataDirLock
from ..stream.redis_server import EmbeddedRedis, die_with_parent, find_redis_server

logger = logging.getLogger(__name__)

RESTART_MIN_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
# A child that dies sooner than this after its start could not start (a port taken, a Redis
# refusing it); after FAILED_STARTS of those in a row the parent gives up and stops.
EARLY_EXIT_SECONDS = 5.0
FAILED_STARTS = 3
# Beyond the children's own shutdown (grace for running jobs, then closing connections).
STOP_MARGIN_SECONDS = 5.0


def check_can_scale(settings: Settings, env: Mapping[str, str]) -> None:
    """Refuse settings under which N processes cannot share one service (StartupError)."""
    if env.get("STORE", "").strip() == "files":
        raise StartupError(
            "STORE=files keeps jobs in one process's files: several processes need STORE=redis "
            "(or leave STORE unset, and --processes uses the Redis store)."
        )
    if settings.port == 0:
        raise StartupError("PORT=0 gives each process its own port: choose a port to share.")


def run_processes(settings: Settings) -> int:
    """Serve with `settings.processes` children until SIGINT or SIGTERM; the exit status."""
    configure_logging(settings.log_level, settings.log_format)
    try:
        check_can_scale(settings, os.environ)
        return asyncio.run(Supervisor(settings).run())
    except StartupError as exc:
        logger.critical("cannot start: %s", exc)
        return 1


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stopping = asyncio.Event()
        self._children: dict[int, asyncio.subprocess.Process] = {}
        self._gave_up = False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stopping.set)
        lock, redis = await self._hold_data_dir()
        try:
            keepers = [
                asyncio.create_task(self._keep_running(number, redis_url(self._settings, redis)))
                for number in range(self._settings.processes)
            ]
            logger.info(
                "starting %d processes to serve http://%s:%d over the Redis store",
                len(keepers), self._settings.host, self._settings.port,
            )  # fmt: skip
            await self._stopping.wait()
            logger.info("stopping the processes (%d running)", len(self._children))
            await asyncio.gather(*keepers)
        finally:
            if redis is not None:
                await redis.stop()
            if lock is not None:
                lock.release()
        return 1 if self._gave_up else 0

    async def _hold_data_dir(self) -> tuple[DataDirLock | None, EmbeddedRedis | None]:
        """With no REDIS_URL: the data dir's lock and the children's embedded Redis."""
        settings = self._settings
        if settings.redis_url:
            return None, None
        lock = DataDirLock(settings.data_dir)
        lock.acquire(
            f"jobservice serve --processes {settings.processes}",
            "Stop the other one, or give this one its own DATA_DIR.",
        )
        redis = EmbeddedRedis(settings.data_dir, find_redis_server(settings.redis_server))
        try:
            await redis.start()
        except BaseException:
            lock.release()
            raise
        return lock, redis

    async def _keep_running(self, number: int, url: str) -> None:
        """Run child `number`, again whenever it dies, until the stop; then stop it."""
        delay, failed = RESTART_MIN_SECONDS, 0
        while not self._stopping.is_set():
            started = asyncio.get_running_loop().time()
            code = await self._run_child(number, url)
            if self._stopping.is_set():
                return
            lived = asyncio.get_running_loop().time() - started
            failed = failed + 1 if lived < EARLY_EXIT_SECONDS else 0
            if failed >= FAILED_STARTS:
                logger.critical("process %d failed to start %d times; stopping", number, failed)
                self._gave_up = True
                self._stopping.set()
                return
            delay = RESTART_MIN_SECONDS if not failed else min(delay * 2, RESTART_MAX_SECONDS)
            logger.error("process %d exited with %s; starting it again in %.1f s",
                         number, code, delay)  # fmt: skip
            with suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    async def _run_child(self, number: int, url: str) -> int:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jobservice", "serve",
            env=child_env(os.environ, url),
            # Own session: a Ctrl-C at the terminal reaches the parent only, which stops the
            # children in order; and a parent killed outright takes its children with it.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        self._children[number] = child
        try:
            waiting = asyncio.ensure_future(child.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():
                await self._stop_child(child)
            return await waiting
        finally:
            del self._children[number]

    async def _stop_child(self, child: asyncio.subprocess.Process) -> None:
        settings = self._settings
        child.terminate()
        allowed = settings.stop_grace_seconds + settings.shutdown_timeout + STOP_MARGIN_SECONDS
        try:
            async with asyncio.timeout(allowed):
                await child.wait()
        except TimeoutError:
            logger.warning("process %d did not stop in %.0f s; killing it", child.pid, allowed)
            child.kill()


def redis_url(settings: Settings, embedded: EmbeddedRedis | None) -> str:
    if embedded is not None:
        return embedded.url
    assert settings.redis_url is not None
    return settings.redis_url


def child_env(env: Mapping[str, str], url: str) -> dict[str, str]:
    """A child's environment: the parent's, serving one share of the port on the Redis store."""
    return {**env, "STORE": "redis", "REDIS_URL": url, "REUSE_PORT": "1", "PROCESSES": "1"}
