"""The embedded Redis paused (SIGSTOP) or killed (SIGKILL) under running jobs and watchers:
every event is written once, in order, and watchers see each once, nothing after the end."""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import suppress
from typing import Any

import pytest
from redis.asyncio import Redis

from jobservice.http.keys import REDIS
from jobservice.stream.eventlog import FEED_STREAM, job_stream

from .conftest import Client, StartApp, create_job
from .service import HANG
from .sse import ServerEvent, iter_events, read_events
from .test_faults_stream import kinds, streams_open
from .test_metrics import scrape, value

pytestmark = pytest.mark.slow

JOBS = 16
LIFE = ["started", *["progress"] * 5, "completed"]
# Longer than redis-py's 5 s socket timeout, so a batch of writes times out in flight.
PAUSE_SECONDS = 6.5


async def collect(client: Client, events: list[ServerEvent]) -> None:
    """The feed's events, until cancelled."""
    async with client.get("/events") as response:
        async for event in iter_events(response):
            events.append(event)


async def settled(client: Client, feed: list[ServerEvent]) -> None:
    """Until the outbox has written everything and the feed watcher has had all of it (a
    wrong retry would be writing events again after the jobs' ends). If that takes too long,
    the checks that follow say what is wrong."""
    redis: Redis = client.app[REDIS]
    with suppress(TimeoutError):
        async with asyncio.timeout(HANG):
            while value(await scrape(client), "outbox_pending") > 0:
                await asyncio.sleep(0.1)
            top = (await redis.xrevrange(FEED_STREAM, count=1))[0][0]
            while not feed or feed[-1].id != top:
                await asyncio.sleep(0.05)


async def through_a_fault(client: Client, fault: Any) -> None:
    """Run jobs with a watcher each and one on the feed, do `fault` while their events are
    being written, then check every stream, the feed and what each watcher saw."""
    redis: Redis = client.app[REDIS]
    feed: list[ServerEvent] = []
    feeding = asyncio.create_task(collect(client, feed))
    await streams_open(client, 1)
    job_ids = [(await create_job(client, number))["id"] for number in range(JOBS)]
    watchers = [asyncio.create_task(read_events(client, job_id)) for job_id in job_ids]
    await streams_open(client, 1 + JOBS)
    await fault((await redis.info("server"))["process_id"])
    async with asyncio.timeout(4 * HANG):
        seen = await asyncio.gather(*watchers)
    await settled(client, feed)
    feeding.cancel()
    for job_id, events in zip(job_ids, seen, strict=True):
        stored = await redis.xrange(job_stream(job_id))
        assert [fields["type"] for _, fields in stored] == LIFE, job_id
        assert [fields.get("step") for _, fields in stored[1:-1]] == ["1", "2", "3", "4", "5"]
        assert [event.id for event in events[1:]] == [entry_id for entry_id, _ in stored]
        assert kinds(events) == ["initial", *LIFE]
    stored_feed = await redis.xrange(FEED_STREAM)
    assert [event.id for event in feed] == [entry_id for entry_id, _ in stored_feed]
    for job_id in job_ids:
        assert [e.json["type"] for e in feed if e.json["jobId"] == job_id] == [
            "created",
            *LIFE,
        ], job_id


async def test_a_paused_redis_repeats_and_reorders_nothing(start_app: StartApp) -> None:
    client = await start_app(job_step_ms=150)

    async def pause(pid: int) -> None:
        await asyncio.sleep(0.3)  # events are being written
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)

    await through_a_fault(client, pause)


async def test_a_killed_redis_repeats_and_reorders_nothing(start_app: StartApp) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is set: this test is about the embedded Redis only")
    client = await start_app(job_step_ms=150)

    async def kill(pid: int) -> None:
        await asyncio.sleep(0.3)
        os.kill(pid, signal.SIGKILL)

    await through_a_fault(client, kill)


async def test_the_embedded_redis_keeps_an_append_only_file(client: Client) -> None:
    """What the kill test relies on: Redis appends each write to its file before it
    answers, so killing the process (not the machine) loses no acknowledged event."""
    config = await client.app[REDIS].config_get("append*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
