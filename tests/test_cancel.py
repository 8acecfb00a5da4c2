"""Cancelling a job: pending ones leave the queue, running ones are stopped, watchers see it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobservice.core.models import Job

from .conftest import Client, StartApp, create_job, run_to_end
from .test_lifecycle import Blocked, LosesACancel, fetch, kinds, post

pytestmark = pytest.mark.stores


class Gate:
    """The first job waits at the gate; every job run is noted."""

    def __init__(self) -> None:
        self.ran: list[Any] = []
        self.started = asyncio.Event()
        self.open = asyncio.Event()
        self.cancelled = False

    async def __call__(self, job: Job, ctx: Any) -> None:
        self.ran.append(job.data)
        self.started.set()
        try:
            await self.open.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_running_job_is_stopped_and_its_watcher_sees_cancelled(
    start_app: StartApp,
) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    watching = asyncio.create_task(run_to_end(client, job["id"]))
    await gate.started.wait()
    response = await client.post(f"/job/{job['id']}/cancel")
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "cancelled"
    assert gate.cancelled
    events = await watching
    assert kinds(events)[-1] == "cancelled" and events[-1]["message"] == "Job cancelled"
    assert (await fetch(client, job["id"]))["status"] == "cancelled"


async def test_a_cancel_request_the_handler_loses_is_sent_again(start_app: StartApp) -> None:
    handler = LosesACancel()
    client = await start_app(handler=handler)
    job = await create_job(client)
    await handler.started.wait()
    response = await client.post(f"/job/{job['id']}/cancel")
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "cancelled"
    assert handler.cancels == 2


async def test_a_pending_job_leaves_the_queue_and_never_runs(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    first = await create_job(client, "first")
    second = await create_job(client, "second")
    await gate.started.wait()
    watching = asyncio.create_task(run_to_end(client, second["id"]))
    response = await client.post(f"/job/{second['id']}/cancel")
    assert (await response.json())["status"] == "cancelled"
    seen = await watching
    assert kinds(seen) == ["initial", "cancelled"], (second["id"], seen)
    gate.open.set()
    assert kinds(await run_to_end(client, first["id"]))[-1] == "completed"
    third = await create_job(client, "third")
    await run_to_end(client, third["id"])
    assert gate.ran == ["first", "third"]


async def test_a_job_waiting_to_be_retried_can_be_cancelled(start_app: StartApp) -> None:
    blocked = Blocked()
    client = await start_app(handler=blocked, retry_base_ms=60_000)
    job = await post(client, max_attempts=3, timeout=0.01)
    async with client.get(f"/job/{job['id']}/stream") as response:
        async for line in response.content:
            if b'"type":"retry"' in line:
                break
    assert (await fetch(client, job["id"]))["status"] == "pending"
    response = await client.post(f"/job/{job['id']}/cancel")
    assert (await response.json())["status"] == "cancelled"
    events = await run_to_end(client, job["id"])
    assert kinds(events)[-2:] == ["retry", "cancelled"]


async def test_cancelling_a_finished_job_is_a_409_naming_its_status(client: Client) -> None:
    job = await create_job(client)
    await run_to_end(client, job["id"])
    response = await client.post(f"/job/{job['id']}/cancel")
    assert response.status == 409
    assert (await response.json()) == {"error": "Job is already succeeded"}
    assert (await fetch(client, job["id"]))["status"] == "succeeded"


async def test_cancelling_twice_is_a_409_the_second_time(start_app: StartApp) -> None:
    client = await start_app(handler=Gate(), worker_concurrency=1)
    await create_job(client)
    job = await create_job(client)
    assert (await client.post(f"/job/{job['id']}/cancel")).status == 200
    response = await client.post(f"/job/{job['id']}/cancel")
    assert response.status == 409
    assert "cancelled" in (await response.json())["error"]


async def test_cancelling_an_unknown_job_is_a_404(client: Client) -> None:
    for method, path in (("POST", "/job/nope/cancel"), ("DELETE", "/job/nope")):
        response = await client.request(method, path)
        assert response.status == 404
        assert await response.json() == {"error": "Job not found"}


async def test_a_cancelled_job_stays_cancelled_after_a_restart(start_app: StartApp) -> None:
    client = await start_app(handler=Gate(), worker_concurrency=1)
    await create_job(client)
    job = await create_job(client)
    await client.post(f"/job/{job['id']}/cancel")
    await client.close()
    client = await start_app()
    assert (await fetch(client, job["id"]))["status"] == "cancelled"
    assert kinds(await run_to_end(client, job["id"])) == ["initial", "cancelled"]
