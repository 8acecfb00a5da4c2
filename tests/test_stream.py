"""GET /job/{id}/stream: the seed's event sequence over SSE, replay, and Last-Event-ID resume."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import aiohttp
import pytest

from jobservice.core.models import Job

from .conftest import Client, StartApp, create_job
from .sse import ServerEvent, parse_stream, read_events

pytestmark = pytest.mark.stores

SEED_SEQUENCE = ["initial", "started"] + ["progress"] * 5 + ["completed"]


def types(events: list[ServerEvent]) -> list[str]:
    return [event.json["type"] for event in events]


class Gate:
    """A handler that waits until the test opens the gate, so timing is the test's choice."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, job: Job, ctx: Any) -> None:
        self.started.set()
        await ctx.progress("before the gate")
        await self.open.wait()
        await ctx.progress("after the gate")


async def test_stream_sends_the_seed_sequence_with_ids(client: Client) -> None:
    job = await create_job(client)
    events = await read_events(client, job["id"])
    assert types(events) == SEED_SEQUENCE
    initial, started, *progress, completed = (event.json for event in events)
    assert initial["job"]["id"] == job["id"] and initial["job"]["data"] == job["data"]
    assert started == {
        "type": "started",
        "jobId": job["id"],
        "message": "Job processing started",
        "timestamp": started["timestamp"],
    }
    for number, step in enumerate(progress, start=1):
        assert step["jobId"] == job["id"] and step["step"] == str(number)
        assert step["timestamp"].isdigit() and step["processingTime"].isdigit()
        assert step["data"].startswith(f"Processed chunk {number} of data: ")
    assert completed["message"] == "Job processing completed"
    assert completed["processingTime"].isdigit()


async def test_every_stream_event_has_an_increasing_id_and_no_event_name(client: Client) -> None:
    job = await create_job(client)
    events = await read_events(client, job["id"])
    assert events[0].id is None  # the initial snapshot is not a stream entry
    ids = [event.id for event in events[1:]]
    assert all(ids)
    as_tuples = [tuple(int(part) for part in str(entry).split("-")) for entry in ids]
    assert as_tuples == sorted(as_tuples) and len(set(as_tuples)) == len(as_tuples)
    assert all(event.event is None and "event" not in event.fields for event in events)


async def test_wire_format_is_plain_sse(client: Client) -> None:
    job = await create_job(client)
    async with client.get(f"/job/{job['id']}/stream") as response:
        assert response.headers["Cache-Control"] == "no-cache"
        body = (await response.read()).decode()
    first, second = body.split("\r\n\r\n")[:2]
    assert first.startswith('data: {"type":"initial","job":{"id":"' + job["id"])
    assert second.startswith("id: ") and '\r\ndata: {"type":"started"' in second


async def test_a_late_watcher_gets_the_same_events_replayed(client: Client) -> None:
    job = await create_job(client)
    live = await read_events(client, job["id"])
    late = await read_events(client, job["id"])
    assert [(e.id, e.data) for e in late[1:]] == [(e.id, e.data) for e in live[1:]]
    assert late[0].json["job"]["status"] == "succeeded"


async def test_last_event_id_resumes_right_after_that_event(client: Client) -> None:
    job = await create_job(client)
    full = await read_events(client, job["id"])
    for cut in range(1, len(full)):
        resumed = await read_events(client, job["id"], last_event_id=full[cut].id)
        assert [e.id for e in resumed] == [e.id for e in full[cut + 1 :]]


async def test_resuming_after_the_terminal_event_answers_204(client: Client) -> None:
    job = await create_job(client)
    full = await read_events(client, job["id"])
    headers = {"Last-Event-ID": str(full[-1].id)}
    async with client.get(f"/job/{job['id']}/stream", headers=headers) as response:
        assert response.status == 204  # per the SSE spec, EventSource stops reconnecting
        assert await response.read() == b""


async def test_an_invalid_last_event_id_replays_from_the_start(client: Client) -> None:
    job = await create_job(client)
    await read_events(client, job["id"])
    events = await read_events(client, job["id"], last_event_id="not-an-id")
    assert types(events) == SEED_SEQUENCE


async def test_a_watcher_of_a_pending_job_sees_it_live(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    watching = asyncio.create_task(read_events(client, job["id"]))
    await gate.started.wait()
    assert not watching.done()
    gate.open.set()
    events = await watching
    assert types(events)[1:] == ["started", "progress", "progress", "completed"]


async def test_more_watchers_than_a_default_redis_pool_all_get_every_event(
    start_app: StartApp,
) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def watch() -> list[ServerEvent]:
            async with session.get(client.make_url(f"/job/{job['id']}/stream")) as response:
                return await parse_stream(response)

        watchers = [asyncio.create_task(watch()) for _ in range(150)]
        await gate.started.wait()
        await asyncio.sleep(0.2)
        gate.open.set()
        results = await asyncio.gather(*watchers)
    expected = [e.id for e in results[0]]
    assert types(results[0])[-1] == "completed"
    assert all([e.id for e in events] == expected for events in results)


async def test_shutdown_ends_open_streams(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    watching = asyncio.create_task(read_events(client, job["id"]))
    await gate.started.wait()
    await asyncio.sleep(0.1)
    await asyncio.wait_for(client.server.close(), timeout=10)
    events = await asyncio.wait_for(watching, timeout=10)
    assert types(events)[:2] == ["initial", "started"]
    assert "completed" not in types(events)


async def test_clients_that_leave_at_once_log_no_errors(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    job = await create_job(client)
    request = f"GET /job/{job['id']}/stream HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    for _ in range(30):
        with socket.create_connection((client.host, client.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(request)  # then reset the connection before any answer
    await asyncio.sleep(0.3)
    assert (await client.get(f"/job/{job['id']}")).status == 200
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
