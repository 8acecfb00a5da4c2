"""What one job costs the Redis job store, measured here: Redis calls and server time per job,
redis-benchmark figures for the per-call overhead, and from both, jobs/s one shard carries.

    .venv/bin/python scripts/bench_redis_store.py            # 2,000 jobs (under a minute)
    .venv/bin/python scripts/bench_redis_store.py --jobs 200 # a smoke run

Every figure is measured in this run, on this machine, against a redis-server of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobservice.core.models import Job, JobIds, Status  # noqa: E402
from jobservice.store.redis_backend import RedisBackend  # noqa: E402
from jobservice.stream.redis_server import EmbeddedRedis, find_redis_server  # noqa: E402

WORKERS = 16
LEASE_MS = 30_000
DATA = {"your": "job data", "goes": "here"}
# (appendfsync, progress saves per job, shards)
RUNS = (("everysec", 0, 1), ("everysec", 5, 1), ("always", 5, 1), ("everysec", 0, 4))
# Commands Redis counts that are not the store's work: connection setup, stats, loading.
NOT_THE_STORES = {"evalsha", "config", "info", "subscribe", "client", "hello", "script"}


async def create_jobs(store: RedisBackend, count: int) -> None:
    ids = JobIds()
    for start in range(0, count, 100):
        batch = [Job.new(DATA, ids) for _ in range(min(100, count - start))]
        await asyncio.gather(*(store.create(job, count) for job in batch))


async def run_jobs(store: RedisBackend, steps: int) -> None:
    """Run every queued job: claim, `steps` progress saves, finish."""

    async def work() -> None:
        while (claimed := await store.claim(LEASE_MS)) is not None:
            job, lease = claimed
            assert job.output is not None
            for step in range(1, steps + 1):
                job.output.append({"step": step, "data": f"Processed chunk {step}"})
                await store.save(job, lease)
            job.move_to(Status.SUCCEEDED)
            await store.save(job, lease)

    await asyncio.gather(*(work() for _ in range(WORKERS)))


async def commandstats(redis: Redis) -> dict[str, tuple[int, float]]:
    """{command: (calls, total µs)} since the last CONFIG RESETSTAT."""
    info: dict[str, Any] = await redis.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(value["calls"]), float(value["usec"]))
        for name, value in info.items()
    }


async def wake_latency(redis_url: str, samples: int) -> float:
    """Median ms from a create in one process to an idle worker of another waking."""
    clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(2)]
    idle, busy = (RedisBackend(client, prefix="wake") for client in clients)
    await idle.open()
    await asyncio.wait_for(idle.listening.wait(), 10)
    ids, delays = JobIds(), []
    for _ in range(samples):
        since = idle.work_seq
        waiter = asyncio.create_task(idle.wait_for_work(since))
        begun = time.perf_counter()
        await busy.create(Job.new(DATA, ids), 1_000_000)
        await asyncio.wait_for(waiter, 10)
        delays.append((time.perf_counter() - begun) * 1000)
    await idle.close()
    for client in clients:
        await client.aclose()
    return statistics.median(delays)


def redis_benchmark(socket: Path, requests: int) -> dict[str, float]:
    """requests/s of PING, SET and a one-HSET script (50 clients, no pipelining), and of
    XADD as the event outbox sends it (pipelined)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {}
    script = "return redis.call('HSET', KEYS[1], 'f', ARGV[1])"
    runs = {
        "PING": ["-t", "ping_mbulk"],
        "SET": ["-t", "set"],
        "EVAL (1 HSET)": ["eval", script, "1", "bench:key:__rand_int__", "v"],
        "XADD, 16 per pipeline": [
            "-P", "16", "xadd", "bench:stream:__rand_int__", "MAXLEN", "~", "10000", "*",
            "type", "progress", "step", "1", "data", "Processed chunk 1 of data",
        ],
    }  # fmt: skip
    found = {}
    for name, command in runs.items():
        rates = []
        for _run in range(3):  # the best of three: the machine is shared
            out = subprocess.run(
                [binary, "-s", str(socket), "-n", str(requests), "-c", "50", "-r", "1000",
                 "--csv", *command],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            rates.append(float([row for row in csv.reader(out.splitlines()) if row][-1][1]))
        found[name] = max(rates)
    return found


async def measure(jobs: int, directory: Path) -> None:
    server = EmbeddedRedis(directory, find_redis_server(None))
    await server.start()
    redis = Redis.from_url(server.url, decode_responses=True, max_connections=200)
    try:
        for fsync, steps, shards in RUNS:
            await redis.config_set("appendfsync", fsync)
            store = RedisBackend(redis, prefix=f"bench-{fsync}-{steps}-{shards}", shards=shards)
            await store.open()
            print(f"appendfsync {fsync}, {shards} shard(s), {jobs} jobs, {steps} progress saves:")
            phases = (("create", create_jobs(store, jobs)), ("run", run_jobs(store, steps)))
            for phase, step in phases:
                await redis.config_resetstat()
                begun = time.perf_counter()
                await step
                seconds = time.perf_counter() - begun
                report(phase, jobs, seconds, await commandstats(redis))
            await store.close()
        print(f"wake-up latency (pub/sub), median: {await wake_latency(server.url, 100):.2f} ms")
        for name, rate in redis_benchmark(server.socket, 100_000).items():
            print(f"redis-benchmark {name}: {rate:,.0f} requests/s")
    finally:
        await redis.aclose()
        await server.stop()


def report(phase: str, jobs: int, seconds: float, stats: dict[str, tuple[int, float]]) -> None:
    """Every call the store sends is a script (EVALSHA); Redis counts the commands a script
    runs as calls of their own, and a script's time includes theirs."""
    calls, usec = stats.get("evalsha", (0, 0.0))
    inner = {name: count for name, (count, _usec) in stats.items()
             if name not in NOT_THE_STORES}  # fmt: skip
    print(f"  {phase}: {jobs / seconds:,.0f} jobs/s from one Python process")
    print(f"    round trips (scripts) per job: {calls / jobs:.2f}, Redis time per job: "
          f"{usec / jobs:.1f} µs ({usec / max(calls, 1):.1f} µs per script)")  # fmt: skip
    print(
        f"    commands run by the scripts per job: {sum(inner.values()) / jobs:.1f} ("
        + ", ".join(f"{name} {count / jobs:.2f}" for name, count in sorted(inner.items()))
        + ")"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-redis-store-") as directory:
        (Path(directory) / "redis").mkdir()
        asyncio.run(measure(args.jobs, Path(directory) / "redis"))


if __name__ == "__main__":
    main()
