"""The worker: takes new jobs into the store, runs due ones (running.py) under leases it
renews (leases.py), and cancels or deletes a job wherever it runs. It knows the store only
through the JobBackend interface: the files store, or the Redis store shared by processes."""

from __future__ import annotations

import asyncio
import logging

from ..core import events
from ..core.models import TERMINAL_EVENTS, TERMINAL_STATUSES, Job, JobIds, Status
from ..core.observer import Observer, Unobserved
from ..core.registry import Registry
from ..core.request import JobRequest
from ..core.settings import Settings
from ..store.backend import CancelOutcome, JobBackend
from ..stream.eventlog import EventLog
from .leases import Leases
from .running import Runner

logger = logging.getLogger(__name__)

# How long a cancel waits for a job running in another process to end, before answering
# that the request is on its way.
CANCEL_WAIT_SECONDS = 3.0
CANCEL_POLL_MIN_SECONDS = 0.01
CANCEL_POLL_MAX_SECONDS = 0.2


class JobFinishedError(Exception):
    """The job has already ended; it cannot be cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"Job is already {job.status}")
        self.job = job


class JobNotFoundError(Exception):
    """No such job (or it was deleted meanwhile)."""


class CancelPendingError(Exception):
    """The job runs in another process, which has the cancel request but has not ended the
    job yet; it will end cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__("Cancel requested; the job has not ended yet")
        self.job = job


class Worker:
    def __init__(
        self, backend: JobBackend, events: EventLog, registry: Registry, settings: Settings,
        observer: Observer | None = None,
    ) -> None:  # fmt: skip
        self._shared = shared = settings.store == "redis"
        self._backend = backend
        self._events = events
        self._settings = settings
        self._observer = observer or Unobserved()
        self._ids = JobIds()
        self._runner = Runner(backend, events, registry, settings, self._observer, shared=shared)
        self.leases = Leases(
            backend, self._runner, events, settings.job_lease_seconds, shared=shared
        )
        backend.on_cancel = self._runner.cancel

    @property
    def alive(self) -> bool:
        """Every worker task is still running (for readiness checks)."""
        return self._runner.alive

    @property
    def running(self) -> int:
        return len(self._runner.runs)

    async def submit(self, request: JobRequest) -> tuple[Job, bool]:
        """Store a new job and queue it, then announce it: (job, True). Raises the store's
        error if it could not be stored (OSError, a RedisError), QueueFullError if the queue
        is full. A known idempotency key gets its job back instead: (job, False)."""
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
        job, created = await self._backend.create(job, self._settings.queue_limit)
        if created:
            self._observer.job_created(job)
            # Not held up by a full outbox (Redis away): the job is stored and the client
            # waits for its answer. What this adds is bounded by QUEUE_LIMIT: while events
            # cannot be written, the workers wait, so jobs stay queued.
            await self._events.announce(events.created(job), wait_for_room=False)
        return job, created

    async def cancel(self, job_id: str) -> Job:
        """Take a pending job out of the queue, or stop a running one wherever it runs.
        JobNotFoundError, JobFinishedError if it has ended already, CancelPendingError if it
        runs in another process that has not ended it within CANCEL_WAIT_SECONDS."""
        result = await self._backend.cancel(job_id)
        if result.outcome is CancelOutcome.NOT_FOUND or result.job is None:
            raise JobNotFoundError(job_id)
        if result.outcome is CancelOutcome.FINISHED:
            await self._runner.wait_ended(job_id)  # answer once its outcome is stored
            raise JobFinishedError(result.job)
        if result.outcome is CancelOutcome.CANCELLED:
            await self._runner.publish_end(result.job)
            return result.job
        await self._runner.wait_ended(job_id)
        job = await self._until_ended(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        if job.status is Status.CANCELLED:
            return job
        if job.status in TERMINAL_STATUSES:  # it ended another way before the request
            raise JobFinishedError(job)
        raise CancelPendingError(job)

    async def _until_ended(self, job_id: str) -> Job | None:
        """The job once it has ended (or is gone), or as it is after CANCEL_WAIT_SECONDS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT_SECONDS
        delay = CANCEL_POLL_MIN_SECONDS
        while True:
            job = await self._backend.get(job_id)
            if job is None or job.status in TERMINAL_STATUSES or loop.time() >= deadline:
                return job
            await asyncio.sleep(delay)
            delay = min(delay * 2, CANCEL_POLL_MAX_SECONDS)

    async def delete(self, job_id: str) -> bool:
        """Cancel the job if it is pending or running, then remove it and its stream and
        announce that on the feed. False if there is no such job (or it went meanwhile);
        CancelPendingError as for cancel (the job is then kept)."""
        job = await self._backend.get(job_id)
        if job is None:
            return False
        if job.status not in TERMINAL_STATUSES:
            try:
                job = await self.cancel(job_id)
            except JobFinishedError as exc:  # it ended meanwhile: delete it as it is
                job = exc.job
            except JobNotFoundError:
                return False
        # Let a final event being stored and published go out first, so that it cannot
        # bring the job's stream back after the deletion.
        await self._runner.wait_ended(job_id)
        if self._shared:
            await self._until_last_event_written(job_id)
        if not await self._backend.delete([job_id]):
            return False
        await self._events.forget(job_id, events.deleted(job))
        logger.info("job %s deleted", job_id)
        return True

    async def _until_last_event_written(self, job_id: str) -> None:
        """A job that another process ended: wait (bounded) until its last event is in its
        stream, which that process writes, so that the deletion of the stream comes after."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT_SECONDS
        delay = CANCEL_POLL_MIN_SECONDS
        while (last := await self._events.last_entry(self._events.stream(job_id))) is not None:
            if last[1].get("type") in TERMINAL_EVENTS or loop.time() >= deadline:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, CANCEL_POLL_MAX_SECONDS)

    async def start(self) -> None:
        """Jobs cut off by a crash or a stop run again first; then the workers start."""
        interrupted = await self.leases.reclaim()
        if queued := await self._backend.queue_length():
            logger.info("queued %d unfinished jobs (%d interrupted)", queued, interrupted)
        self._runner.start(max(1, self._settings.worker_concurrency))
        self.leases.start()

    async def stop(self, grace: float) -> int:
        """Let running jobs finish for up to `grace` seconds, then cancel them and give them
        back to the store (the files store keeps them for its next start); how many were cut
        off. Idempotent."""
        cut_off = await self._runner.stop(grace)
        for run in cut_off:
            try:
                if await self._backend.release(run.job, run.lease):
                    await self._announce_given_back(run.job)
            except Exception as exc:
                logger.warning("job %s: not given back (%s); its lease will lapse",
                               run.job.id, exc)  # fmt: skip
        await self.leases.stop()
        return len(cut_off)

    async def _announce_given_back(self, job: Job) -> None:
        if job.status is Status.PENDING:
            await self._events.publish(job.id, events.restarted(job))
            self._events.release(job.id)
        else:  # its cancel had been requested
            await self._runner.publish_end(job)
