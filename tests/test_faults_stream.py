"""Faults on the event streams: hostile ids, odd Redis state, watchers that leave at any point.

The stream hub reads every watched stream with one shared XREAD, so one watcher's input or
one stream must never stop the others, and every watcher that leaves must be let go."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Any

import pytest
from aiohttp import ClientResponse
from redis.asyncio import Redis

from jobservice.http.keys import OPEN_STREAMS, REDIS
from jobservice.stream.eventlog import job_stream

from .conftest import Client, StartApp, create_job, run_to_end
from .service import HANG
from .sse import ServerEvent, iter_events, parse_stream, read_events
from .test_metrics import scrape, value
from .test_stream import Gate

LIVE = ["started", "progress", "progress", "completed"]
# Ids that look like stream ids to a careless pattern; Redis refuses each of them.
POISON = [
    "99999999999999999999-0",
    "18446744073709551616-1",
    "1-18446744073709551616",
    "\u0661-\u0660",  # Arabic-Indic digits one and zero: \\d and int() take them
]
# Valid, and later than any id the service will give out.
FUTURE = "18446744073709551615-0"


def kinds(events: list[ServerEvent]) -> list[str]:
    return [event.json["type"] for event in events]


@asynccontextmanager
async def opened(
    client: Client, path: str, last_event_id: str | None = None
) -> AsyncIterator[ClientResponse]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with client.get(path, headers=headers) as response:
        assert response.status == 200
        yield response


async def until(
    client: Client, path: str, done: Any, last_event_id: str | None = None
) -> list[ServerEvent]:
    """Events of an open-ended stream (the feed) until `done(events)`."""
    events: list[ServerEvent] = []
    async with opened(client, path, last_event_id) as response:
        async for event in iter_events(response):
            events.append(event)
            if done(events):
                return events
    raise AssertionError(f"{path} ended early: {kinds(events)}")


async def streams_open(client: Client, count: int) -> None:
    async with asyncio.timeout(HANG):
        while len(client.app[OPEN_STREAMS]) != count:
            await asyncio.sleep(0.01)


async def hub_reading(redis: Redis) -> None:
    """Until the stream hub's XREAD is blocked in Redis (so it has taken every watcher)."""
    async with asyncio.timeout(HANG):
        while not any(c["cmd"] == "xread" and "b" in c["flags"] for c in await redis.client_list()):
            await asyncio.sleep(0.01)


def of_job(events: list[ServerEvent], job_id: str) -> list[str]:
    return [e.json["type"] for e in events if e.json["jobId"] == job_id]


@pytest.mark.parametrize("poison", POISON)
async def test_a_poison_last_event_id_stops_no_one_else(start_app: StartApp, poison: str) -> None:
    gate = Gate()
    client = await start_app(handler=gate)

    def both_ended(events: list[ServerEvent]) -> bool:
        return kinds(events).count("completed") == 2

    feed = asyncio.create_task(until(client, "/events", both_ended))
    await streams_open(client, 1)
    poisoned, other = await create_job(client), await create_job(client)
    spoiled = asyncio.create_task(read_events(client, poisoned["id"], last_event_id=poison))
    clean = asyncio.create_task(read_events(client, other["id"]))
    await streams_open(client, 3)
    gate.open.set()
    async with asyncio.timeout(HANG):
        assert kinds(await clean) == ["initial", *LIVE]
        assert of_job(await feed, other["id"]) == ["created", *LIVE]
        # The header is not a stream id, so it is ignored: the whole stream, as without it.
        assert kinds(await spoiled) == ["initial", *LIVE]
    assert len({event.id for event in feed.result()}) == len(feed.result()) == 10


async def test_a_stream_redis_will_not_read_is_dropped_alone(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    broken = (await (await client.post("/job", json={"data": 1, "type": "noop"})).json())["id"]
    await run_to_end(client, broken)
    redis: Redis = client.app[REDIS]
    await redis.delete(job_stream(broken))
    await redis.set(job_stream(broken), "not a stream")  # XREAD refuses it: WRONGTYPE
    feed = asyncio.create_task(until(client, "/events", lambda e: "completed" in kinds(e)))
    await streams_open(client, 1)
    other = await create_job(client)
    clean = asyncio.create_task(read_events(client, other["id"]))
    await streams_open(client, 2)
    async with asyncio.timeout(HANG):
        assert kinds(await read_events(client, broken)) == ["initial"]
        assert await read_events(client, broken, last_event_id="1-0") == []
    gate.open.set()
    async with asyncio.timeout(HANG):
        assert kinds(await clean) == ["initial", *LIVE]
        assert of_job(await feed, other["id"]) == ["created", *LIVE]


async def test_resuming_a_finished_job_from_past_its_end_answers_204(client: Client) -> None:
    job = await create_job(client)
    full = await read_events(client, job["id"])
    last_ms = int(str(full[-1].id).split("-")[0])
    for after in (str(full[-1].id), f"{last_ms}-1", f"{last_ms + 60_000}-0", FUTURE):
        async with asyncio.timeout(HANG):
            response = await client.get(
                f"/job/{job['id']}/stream", headers={"Last-Event-ID": after}
            )
        assert response.status == 204, after


async def test_a_watcher_from_a_later_id_hides_nothing_from_the_others(
    start_app: StartApp,
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, stream_block_ms=200)
    job = await create_job(client)
    await gate.started.wait()
    ahead = asyncio.create_task(read_events(client, job["id"], last_event_id=FUTURE))
    await hub_reading(client.app[REDIS])  # the first watcher of the stream sets its position
    behind = asyncio.create_task(read_events(client, job["id"]))
    await streams_open(client, 2)
    gate.open.set()
    async with asyncio.timeout(HANG):
        assert kinds(await behind) == ["initial", *LIVE]
        # Nothing comes after its id; once the job has ended, its stream ends too, and
        # asking again is a 204.
        assert await ahead == []
        again = await client.get(f"/job/{job['id']}/stream", headers={"Last-Event-ID": FUTURE})
        assert again.status == 204


async def test_a_feed_watcher_from_a_later_id_hides_nothing_from_the_others(
    client: Client,
) -> None:
    ahead = asyncio.create_task(until(client, "/events", lambda events: False, FUTURE))
    await hub_reading(client.app[REDIS])
    async with opened(client, "/events") as response:
        job = await create_job(client)
        events: list[ServerEvent] = []
        async with asyncio.timeout(HANG):
            async for event in iter_events(response):
                events.append(event)
                if events[-1].json["type"] == "completed":
                    break
    assert kinds(events) == ["created", "started", *["progress"] * 5, "completed"]
    assert {event.json["jobId"] for event in events} == {job["id"]}
    assert not ahead.done()  # nothing is later than its id yet
    ahead.cancel()
    await asyncio.gather(ahead, return_exceptions=True)


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """The embedded Redis stopped (SIGSTOP) for the block: every command to it waits."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def all_let_go(client: Client, before: set[asyncio.Task[Any]], streams: int) -> None:
    """Until every task started since `before` has ended and `streams` streams are open."""
    try:
        async with asyncio.timeout(HANG):
            while left(before) or len(client.app[OPEN_STREAMS]) != streams:
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(
            f"still open: {len(client.app[OPEN_STREAMS])} streams, "
            f"tasks {[t.get_stack(limit=3) for t in left(before)]}"
        ) from None


def left(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks started since `before`, but this one (the test's)."""
    return {task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()}


async def test_a_watcher_that_leaves_before_the_headers_is_let_go(client: Client) -> None:
    job = await create_job(client)
    await run_to_end(client, job["id"])
    before = asyncio.all_tasks()
    with paused((await client.app[REDIS].info("server"))["process_id"]):
        # A finished job's stream is looked up in Redis before the response starts.
        leaving = asyncio.create_task(client.get(f"/job/{job['id']}/stream"))
        await asyncio.sleep(0.2)  # for the request to reach the handler, which waits on Redis
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        await all_let_go(client, before, 0)
    assert value(await scrape(client), "sse_connections") == 0


async def test_a_watcher_that_leaves_during_its_catch_up_is_let_go(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    async with opened(client, f"/job/{job['id']}/stream") as first:
        seen = aiter(iter_events(first))
        assert [(await anext(seen)).json["type"] for _ in range(3)] == ["initial", *LIVE[:2]]
        before = asyncio.all_tasks()
        with paused((await client.app[REDIS].info("server"))["process_id"]):
            # The reader is past the stream's start: a new watcher reads the gap (XRANGE).
            async with opened(client, f"/job/{job['id']}/stream") as second:
                assert (await anext(aiter(iter_events(second)))).json["type"] == "initial"
                await asyncio.sleep(0.2)
            await all_let_go(client, before, 1)
        gate.open.set()
        rest = await parse_stream(first)
    assert [event.json["type"] for event in rest] == LIVE[2:]
    assert value(await scrape(client), "sse_connections") == 0


@pytest.mark.parametrize("path", ["/job/{id}/stream", "/events"])
async def test_a_watcher_that_leaves_while_waiting_is_let_go(
    start_app: StartApp, path: str
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, stream_block_ms=100, sse_ping_seconds=0.1)
    job = await create_job(client)
    await gate.started.wait()
    before = asyncio.all_tasks()
    for _ in range(20):  # the idle check, the pings and the hub's reads come and go meanwhile
        async with opened(client, path.format(id=job["id"])):
            await hub_reading(client.app[REDIS])
    await all_let_go(client, before, 0)
    gate.open.set()
    assert kinds(await read_events(client, job["id"]))[-1] == "completed"


async def test_watchers_that_leave_while_their_relay_talks_to_redis_are_let_go(
    start_app: StartApp,
) -> None:
    client = await start_app(stream_block_ms=1)
    job = await create_job(client)
    full = await read_events(client, job["id"])
    # The job has ended, but its stream lacks its last event (as if a watcher came in
    # between): a quiet watcher asks Redis, every millisecond, whether the stream has gone.
    # A cancel that lands as such a call completes is lost in redis-py (asyncio.wait_for
    # on Python 3.11); it must be sent again, or the watcher's handler never ends.
    await client.app[REDIS].xdel(job_stream(job["id"]), str(full[-1].id))
    before = asyncio.all_tasks()
    path = f"/job/{job['id']}/stream"
    for _ in range(10):
        async with AsyncExitStack() as stack:
            for _ in range(20):
                response = await stack.enter_async_context(opened(client, path))
                await anext(aiter(iter_events(response)))
            await asyncio.sleep(0.1)
        await all_let_go(client, before, 0)
