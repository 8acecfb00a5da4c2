"""Redis outages: requests keep working, events wait in order, watchers resume exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobservice.http.keys import EVENTS, REDIS
from jobservice.stream.eventlog import job_stream

from .conftest import Client, StartApp, create_job
from .service import RedisProcess
from .sse import parse_stream, read_events
from .test_stream import Gate


@pytest.fixture
async def redis_process(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis")
    await server.start()
    yield server
    await server.stop(signal.SIGKILL)


async def test_a_redis_outage_mid_job_loses_and_repeats_nothing(
    start_app: StartApp, redis_process: RedisProcess
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, redis_url=redis_process.url)
    job = await create_job(client)
    watcher = asyncio.create_task(read_events(client, job["id"]))
    await gate.started.wait()
    await redis_process.stop()

    # Redis is down: the API still answers, and the job runs to its end.
    other = await create_job(client, "during the outage")
    assert (await client.get(f"/job/{other['id']}")).status == 200
    gate.open.set()
    while (await (await client.get(f"/job/{job['id']}")).json())["status"] != "succeeded":
        await asyncio.sleep(0.05)
    assert not watcher.done()

    await redis_process.start()
    events = await asyncio.wait_for(watcher, timeout=30)
    kinds = [event.json["type"] for event in events]
    assert kinds == ["initial", "started", "progress", "progress", "completed"]
    assert [event.json.get("data") for event in events[2:4]] == ["before the gate",
                                                                 "after the gate"]  # fmt: skip
    ids = [event.id for event in events[1:]]
    assert len(set(ids)) == len(ids)
    replay = await read_events(client, job["id"])
    assert [event.id for event in replay[1:]] == ids


async def test_intake_answers_while_redis_is_away_and_the_outbox_is_full(
    start_app: StartApp, redis_process: RedisProcess
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, redis_url=redis_process.url, outbox_limit=3)
    running = await create_job(client)
    await gate.started.wait()
    await redis_process.stop()
    async with asyncio.timeout(10):  # each answered: stored, announced when Redis is back
        jobs = [await create_job(client, number) for number in range(6)]
    listed = await (await client.get("/jobs")).json()
    assert {job["id"] for job in jobs} <= {job["id"] for job in listed["jobs"]}
    await redis_process.start()
    gate.open.set()
    for job in [running, *jobs]:
        assert [event.json["type"] for event in await read_events(client, job["id"])][-1] == (
            "completed"
        )


async def test_a_killed_embedded_redis_is_restarted(client: Client) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is set: this test is about the embedded Redis only")
    redis: Redis = client.app[REDIS]
    pid = (await redis.info("server"))["process_id"]
    os.kill(pid, signal.SIGKILL)
    job = await create_job(client)
    events = await asyncio.wait_for(read_events(client, job["id"]), timeout=30)
    assert events[-1].json["type"] == "completed"
    assert (await redis.info("server"))["process_id"] != pid


async def test_a_finished_jobs_stream_gets_a_time_to_live(start_app: StartApp) -> None:
    client = await start_app(stream_ttl_seconds=3600)
    job = await create_job(client)
    await read_events(client, job["id"])
    ttl = await client.app[REDIS].ttl(client.app[EVENTS].stream(job["id"]))
    assert 3500 < ttl <= 3600


async def test_an_expired_stream_is_rebuilt_from_the_stored_job(client: Client) -> None:
    job = await create_job(client)
    live = await read_events(client, job["id"])
    await client.app[REDIS].delete(client.app[EVENTS].stream(job["id"]))  # as its TTL would
    rebuilt = await read_events(client, job["id"])
    assert [e.json["type"] for e in rebuilt] == [e.json["type"] for e in live]
    for before, after in zip(live[2:], rebuilt[2:], strict=True):
        assert {k: v for k, v in after.json.items() if k != "timestamp"} == {
            k: v for k, v in before.json.items() if k != "timestamp"
        }
    resumed = await read_events(client, job["id"], last_event_id=rebuilt[3].id)
    assert [e.id for e in resumed] == [e.id for e in rebuilt[4:]]
    assert await read_events(client, job["id"], last_event_id=rebuilt[-1].id) == []


async def test_a_stream_deleted_while_watched_ends_with_the_jobs_end(
    start_app: StartApp,
) -> None:
    client = await start_app(stream_block_ms=100)
    job = await create_job(client)
    full = await read_events(client, job["id"])
    redis: Redis = client.app[REDIS]
    key = job_stream(job["id"])
    await redis.xdel(key, str(full[-1].id))  # as if the watcher came before the end
    async with client.get(f"/job/{job['id']}/stream") as response:
        async for line in response.content:  # the watcher is now waiting for more
            if str(full[-2].id).encode() in line:
                break
        await redis.delete(key)  # the stream expires while it waits
        rest = await parse_stream(response)
    assert [event.json["type"] for event in rest] == ["progress", "completed"]
    assert rest[-1].json == full[-1].json
