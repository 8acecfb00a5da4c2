"""The worker: tasks on the service's loop take job ids from an asyncio.Queue and run them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .events import EventLog, event
from .handlers import Handler, JobContext
from .metrics import Metrics
from .models import EventType, Job, Status
from .store import JobStore, ordered_pending

logger = logging.getLogger(__name__)

# While the disk refuses writes, a worker retries saving a job's state this often (at most).
SAVE_RETRY_MAX_SECONDS = 5.0


class Worker:
    def __init__(
        self,
        store: JobStore,
        events: EventLog,
        handler: Handler,
        concurrency: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._store = store
        self._events = events
        self._handler = handler
        self._concurrency = max(1, concurrency)
        self._current: dict[asyncio.Task[None], str | None] = {}
        self._stopping = False
        self._metrics = metrics or Metrics()

    async def submit(self, data: Any) -> Job:
        """Store a new job durably, then queue it. Raises OSError if it could not be stored."""
        job = Job.new(data)
        await self._store.add(job)
        self._events.new_job(job.id)
        self._metrics.job_created(job)
        self.queue.put_nowait(job.id)
        return job

    @property
    def alive(self) -> bool:
        """Whether every worker task is running (false before start and after stop)."""
        return bool(self._current) and not any(task.done() for task in self._current)

    @property
    def running(self) -> int:
        """How many jobs are running now."""
        return sum(job_id is not None for job_id in self._current.values())

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
            restarted = event(EventType.RESTARTED, job.id, attempt=job.attempts,
                              message="Job restarted after an interrupted run")  # fmt: skip
            await self._events.publish(job.id, restarted)
            self.queue.put_nowait(job.id)
        again = {job.id for job in interrupted}
        for job in ordered_pending(self._store):
            if job.id not in again:
                self.queue.put_nowait(job.id)
        if self.queue.qsize():
            logger.info("queued %d unfinished jobs, %d of them interrupted",
                        self.queue.qsize(), len(again))  # fmt: skip

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
        job.started = job.updated
        await self._save(job)
        started = event(EventType.STARTED, job.id, message="Job processing started")
        await self._events.publish(job.id, started)
        try:
            await self._handler(job, JobContext(job, self._report))
        except Exception as exc:
            logger.exception("job %s failed", job.id)
            job.error = str(exc) or type(exc).__name__
            await self._finish(job, Status.FAILED, EventType.ERROR, job.error)
        else:
            await self._finish(job, Status.SUCCEEDED, EventType.COMPLETED,
                               "Job processing completed")  # fmt: skip

    async def _report(self, job: Job, step: dict[str, Any]) -> None:
        assert job.output is not None
        job.output.append(step)
        job.updated = step["timestamp"]
        await self._events.publish(job.id, event(EventType.PROGRESS, job.id, **step))

    async def _finish(self, job: Job, status: Status, kind: EventType, message: str) -> None:
        job.move_to(status)
        await self._save(job)
        elapsed = job.updated - (job.started or job.created)
        self._metrics.job_finished(job, elapsed)
        ended = event(kind, job.id, timestamp=job.updated, processingTime=elapsed, message=message)
        await self._events.publish(job.id, ended)
        logger.info("job %s %s in %d ms", job.id, status, elapsed)

    async def _save(self, job: Job) -> None:
        """Save the job's state, retrying while the disk refuses (full, read-only)."""
        delay = 0.1
        while True:
            try:
                await self._store.save(job)
                return
            except OSError as exc:
                logger.error("job %s: cannot save its state (%s); retrying in %.1f s",
                             job.id, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, SAVE_RETRY_MAX_SECONDS)
