"""Watchers leaving a real service process (which, unlike the test server, does not cancel a
handler when its client goes): every stream is let go by the next ping, quietly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .service import HANG, Service, post_job

pytestmark = pytest.mark.slow


async def open_streams(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(f"{url}/metrics") as response:
        found = re.search(r"^jobservice_sse_connections (\S+)$", await response.text(), re.M)
    assert found is not None
    return float(found.group(1))


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    service = Service(tmp_path / "data", SSE_PING_SECONDS="1", STREAM_BLOCK_MS="1000")
    await service.start()
    yield service
    await service.stop(signal.SIGKILL)


async def status(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        job = await response.json()
    return str(job["status"])


async def leave_after_first_line(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(url) as response:
        await response.content.readline()


async def test_watchers_leaving_at_any_point_are_let_go(service: Service, tmp_path: Path) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HANG)) as session:
        running = await post_job(session, service.url, "runs for 1.5 s")  # 5 steps of 300 ms
        async with session.post(f"{service.url}/job", json={"data": 1, "type": "noop"}) as made:
            finished = await made.json()
        async with asyncio.timeout(HANG):
            while await status(session, f"{service.url}/job/{finished['id']}") != "succeeded":
                await asyncio.sleep(0.05)
        streams = [f"{service.url}/job/{running['id']}/stream", f"{service.url}/events"]
        await asyncio.gather(*(leave_after_first_line(session, url) for url in streams * 10))
        # With Redis stopped, a finished job's watcher leaves before its headers.
        pid = int((tmp_path / "data" / "redis.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            url = f"{service.url}/job/{finished['id']}/stream"
            leaving = [asyncio.create_task(session.get(url)) for _ in range(10)]
            await asyncio.sleep(0.5)
            for task in leaving:
                task.cancel()
            await asyncio.gather(*leaving, return_exceptions=True)
        finally:
            os.kill(pid, signal.SIGCONT)
        async with asyncio.timeout(HANG):
            while await open_streams(session, service.url) > 0:
                await asyncio.sleep(0.2)
    log = await service.output()
    assert "Traceback" not in log and "ERROR" not in log, log
