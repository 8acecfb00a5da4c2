"""GET /metrics: Prometheus text whose values move as jobs are created, run and watched."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from jobservice.http.keys import OPEN_STREAMS
from jobservice.stream.redis_server import EmbeddedRedis

from .conftest import Client, StartApp, create_job, run_to_end
from .sse import read_events
from .test_stream import Gate

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"jobservice_{name}", frozenset(labels.items())), 0.0)


async def test_metrics_move_as_a_job_runs(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    before = await scrape(client)
    assert value(before, "jobs_created_total", type="demo") == 0
    assert value(before, "queue_depth") == value(before, "jobs_in_progress") == 0
    first, second = await create_job(client), await create_job(client)
    await gate.started.wait()
    watching = asyncio.create_task(read_events(client, first["id"]))
    while len(client.app[OPEN_STREAMS]) == 0:
        await asyncio.sleep(0.01)
    during = await scrape(client)
    assert value(during, "jobs_created_total", type="demo") == 2
    assert value(during, "jobs_in_progress") == 1
    assert value(during, "queue_depth") == 1
    assert value(during, "sse_connections") == 1
    assert value(during, "events_published_total", type="started") == 1
    # `created` goes to the feed only, and is counted like every other event.
    assert value(during, "events_published_total", type="created") == 2
    gate.open.set()
    await watching
    await run_to_end(client, second["id"])
    after = await scrape(client)
    done = {"type": "demo", "status": "succeeded"}
    assert value(after, "jobs_finished_total", **done) == 2
    assert value(after, "job_duration_seconds_count", **done) == 2
    assert value(after, "job_duration_seconds_sum", **done) > 0
    assert value(after, "events_published_total", type="progress") == 4
    assert value(after, "events_published_total", type="completed") == 2
    assert value(after, "jobs_in_progress") == value(after, "queue_depth") == 0
    assert value(after, "sse_connections") == 0
    # created and finished for each job: four durable saves at least (a job's move to
    # processing is journaled without waiting for the disk).
    assert value(after, "persist_seconds_count") >= 4
    assert value(after, "redis_errors_total", operation="xadd") == 0


async def test_failed_jobs_are_counted_by_status(start_app: StartApp) -> None:
    async def broken(job: object, ctx: object) -> None:
        raise RuntimeError("no")

    client = await start_app(handler=broken)
    job = await create_job(client)
    await run_to_end(client, job["id"])
    samples = await scrape(client)
    assert value(samples, "jobs_finished_total", type="demo", status="failed") == 1
    assert value(samples, "jobs_finished_total", type="demo", status="succeeded") == 0


async def test_redis_errors_are_counted(start_app: StartApp, own_redis: EmbeddedRedis) -> None:
    client = await start_app(redis_url=own_redis.url)
    await own_redis.stop()
    job = await create_job(client)
    for _ in range(500):
        samples = await scrape(client)
        if value(samples, "jobs_finished_total", type="demo", status="succeeded"):
            break
        await asyncio.sleep(0.01)
    # The outbox keeps the job's 7 events, and the feed's 8 (`created` too), in order,
    # retrying each failed batch write.
    assert value(samples, "redis_errors_total", operation="xadd") >= 1, job["id"]
    assert value(samples, "outbox_pending") == 7 + 8
    assert value(samples, "events_published_total", type="started") == 1


async def test_each_app_has_its_own_registry(start_app: StartApp, tmp_path: Path) -> None:
    # Each with its own data directory: one service at a time may use one.
    one, two = await start_app(), await start_app(data_dir=tmp_path / "two")
    await create_job(one)
    assert value(await scrape(one), "jobs_created_total", type="demo") == 1
    assert value(await scrape(two), "jobs_created_total", type="demo") == 0


async def test_failed_stream_hub_reads_are_counted(
    start_app: StartApp, own_redis: EmbeddedRedis
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, redis_url=own_redis.url)
    job = await create_job(client)
    watching = asyncio.create_task(read_events(client, job["id"]))
    await gate.started.wait()
    await own_redis.stop()  # the hub's blocked read fails, and its retries too
    async with asyncio.timeout(30):
        while not value(await scrape(client), "redis_errors_total", operation="xread"):
            await asyncio.sleep(0.1)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
