"""The worker: tasks on the service's loop take job ids from an asyncio.Queue and run them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import RedisError

from .events import Event, EventLog, event
from .handlers import JobContext
from .models import EventType, Job, Status
from .registry import Registry
from .store import JobStore, ordered_pending
from .validation import JobRequest

logger = logging.getLogger(__name__)


class Worker:
    def __init__(
        self, store: JobStore, events: EventLog, registry: Registry, concurrency: int
    ) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._store = store
        self._events = events
        self._registry = registry
        self._concurrency = max(1, concurrency)
        self._current: dict[asyncio.Task[None], str | None] = {}
        self._stopping = False

    async def submit(self, request: JobRequest) -> Job:
        """Store a new job durably, then queue it. Raises OSError if it could not be stored."""
        job = Job.new(request.data, type=request.type)
        await self._store.add(job)
        self.queue.put_nowait(job.id)
        return job

    async def start(self) -> None:
        await self._requeue_unfinished()
        for number in range(self._concurrency):
            task = asyncio.create_task(self._work(), name=f"worker-{number}")
            self._current[task] = None

    async def stop(self, grace: float) -> None:
        """Let running jobs finish for up to `grace` seconds, then cancel them. Idempotent."""
        self._stopping = True
        for task, job_id in self._current.items():
            if job_id is None:
                task.cancel()
        if self._current:
            await asyncio.wait(self._current, timeout=grace)
        for task in self._current:
            task.cancel()
        await asyncio.gather(*self._current, return_exceptions=True)
        self._current.clear()

    async def _requeue_unfinished(self) -> None:
        """Jobs cut off by a crash run again first, then pending jobs in queue order."""
        interrupted = list(self._store.with_status(Status.PROCESSING))
        for job in interrupted:
            job.move_to(Status.PENDING)
            await self._store.save(job)
            restarted = event(
                EventType.RESTARTED,
                job.id,
                attempt=job.attempts,
                message="Job restarted after an interrupted run",
            )
            await self._publish(job.id, restarted)
            self.queue.put_nowait(job.id)
        again = {job.id for job in interrupted}
        for job in ordered_pending(self._store):
            if job.id not in again:
                self.queue.put_nowait(job.id)
        if self.queue.qsize():
            logger.info(
                "queued %d unfinished jobs (%d interrupted)", self.queue.qsize(), len(again)
            )

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            job_id = await self.queue.get()
            job = self._store.get(job_id)
            if job is None or job.status is not Status.PENDING:
                continue
            self._current[task] = job_id
            try:
                await self._run(job)
            except Exception:
                logger.exception("job %s: the worker could not record its outcome", job_id)
            finally:
                self._current[task] = None

    async def _run(self, job: Job) -> None:
        job.attempts += 1
        job.output = []
        job.error = None
        job.move_to(Status.PROCESSING)
        await self._store.save(job)
        ctx = JobContext(job, self._report)
        await self._publish(
            job.id, event(EventType.STARTED, job.id, message="Job processing started")
        )
        handler = self._registry.get(job.type)
        try:
            if handler is None:
                raise LookupError(f"Unknown job type {job.type!r}: no handler is registered")
            await handler(job, ctx)
        except Exception as exc:
            logger.exception("job %s failed", job.id)
            job.error = str(exc) or type(exc).__name__
            await self._finish(job, ctx, Status.FAILED, EventType.ERROR, job.error)
        else:
            await self._finish(
                job, ctx, Status.SUCCEEDED, EventType.COMPLETED, "Job processing completed"
            )

    async def _report(self, job: Job, step: dict[str, Any]) -> None:
        assert job.output is not None
        job.output.append(step)
        job.updated = step["timestamp"]
        await self._publish(job.id, event(EventType.PROGRESS, job.id, **step))

    async def _finish(
        self, job: Job, ctx: JobContext, status: Status, kind: EventType, message: str
    ) -> None:
        job.move_to(status)
        await self._store.save(job)
        ended = event(
            EventType(kind),
            job.id,
            timestamp=job.updated,
            processingTime=job.updated - ctx.started,
            message=message,
        )
        await self._publish(job.id, ended)
        logger.info("job %s %s in %d ms", job.id, status, job.updated - ctx.started)

    async def _publish(self, job_id: str, payload: Event) -> None:
        try:
            await self._events.publish(job_id, payload)
        except RedisError as exc:
            logger.error("job %s: could not publish %s event: %s", job_id, payload["type"], exc)
