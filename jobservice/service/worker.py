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


class Storing:
    """A new job with an idempotency key, on its way to disk: its duplicates await the outcome."""

    def __init__(self) -> None:
        self._settled = asyncio.Event()
        self._job: Job | None = None
        self._error: BaseException | None = None

    def settle(self, job: Job | None, error: BaseException | None) -> None:
        self._job, self._error = job, error
        self._settled.set()

    async def outcome(self) -> Job | None:
        """The stored job, or the error that refused it (raised here too); None if the first
        request was cancelled before it got either: the caller then goes ahead by itself."""
        await self._settled.wait()
        if isinstance(self._error, Exception):
            raise self._error.with_traceback(None)
        return self._job


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
        # Ended jobs whose record is being made durable before their last event goes out.
        self._ending: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._observer = observer or Unobserved()
        # Places in the queue held by new jobs being stored (counted against QUEUE_LIMIT).
        self._reserved = 0
        # Idempotency keys of new jobs being stored, each with the outcome its duplicates await.
        self._storing: dict[str, Storing] = {}

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
        back instead: (job, False); while the first request with that key is still being
        stored, a duplicate waits for it and shares its outcome (its job, or its error)."""
        key = request.idempotency_key
        if key is None:
            return await self._create(request), True
        while (first := self._storing.get(key)) is not None:
            job = await first.outcome()
            if job is not None:
                return job, False
        existing = self._store.by_idempotency_key(key)
        if existing is not None:
            return existing, False
        # Claimed before the first await: from here on, requests with this key wait for this one.
        self._storing[key] = storing = Storing()
        try:
            job = await self._create(request)
        except BaseException as exc:
            storing.settle(None, exc)
            raise
        else:
            storing.settle(job, None)
        finally:
            del self._storing[key]
        return job, True

    async def _create(self, request: JobRequest) -> Job:
        """Make the job, store it, announce it and queue it. Its place in the queue is held
        from the check on, across the awaits: concurrent requests cannot overfill the queue."""
        limit = self._settings.queue_limit
        if len(self.queue) + self._reserved >= limit:
            raise QueueFullError(limit)
        self._reserved += 1
        try:
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
        finally:
            self._reserved -= 1
        return job

    async def cancel(self, job: Job) -> Job:
        """Take a pending job out of the queue, or stop a running one; JobFinishedError if
        it has ended already."""
        attempt = self._attempts.get(job.id)
        if attempt is not None:
            attempt.cancel()
            await attempt.finished.wait()
        if (ending := self._ending.get(job.id)) is not None:
            await asyncio.shield(ending)  # answer once the outcome is on disk
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
        if (ending := self._ending.get(job.id)) is not None:
            await asyncio.shield(ending)
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
        await self._drain_ending(grace)

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
        # Not waited for: after a crash the job runs again whether or not this reached the disk.
        self._store.save_soon(job)
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
        (`wait_for_disk=False`) gets the OSError.

        A worker does not wait for a final status to reach the disk: its slot takes the next
        job while the record is written, and the last event follows the write."""
        job.move_to(status, at=None if payload is None else int(payload["timestamp"]))
        if not wait_for_disk:
            await self._store.save(job)
        elif status in TERMINAL_STATUSES:
            await self._end_in_background(job, payload or events.ended(job))
            return
        else:
            await self._save(job)
        self._record_end(job, status)
        await self._events.publish(job.id, payload or events.ended(job))

    def _record_end(self, job: Job, status: Status) -> None:
        if status in TERMINAL_STATUSES:
            run_ms = job.updated - (job.started or job.created)
            self._observer.job_finished(job, run_ms)
            logger.info("job %s %s in %d ms", job.id, status, run_ms)

    async def _end_in_background(self, job: Job, last: Event) -> None:
        if len(self._ending) >= ENDING_LIMIT:  # the disk is slow: let it catch up
            await asyncio.wait(list(self._ending.values()), return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(self._save_then_publish(job, last), name=f"end {job.id}")
        self._ending[job.id] = task
        task.add_done_callback(lambda _: self._ending.pop(job.id, None))

    async def _save_then_publish(self, job: Job, last: Event) -> None:
        try:
            await self._save(job)
            self._record_end(job, job.status)
            await self._events.publish(job.id, last)
        except Exception:
            logger.exception("job %s: the worker could not record its outcome", job.id)

    async def _drain_ending(self, grace: float) -> None:
        """On stop: let ended jobs reach the disk and publish, for up to `grace` seconds."""
        if self._ending:
            await asyncio.wait(list(self._ending.values()), timeout=grace)
        for task in list(self._ending.values()):
            task.cancel()
        await asyncio.gather(*self._ending.values(), return_exceptions=True)

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
# Ended jobs waiting for the disk at once, past which a worker waits before ending another.
ENDING_LIMIT = 1024
