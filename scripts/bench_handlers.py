"""Job types for scripts/bench.py: `tick` reports progress at a steady rate.

JOB_HANDLERS=scripts.bench_handlers   (from the repo root)
"""

from __future__ import annotations

import asyncio

from jobservice.core.handlers import JobContext
from jobservice.core.models import Job


async def tick(job: Job, ctx: JobContext) -> None:
    """data: {"steps": N, "interval_ms": M}: N progress steps, M ms apart (until cancelled)."""
    data = job.data if isinstance(job.data, dict) else {}
    interval = float(data.get("interval_ms", 1000)) / 1000
    for step in range(int(data.get("steps", 10))):
        await asyncio.sleep(interval)
        await ctx.progress(step)


HANDLERS = {"tick": tick}
