"""One attempt at a job: its handler in a task of its own, watched for a timeout, a stall, or
a cancel request, and the backoff before the next attempt."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum

from .handlers import Handler, JobContext
from .models import Job
from .tasks import RECANCEL_SECONDS, let_go

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    STALLED = "stalled"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    error: str = ""


class Attempt:
    """A running job. `cancel()` may come from a request at any moment, even before the
    handler's task exists; the attempt then ends as cancelled.

    A cancel can get lost in the handler's task: Python 3.11's asyncio.wait_for, which
    redis-py uses for its reads, returns the result instead when a cancel races with the
    reply (a progress save in Redis, say). So a cancel is sent again until the task ends."""

    def __init__(self) -> None:
        self.cancel_requested = False
        self.finished = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cancelling = False

    def cancel(self) -> None:
        self.cancel_requested = True
        if not self._cancelling:
            self._cancel_until_done()

    def _cancel_until_done(self) -> None:
        task = self._task
        self._cancelling = task is not None and not task.done()
        if task is not None and not task.done():
            task.cancel()
            asyncio.get_running_loop().call_later(RECANCEL_SECONDS, self._cancel_until_done)

    async def run(self, handler: Handler, job: Job, ctx: JobContext, stall: float | None) -> Result:
        if self.cancel_requested:
            return Result(Outcome.CANCELLED)
        task = self._task = asyncio.create_task(_call(handler, job, ctx), name=f"job {job.id}")
        try:
            limit = await _watch(task, ctx, job.timeout, stall)
        finally:
            # Also on the worker's own cancellation (a stop): the handler never outlives it.
            with suppress(Exception):  # how the handler ended is read below
                await let_go(task)
        if limit is not None:
            return limit
        return self._result(job, task)

    def _result(self, job: Job, task: asyncio.Task[None]) -> Result:
        if self.cancel_requested:
            return Result(Outcome.CANCELLED)
        if task.cancelled():
            return Result(Outcome.FAILED, "the handler was cancelled")
        exc = task.exception()
        if exc is not None:
            logger.error("job %s failed", job.id, exc_info=exc)
            return Result(Outcome.FAILED, str(exc) or type(exc).__name__)
        return Result(Outcome.SUCCEEDED)


async def _call(handler: Handler, job: Job, ctx: JobContext) -> None:
    await handler(job, ctx)


async def _watch(
    task: asyncio.Task[None], ctx: JobContext, limit: float | None, stall: float | None
) -> Result | None:
    """Wait for the task; a Result if it ran past `limit` seconds or stalled first, else None."""
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        checks = [] if deadline is None else [deadline]
        if stall:
            checks.append(ctx.last_seen + stall)
        wait = max(0.0, min(checks) - time.monotonic()) if checks else None
        done, _ = await asyncio.wait({task}, timeout=wait)
        if done:
            return None
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return Result(Outcome.TIMED_OUT, f"timed out after {limit:g}s")
        if stall and now >= ctx.last_seen + stall:
            return Result(Outcome.STALLED, f"stalled: no progress for {stall:g}s")


def retry_delay_ms(attempt: int, base_ms: int, max_ms: int) -> int:
    """Exponential backoff after `attempt` failed, with jitter: half fixed, half random."""
    ceiling = min(max_ms, base_ms << min(attempt - 1, 32))
    return ceiling // 2 + random.randint(0, ceiling - ceiling // 2)
