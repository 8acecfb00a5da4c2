"""The peers, measured the way issue 13 measures them: arq and SAQ running no-op jobs.

    python scripts/bench_peers.py --lib arq --jobs 5000 --redis redis://127.0.0.1:6400/0

Enqueue `--jobs` no-op jobs (64 in flight, as our load client POSTs), then run one worker at
concurrency 100 with no poll delay in burst mode until the queue is empty. Prints one JSON
line: the enqueue and run times and jobs/s over both. Runs in its own virtualenv (arq pins
redis<6, jobservice needs redis 8): scripts/bench.py makes .venv-peers and calls this there.
It imports nothing from jobservice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

IN_FLIGHT = 64
CONCURRENCY = 100
# SAQ's burst mode ends after a dequeue waits this long: the time is counted against it.
BURST_IDLE_SECONDS = 0.05


async def noop(ctx: Any) -> None:
    return None


async def bounded(count: int, make: Any) -> None:
    """Run `make()` `count` times with at most IN_FLIGHT at once."""
    left = iter(range(count))

    async def lane() -> None:
        for _ in left:
            await make()

    await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))


async def run_arq(url: str, jobs: int) -> tuple[float, float]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings)
    started = time.perf_counter()
    await bounded(jobs, lambda: pool.enqueue_job("noop"))
    enqueued = time.perf_counter()
    worker = Worker(
        functions=[noop], redis_settings=settings, max_jobs=CONCURRENCY, poll_delay=0,
        burst=True, handle_signals=False,
    )  # fmt: skip
    await worker.main()
    done = time.perf_counter()
    assert worker.jobs_complete == jobs, (worker.jobs_complete, jobs)
    await worker.close()
    await pool.aclose()
    return enqueued - started, done - enqueued


async def run_saq(url: str, jobs: int) -> tuple[float, float]:
    from saq import Queue, Worker

    queue = Queue.from_url(url)
    await queue.connect()
    started = time.perf_counter()
    await bounded(jobs, lambda: queue.enqueue("noop"))
    enqueued = time.perf_counter()
    worker = Worker(
        queue, functions=[("noop", noop)], concurrency=CONCURRENCY, burst=True,
        dequeue_timeout=BURST_IDLE_SECONDS,
    )  # fmt: skip
    await worker.start()
    done = time.perf_counter()
    assert await queue.count("queued") == 0
    await queue.disconnect()
    return enqueued - started, done - enqueued


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["arq", "saq"], required=True)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--redis", required=True, help="redis://host:port/db")
    args = parser.parse_args()
    run = run_arq if args.lib == "arq" else run_saq
    enqueue_s, run_s = await run(args.redis, args.jobs)
    print(json.dumps({
        "lib": args.lib, "jobs": args.jobs, "enqueue_s": round(enqueue_s, 3),
        "run_s": round(run_s, 3), "jobs_per_s": round(args.jobs / (enqueue_s + run_s), 1),
    }))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
