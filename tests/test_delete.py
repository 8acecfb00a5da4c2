"""DELETE /job/{id}: a pending or running job is cancelled first, then the job and its stream
are removed and the feed says so; retention announces its removals the same way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobservice.core.models import now_ms
from jobservice.http.keys import EVENTS, REDIS, RETENTION, STORE, WORKER

from .conftest import Client, StartApp, create_job, run_to_end
from .sse import ServerEvent
from .test_cancel import Gate
from .test_feed import take_until
from .test_lifecycle import kinds

pytestmark = pytest.mark.stores


def of(job: dict[str, Any], feed: list[ServerEvent]) -> list[dict[str, Any]]:
    return [event.json for event in feed if event.json["jobId"] == job["id"]]


async def assert_gone(client: Client, job: dict[str, Any]) -> None:
    """Call once the feed has said `deleted`: the outbox deleted the stream before that."""
    assert (await client.get(f"/job/{job['id']}")).status == 404
    assert (await client.get(f"/job/{job['id']}/stream")).status == 404
    listed = await (await client.get("/jobs")).json()
    assert job["id"] not in {other["id"] for other in listed["jobs"]}
    assert await client.app[REDIS].exists(client.app[EVENTS].stream(job["id"])) == 0


async def test_a_running_job_is_cancelled_then_deleted(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    watching = asyncio.create_task(run_to_end(client, job["id"]))
    await gate.started.wait()
    feed = asyncio.create_task(take_until(client, job["id"], "deleted", last_event_id="0-0"))
    response = await client.delete(f"/job/{job['id']}")
    assert response.status == 204 and await response.read() == b""
    assert gate.cancelled
    assert kinds(await watching)[-1] == "cancelled"
    events = of(job, await feed)
    assert kinds(events) == ["created", "started", "cancelled", "deleted"]
    deleted = events[-1]
    assert deleted["status"] == "cancelled" and deleted["message"] == "Job deleted"
    assert deleted["jobType"] == "demo" and deleted["timestamp"].isdigit()
    await assert_gone(client, job)


async def test_a_pending_job_is_deleted_and_never_runs(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    first = await create_job(client, "first")
    await gate.started.wait()
    second = await create_job(client, "second")
    assert (await client.delete(f"/job/{second['id']}")).status == 204
    feed = await take_until(client, second["id"], "deleted", last_event_id="0-0")
    assert kinds(of(second, feed)) == ["created", "cancelled", "deleted"]
    await assert_gone(client, second)
    gate.open.set()
    await run_to_end(client, first["id"])
    assert gate.ran == ["first"]


async def test_a_finished_job_is_deleted_and_a_second_delete_is_404(client: Client) -> None:
    job = await create_job(client)
    await run_to_end(client, job["id"])
    assert await client.app[REDIS].exists(client.app[EVENTS].stream(job["id"])) == 1
    assert (await client.delete(f"/job/{job['id']}")).status == 204
    feed = await take_until(client, job["id"], "deleted", last_event_id="0-0")
    assert of(job, feed)[-1]["status"] == "succeeded"
    await assert_gone(client, job)
    again = await client.delete(f"/job/{job['id']}")
    assert again.status == 404 and await again.json() == {"error": "Job not found"}
    assert (await client.post(f"/job/{job['id']}/cancel")).status == 404


async def test_a_deleted_job_stays_deleted_after_a_restart(start_app: StartApp) -> None:
    client = await start_app()
    job = await create_job(client)
    await run_to_end(client, job["id"])
    kept = await create_job(client)
    assert (await client.delete(f"/job/{job['id']}")).status == 204
    await client.close()
    client = await start_app()
    assert (await client.get(f"/job/{job['id']}")).status == 404
    assert (await client.get(f"/job/{kept['id']}")).status == 200


@pytest.mark.stores("files")
async def test_a_delete_racing_a_cancel_leaves_no_stream_behind(start_app: StartApp) -> None:
    """The cancel stores the job's new status and then publishes `cancelled`; a delete that
    comes in between must wait for that event, or the event would bring the stream back."""
    client = await start_app(handler=Gate(), worker_concurrency=1)
    await create_job(client)
    job = await create_job(client)  # pending behind the first
    worker, stored = client.app[WORKER], client.app[STORE].get(job["id"])
    assert stored is not None
    cancelling = asyncio.create_task(worker.cancel(stored.id))
    while stored.status != "cancelled":  # the cancel is now storing it, before publishing
        await asyncio.sleep(0)
    assert await worker.delete(stored.id)
    await cancelling
    feed = await take_until(client, job["id"], "deleted", last_event_id="0-0")
    assert kinds(of(job, feed)) == ["created", "cancelled", "deleted"]
    await assert_gone(client, job)


async def test_two_deletes_at_once_delete_once(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    await gate.started.wait()
    responses = await asyncio.gather(*(client.delete(f"/job/{job['id']}") for _ in range(2)))
    assert sorted(response.status for response in responses) == [204, 404]
    feed = await take_until(client, job["id"], "deleted", last_event_id="0-0")
    assert kinds(of(job, feed)).count("deleted") == 1
    await assert_gone(client, job)


async def test_retention_announces_each_removal_on_the_feed(start_app: StartApp) -> None:
    client = await start_app(retention_seconds=60)
    old = [await create_job(client, n) for n in range(2)]
    for job in old:
        await run_to_end(client, job["id"])
    assert await client.app[RETENTION].sweep(now=now_ms() + 61_000) == 2
    feed = await take_until(client, old[-1]["id"], "deleted", last_event_id="0-0")
    for job in old:
        deleted = of(job, feed)[-1]
        assert deleted["type"] == "deleted" and deleted["status"] == "succeeded"
        assert deleted["message"] == "Job removed by retention"
        await assert_gone(client, job)
