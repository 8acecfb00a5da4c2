"""Example job types for jobservice. Run: JOB_HANDLERS=examples.handlers ./scripts/serve

A module named by JOB_HANDLERS defines HANDLERS, a dict from type names to async handlers.
Each handler gets the job and a context; `await ctx.progress(value)` appends an output step
and sends a `progress` event. Returning succeeds the job; raising fails this attempt (it is
retried if the job allows more attempts).
"""

from __future__ import annotations

import asyncio
import hashlib

from jobservice.core.handlers import JobContext
from jobservice.core.models import Job

# Stands in for real work between two steps.
STEP_SECONDS = 0.05


async def shout(job: Job, ctx: JobContext) -> None:
    """Upper-case each word of data["text"], one step per word."""
    if not isinstance(job.data, dict) or not isinstance(job.data.get("text"), str):
        raise ValueError('data needs a "text" string')
    for word in job.data["text"].split():
        await asyncio.sleep(STEP_SECONDS)
        await ctx.progress(word.upper())


async def checksum(job: Job, ctx: JobContext) -> None:
    """SHA-256 of data["text"], computed in a thread so the event loop stays free."""
    text = str(job.data.get("text", "")) if isinstance(job.data, dict) else str(job.data)
    digest = await asyncio.to_thread(lambda: hashlib.sha256(text.encode()).hexdigest())
    await ctx.progress({"sha256": digest})


HANDLERS = {"shout": shout, "checksum": checksum}
