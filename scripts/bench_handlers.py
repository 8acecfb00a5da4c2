"""Job types for scripts/bench.py: `tick` reports progress at a steady rate.

JOB_HANDLERS=scripts.bench_handlers   (from the repo root)
"""

from __future__ import annotations

import asyncio
import time

from jobservice.core.handlers import JobContext
from jobservice.core.models import Job


async def tick(job: Job, ctx: JobContext) -> None:
    """data: {"steps": N, "interval_ms": M, "phase_ms": P}: N progress steps, M ms apart, on
    the wall clock's P ms past each multiple of M (until cancelled). Jobs given phases spread
    over M make a steady stream of events instead of a burst every M ms."""
    data = job.data if isinstance(job.data, dict) else {}
    interval = float(data.get("interval_ms", 1000)) / 1000
    phase = float(data.get("phase_ms", 0)) / 1000
    due = (time.time() - phase) // interval * interval + phase
    for step in range(int(data.get("steps", 10))):
        due += interval
        await asyncio.sleep(max(0.0, due - time.time()))
        await ctx.progress(step)


HANDLERS = {"tick": tick}
