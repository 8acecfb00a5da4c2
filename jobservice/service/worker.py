"""The worker: tasks on the service's loop take due jobs from the run queue and run them,
retrying failed attempts with backoff; a request can cancel a job pending or running."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from ..core import events
from ..core.attempt import Attempt, Outcome, Result, retry_delay_ms
from ..core.events import Event
from ..core.handlers import JobContext
from ..core.jobqueue import JobQueue
from ..core.models import TERMINAL_STATUSES, Job, JobIds, Status, now_ms
from ..core.observer import Observer, Unobserved
from ..core.registry import Registry
from ..core.request import MAX_PRIORITY, JobRequest
from ..core.settings import Settings
from ..store.jobstore import JobStore, ordered_pending
from ..stream.eventlog import EventLog

logger = logging.getLogger(__name__)

# While the disk refuses writes, a worker retries saving a job's state this often (at most).
SAVE_RETRY_MAX_SECONDS = 5.0


class JobFinishedError(Exception):
    """The job has already ended; it cannot be cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"Job is already {job.status}")
        self.job = job


class QueueFullError(Exception):
    """As many jobs wait as the queue may hold; the client should come back later."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The queue is full ({limit} jobs waiting); retry later")


class Worker:
    def __init__(
        self, store: JobStore, events: EventLog, registry: Registry, settings: Settings,
        observer: Observer | None = None,
    ) -> None:  # fmt: skip
        self.queue = JobQueue()
        self._ids = JobIds()
        self._store = store
        self._events = events
        self._registry = registry
        self._settings = settings
        self._concurrency = max(1, settings.worker_concurrency)
        self._current: dict[asyncio.Task[None], str | None] = {}
        self._attempts: dict[str, Attempt] = {}
        # Jobs whose new status is being stored and published (_end): set when it is out.
        self._settling: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._observer = observer or Unobserved()

    @property
    def alive(self) -> bool:
        """Every worker task is still running (for readiness checks)."""
        return bool(self._current) and not any(task.done() for task in self._current)

    @property
    def running(self) -> int:
        return sum(job_id is not None for job_id in self._current.values())

    async def submit(self, request: JobRequest) -> tuple[Job, bool]:
        """Store a new job durably, then queue it: (job, True). Raises OSError if it could not
        be stored, QueueFullError if the queue is full. A known idempotency key gets its job
        back instead: (job, False)."""
        if request.idempotency_key is not None:
            existing = self._store.by_idempotency_key(request.idempotency_key)
            if existing is not None:
                return existing, False
        if len(self.queue) >= self._settings.queue_limit:
            raise QueueFullError(self._settings.queue_limit)
        job = Job.new(
            request.data,
            self._ids,
            type=request.type,
            priority=request.priority,
            max_attempts=request.max_attempts,
            timeout=request.timeout,
            idempotency_key=request.idempotency_key,
        )
        if request.delay_ms:
            job.run_at = job.created + request.delay_ms
        await self._store.add(job)
        self._events.new_job(job.id)
        self._observer.job_created(job)
        # Announced before it is queued, so the feed shows `created` before `started`.
        await self._events.announce(events.created(job))
        self.queue.put(job.id, job.priority, job.run_at)
        return job, True

    async def cancel(self, job: Job) -> Job:
        """Take a pending job out of the queue, or stop a running one; JobFinishedError if
        it has ended already."""
        attempt = self._attempts.get(job.id)
        if attempt is not None:
            attempt.cancel()
            await attempt.finished.wait()
        if job.status is Status.CANCELLED and attempt is not None:
            return job
        if job.status in TERMINAL_STATUSES:
            raise JobFinishedError(job)
        # Pending: queued, or waiting for a retry that the attempt above had just set up.
        self.queue.remove(job.id)
        await self._end(job, Status.CANCELLED, wait_for_disk=False)
        return job

    async def delete(self, job: Job) -> bool:
        """Cancel the job if it is pending or running, then remove it and its stream and
        announce that on the feed. False if it was gone already (deleted meanwhile)."""
        if job.status not in TERMINAL_STATUSES:
            with suppress(JobFinishedError):  # it ended meanwhile: delete it as it is
                await self.cancel(job)
        # Let a final event being stored and published go out first, so that it cannot
        # bring the job's stream back after the deletion.
        while (settling := self._settling.get(job.id)) is not None:
            await settling.wait()
        if self._store.get(job.id) is None:
            return False
        await self._store.delete([job])  # checked above without an await in between
        await self._events.forget(job.id, events.deleted(job))
        logger.info("job %s deleted", job.id)
        return True

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
            await self._events.publish(job.id, events.restarted(job))
            # They were picked to run before the stop: they go first, whatever their priority.
            self.queue.put(job.id, RERUN_PRIORITY)
        again = {job.id for job in interrupted}
        for job in ordered_pending(self._store):
            if job.id not in again:
                self.queue.put(job.id, job.priority, job.run_at)
        if len(self.queue):
            logger.info("queued %d unfinished jobs (%d interrupted)", len(self.queue), len(again))

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            job_id = await self.queue.get()
            job = self._store.get(job_id)
            if job is None or job.status is not Status.PENDING:
                continue
            self._current[task] = job_id
            attempt = self._attempts[job_id] = Attempt()
            try:
                await self._run(job, attempt)
            except Exception:
                logger.exception("job %s: the worker could not record its outcome", job_id)
            finally:
                self._current[task] = None
                del self._attempts[job_id]
                attempt.finished.set()

    async def _run(self, job: Job, attempt: Attempt) -> None:
        job.attempts += 1
        job.output = []
        job.error = None
        job.run_at = 0
        job.move_to(Status.PROCESSING)
        job.started = job.updated
        await self._save(job)
        ctx = JobContext(job, self._report)
        await self._events.publish(job.id, events.started(job))
        handler = self._registry.get(job.type)
        if handler is None:
            result = Result(Outcome.FAILED, f"Unknown job type {job.type!r}: no handler for it")
        else:
            result = await attempt.run(handler, job, ctx, self._settings.stall_seconds)
        await self._settle(job, result)

    async def _settle(self, job: Job, result: Result) -> None:
        if result.outcome is Outcome.SUCCEEDED:
            await self._end(job, Status.SUCCEEDED)
        elif result.outcome is Outcome.CANCELLED:
            await self._end(job, Status.CANCELLED)
        else:
            await self._fail_attempt(job, result)

    async def _fail_attempt(self, job: Job, result: Result) -> None:
        job.error = result.error
        if result.outcome is Outcome.STALLED:
            await self._events.publish(job.id, events.stalled(job, result.error))
        if job.attempts >= job.max_attempts:
            await self._end(job, Status.FAILED)
            return
        settings = self._settings
        delay = retry_delay_ms(job.attempts, settings.retry_base_ms, settings.retry_max_ms)
        job.run_at = now_ms() + delay
        await self._end(job, Status.PENDING, events.retry(job, delay))
        self.queue.put(job.id, job.priority, job.run_at)
        logger.info("job %s: attempt %d failed, retrying in %d ms", job.id, job.attempts, delay)

    async def _report(self, job: Job, step: dict[str, Any]) -> None:
        assert job.output is not None
        job.output.append(step)
        job.updated = step["timestamp"]
        await self._events.publish(job.id, events.progress(job.id, step))

    async def _end(
        self, job: Job, status: Status, payload: Event | None = None, *, wait_for_disk: bool = True
    ) -> None:
        """Move the job to `status`, store it, then tell its watchers with `payload` (by
        default the job's last event). The worker waits for a full disk; a request
        (`wait_for_disk=False`) gets the OSError."""
        job.move_to(status, at=None if payload is None else int(payload["timestamp"]))
        settling = self._settling[job.id] = asyncio.Event()
        try:
            await (self._save(job) if wait_for_disk else self._store.save(job))
            if status in TERMINAL_STATUSES:
                run_ms = job.updated - (job.started or job.created)
                self._observer.job_finished(job, run_ms)
                logger.info("job %s %s in %d ms", job.id, status, run_ms)
            await self._events.publish(job.id, payload or events.ended(job))
        finally:
            if self._settling.get(job.id) is settling:
                del self._settling[job.id]
            settling.set()

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


RERUN_PRIORITY = MAX_PRIORITY + 1
