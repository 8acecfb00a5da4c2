"""GET /events: every job's lifecycle events in one SSE feed, new ones only or resumed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobservice.http.keys import REDIS
from jobservice.stream.eventlog import FEED_STREAM

from .conftest import Client, StartApp, create_job, run_to_end
from .sse import ServerEvent, iter_events
from .test_cancel import Gate

pytestmark = pytest.mark.stores


async def take_until(
    client: Client, job_id: str, last: str, last_event_id: str | None = None
) -> list[ServerEvent]:
    """Feed events up to `last` of job `job_id`."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    taken: list[ServerEvent] = []
    async with client.get("/events", headers=headers) as response:
        assert response.status == 200
        async for event in iter_events(response):
            taken.append(event)
            if event.json["jobId"] == job_id and event.json["type"] == last:
                return taken
    raise AssertionError("the feed ended")


async def noop(client: Client) -> dict[str, Any]:
    response = await client.post("/job", json={"data": None, "type": "noop"})
    job: dict[str, Any] = await response.json()
    return job


async def test_the_feed_starts_with_new_events_and_carries_every_job(
    client: Client,
) -> None:
    old = await create_job(client)
    await run_to_end(client, old["id"])
    async with client.get("/events") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first, second = await noop(client), await noop(client)
        events: list[ServerEvent] = []
        async for event in iter_events(response):
            events.append(event)
            finished = [e.json["jobId"] for e in events if e.json["type"] == "completed"]
            if set(finished) == {first["id"], second["id"]}:
                break
    assert all(event.id for event in events)
    assert old["id"] not in {event.json["jobId"] for event in events}
    for job in (first, second):
        kinds = [e.json["type"] for e in events if e.json["jobId"] == job["id"]]
        assert kinds == ["created", "started", "completed"]
    created = next(e.json for e in events if e.json["type"] == "created")
    assert created["jobId"] == first["id"] and created["jobType"] == "noop"


async def test_last_event_id_resumes_the_feed_right_after_that_event(client: Client) -> None:
    job = await create_job(client)
    await run_to_end(client, job["id"])
    full = await take_until(client, job["id"], "completed", last_event_id="0-0")
    mine = [event for event in full if event.json["jobId"] == job["id"]]
    assert [e.json["type"] for e in mine] == ["created", "started"] + ["progress"] * 5 + [
        "completed"
    ]
    resumed = await take_until(client, job["id"], "completed", last_event_id=mine[2].id)
    assert [(e.id, e.data) for e in resumed] == [(e.id, e.data) for e in mine[3:]]


async def test_retry_and_cancel_events_reach_the_feed(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    await gate.started.wait()
    feed = asyncio.create_task(take_until(client, job["id"], "cancelled", last_event_id="0-0"))
    await client.post(f"/job/{job['id']}/cancel")
    kinds = [e.json["type"] for e in await feed if e.json["jobId"] == job["id"]]
    assert kinds == ["created", "started", "cancelled"]


async def test_the_feed_is_capped(start_app: StartApp) -> None:
    client = await start_app(feed_maxlen=10)
    for _ in range(30):
        await run_to_end(client, (await noop(client))["id"])
    # MAXLEN ~ trims whole radix-tree nodes: about the cap, never the 90 entries written.
    assert await client.app[REDIS].xlen(FEED_STREAM) < 90
