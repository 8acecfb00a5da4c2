"""What a job does: a handler is an async function given the job and a context to report to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from . import codec
from .models import Job, now_ms

DEMO_STEPS = 5
# As much of the data as the original service shows in its example: {"your":"job data",...
PREVIEW_CHARS = 19


class Reporter(Protocol):
    async def __call__(self, job: Job, step: dict[str, Any]) -> None: ...


class JobContext:
    """Given to a handler: each `progress()` becomes an output step and a `progress` event."""

    def __init__(self, job: Job, report: Reporter) -> None:
        self.job = job
        self.started = job.started if job.started is not None else now_ms()
        # time.monotonic() of the last sign of life, for stall detection.
        self.last_seen = time.monotonic()
        self._report = report

    async def progress(self, data: Any, total: int | None = None) -> None:
        """One step done; `total`, if the handler knows it, is how many steps there are in
        all (clients then show a bar with a percentage)."""
        self.last_seen = time.monotonic()
        now = now_ms()
        output = self.job.output if self.job.output is not None else []
        step: dict[str, Any] = {"step": len(output) + 1}
        if total is not None:
            step["total"] = total
        step.update(timestamp=now, processingTime=now - self.started, data=data)
        await self._report(self.job, step)


Handler = Callable[[Job, JobContext], Awaitable[None]]


def demo_handler(step_ms: int) -> Handler:
    """The original service's demo job: a few timed steps, each reporting a chunk of its data."""

    async def process(job: Job, ctx: JobContext) -> None:
        preview = codec.dumps_str(job.data)
        if len(preview) > PREVIEW_CHARS:
            preview = preview[:PREVIEW_CHARS] + "..."
        for number in range(1, DEMO_STEPS + 1):
            await asyncio.sleep(step_ms / 1000)
            await ctx.progress(f"Processed chunk {number} of data: {preview}", DEMO_STEPS)

    return process
