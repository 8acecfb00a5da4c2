"""Retention: ended jobs older than RETENTION_SECONDS go, with their streams, for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jobservice.core.models import now_ms
from jobservice.http.keys import EVENTS, REDIS, RETENTION, SETTINGS

from .conftest import Client, StartApp, create_job, run_to_end
from .files import crash_image
from .test_cancel import Gate

pytestmark = pytest.mark.stores


async def test_a_sweep_removes_old_ended_jobs_and_their_streams(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1, retention_seconds=60)
    running = await create_job(client, "running")
    await gate.started.wait()
    pending = await create_job(client, "pending")
    cancelled = await create_job(client, "cancelled")
    await client.post(f"/job/{cancelled['id']}/cancel")
    assert await client.app[RETENTION].sweep() == 0, "nothing is old enough yet"
    assert await client.app[RETENTION].sweep(now=now_ms() + 61_000) == 1
    assert (await client.get(f"/job/{cancelled['id']}")).status == 404
    assert await client.app[REDIS].exists(client.app[EVENTS].stream(cancelled["id"])) == 0
    for job in (running, pending):
        assert (await client.get(f"/job/{job['id']}")).status == 200
    listed = await (await client.get("/jobs")).json()
    assert cancelled["id"] not in {job["id"] for job in listed["jobs"]}


@pytest.mark.stores("files")
async def test_removed_jobs_stay_removed_after_restarts(
    client: Client, start_app: StartApp, tmp_path: Path
) -> None:
    gone = await create_job(client, "gone")
    await run_to_end(client, gone["id"])
    kept = await create_job(client, "kept")
    await run_to_end(client, kept["id"])
    cutoff = (await (await client.get(f"/job/{kept['id']}")).json())["updated"]
    retention = client.app[RETENTION]
    assert await retention.sweep(now=cutoff + 7 * 24 * 3600 * 1000) == 1  # "gone" ended first
    # After a crash the deletion is only in the journal; replaying it must drop the job.
    crashed = crash_image(client.app[SETTINGS].data_dir, tmp_path / "crashed")
    assert any(b'"del"' in path.read_bytes() for path in crashed.glob("journal-*"))
    await client.close()
    client = await start_app(data_dir=crashed)
    assert (await client.get(f"/job/{gone['id']}")).status == 404
    assert (await client.get(f"/job/{kept['id']}")).status == 200
    await client.close()  # a clean stop: the snapshot is rewritten without it
    client = await start_app(data_dir=crashed)
    assert (await client.get(f"/job/{gone['id']}")).status == 404
    assert gone["id"] not in (crashed / "jobs.json").read_text()


async def test_the_periodic_sweep_runs_on_its_own(start_app: StartApp) -> None:
    client = await start_app(retention_seconds=0, retention_sweep_seconds=0.01)
    job = await (await client.post("/job", json={"data": 1, "type": "noop"})).json()
    # No stream read first: the sweep may remove the job as soon as it has ended.
    async with asyncio.timeout(5):
        while (await client.get(f"/job/{job['id']}")).status != 404:
            await asyncio.sleep(0.01)
