"""kill -9 at several moments under load (writes, compactions): no acknowledged job is lost."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .service import HANG, Service

pytestmark = pytest.mark.slow


# Moments (seconds after the load starts) at which the service is killed.
KILL_AFTER = (0.2, 0.5, 0.8, 1.1)
POSTERS = 8


async def post_until_refused(session: aiohttp.ClientSession, url: str,
                             acknowledged: dict[str, Any]) -> None:  # fmt: skip
    """POST jobs until the service dies; remember each one it answered 201 for."""
    number = 0
    while True:
        number += 1
        try:
            async with session.post(f"{url}/job", json={"data": {"n": number}}) as response:
                if response.status == 201:
                    job = await response.json()
                    acknowledged[job["id"]] = job
        except (aiohttp.ClientError, ConnectionError):
            return


async def statuses(session: aiohttp.ClientSession, url: str, ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job_id in ids:
        async with session.get(f"{url}/job/{job_id}") as response:
            assert response.status == 200, f"acknowledged job {job_id} is missing"
            status = (await response.json())["status"]
            counts[status] = counts.get(status, 0) + 1
    return counts


async def test_kill_9_under_load_loses_no_acknowledged_job(tmp_path: Path) -> None:
    service = Service(tmp_path / "data", JOB_STEP_MS="2", COMPACT_EVERY="40",
                      WORKER_CONCURRENCY="8")  # fmt: skip
    acknowledged: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for moment in KILL_AFTER:
            await service.start()
            await statuses(session, service.url, list(acknowledged))
            posters = [asyncio.create_task(post_until_refused(session, service.url, acknowledged))
                       for _ in range(POSTERS)]  # fmt: skip
            await asyncio.sleep(moment)
            await service.stop(signal.SIGKILL)
            await asyncio.gather(*posters)
        await service.start()
        ids = list(acknowledged)
        assert len(ids) > 100
        async with asyncio.timeout(HANG * 2):
            while await statuses(session, service.url, ids) != {"succeeded": len(ids)}:
                await asyncio.sleep(0.2)
        assert await service.stop() == 0
