"""Real processes for tests: a jobservice on its own port and data dir, and a redis-server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobservice.stream.redis_server import find_redis_server

ROOT = Path(__file__).resolve().parent.parent
# A bound on waits, so a hang fails the test instead of stalling the run; not a speed target.
HANG = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    """One jobservice process on its own port and data dir. A test that fails before it
    stops its services leaves them to `kill_leftovers` (an autouse fixture in conftest)."""

    started: ClassVar[list[Service]] = []

    def __init__(self, data_dir: Path, *command: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = command or (sys.executable, str(ROOT / "app.py"))
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "DATA_DIR": str(data_dir),
            "HOST": "127.0.0.1",
            "JOB_STEP_MS": "300",
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None
        self.log_path = data_dir.parent / f"service-{self.port}.log"

    async def start(self) -> None:
        # A file, not a pipe: an undrained pipe would block the service's logging.
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, env=self.env, cwd=ROOT, stdout=log,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        Service.started.append(self)
        async with asyncio.timeout(HANG), aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{self.url}/job/ready-check"):
                        return
                except aiohttp.ClientConnectionError:
                    assert self.process.returncode is None, await self.output()
                    await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            os.killpg(self.process.pid, sig)
        return await asyncio.wait_for(self.process.wait(), HANG)

    def kill(self) -> None:
        """SIGKILL to the process group, if it still runs (its children go with it)."""
        if self.process is not None and self.process.returncode is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def output(self) -> str:
        """Everything the service printed, over all its starts."""
        return self.log_path.read_text(errors="replace")


class RedisProcess:
    """A redis-server the test owns, so it can stop and start it under a running service."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            find_redis_server(None), "--port", "0", "--unixsocket", str(self.socket),
            "--dir", str(self.directory), "--appendonly", "yes", "--save", "",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis(unix_socket_path=str(self.socket))
        try:
            async with asyncio.timeout(HANG):
                while not await _answers(client):
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await asyncio.wait_for(self.process.wait(), HANG)


async def _answers(client: Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False


async def post_job(session: aiohttp.ClientSession, url: str, data: Any = None) -> dict[str, Any]:
    async with session.post(f"{url}/job", json={"data": data}) as response:
        assert response.status == 201, await response.text()
        job: dict[str, Any] = await response.json()
        return job
