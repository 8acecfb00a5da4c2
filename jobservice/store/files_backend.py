"""The files store behind the JobBackend interface: the JobStore's records and journal, and
the run queue in memory. One process holds them (the data dir's lock), so a lease cannot
lapse and a cancel request reaches the running job at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from itertools import islice

from ..core.errors import QueueFullError
from ..core.jobqueue import JobQueue
from ..core.models import TERMINAL_STATUSES, Job, Status
from .backend import RERUN_PRIORITY, CancelOutcome, CancelResult, JobBackend, Lease
from .index import Key
from .jobstore import JobStore, ordered_pending

OWNER = "this process"


def ignore(_job_id: str) -> None:
    pass


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


class FilesBackend:
    """A JobBackend over a JobStore. The jobs it returns are the store's own objects: a
    change the worker makes is in memory at once, and on disk with the next save. A
    progress save writes nothing (the steps reach the disk with the job's next state: a
    crash reruns the job anyway), and the move to processing is journaled without waiting."""

    # Claims are in memory: every idle worker may claim at once.
    claimers = 1 << 20

    def __init__(self, store: JobStore) -> None:
        self.owner = OWNER
        self.on_cancel: Callable[[str], None] = ignore
        self.queue = JobQueue()
        self._store = store
        self._work_seq = 0
        self._work = asyncio.Event()
        # Places in the queue held by new jobs being stored (counted against QUEUE_LIMIT).
        self._reserved = 0
        # Idempotency keys of new jobs being stored, each with the outcome its duplicates await.
        self._storing: dict[str, Storing] = {}
        # Running jobs whose cancel was requested: a retry of one is stored as cancelled.
        self._cancelling: set[str] = set()
        self._interrupted: list[Job] = []

    @property
    def work_seq(self) -> int:
        return self._work_seq

    def open(self) -> None:
        """Queue the stored pending jobs in queue order. Jobs a crash or a stop cut off while
        processing come back from the first `reclaim_expired`, to run again first."""
        for job in ordered_pending(self._store):
            self.queue.put(job.id, job.priority, job.run_at)
        self._interrupted = list(self._store.with_status(Status.PROCESSING))

    async def create(self, job: Job, queue_limit: int) -> tuple[Job, bool]:
        """While the first request with a key is being stored, a duplicate waits for it and
        shares its outcome (its job, or its error)."""
        key = job.idempotency_key
        if key is None:
            await self._add(job, queue_limit)
            return job, True
        while (first := self._storing.get(key)) is not None:
            stored = await first.outcome()
            if stored is not None:
                return stored, False
        existing = self._store.by_idempotency_key(key)
        if existing is not None:
            return existing, False
        # Claimed before the first await: from here on, requests with this key wait for this one.
        self._storing[key] = storing = Storing()
        try:
            await self._add(job, queue_limit)
        except BaseException as exc:
            storing.settle(None, exc)
            raise
        else:
            storing.settle(job, None)
        finally:
            del self._storing[key]
        return job, True

    async def _add(self, job: Job, limit: int) -> None:
        """Store the job, then queue it. Its place in the queue is held from the check on,
        across the write: concurrent requests cannot overfill the queue."""
        if len(self.queue) + self._reserved >= limit:
            raise QueueFullError(limit)
        self._reserved += 1
        try:
            await self._store.add(job)
        finally:
            self._reserved -= 1
        self._queue(job.id, job.priority, job.run_at)

    def _queue(self, job_id: str, priority: int, run_at: int = 0) -> None:
        self.queue.put(job_id, priority, run_at)
        self._work_seq += 1
        self._work.set()

    async def get(self, job_id: str) -> Job | None:
        return self._store.get(job_id)

    async def newest_first(
        self, before: Key | None, status: Status | None, type: str | None, limit: int
    ) -> list[Job]:
        return list(islice(self._store.newest_first(before, status, type), limit))

    async def ended_before(self, cutoff_ms: int, limit: int) -> list[Job]:
        """In the store's order (loaded ones first), not strictly oldest first."""
        return list(islice(self._store.ended_before(cutoff_ms), limit))

    async def delete(self, job_ids: Sequence[str]) -> list[str]:
        found = (self._store.get(job_id) for job_id in job_ids)
        jobs = [job for job in found if job is not None and job.status in TERMINAL_STATUSES]
        if jobs:  # checked and removed from memory without an await in between
            await self._store.delete(jobs)
        return [job.id for job in jobs]

    async def claim(self, lease_ms: int) -> tuple[Job, Lease] | None:
        while (job_id := self.queue.pop_due()) is not None:
            job = self._store.get(job_id)
            if job is None or job.status is not Status.PENDING:
                continue
            job.attempts += 1
            job.output = []
            job.error = None
            job.run_at = 0
            job.move_to(Status.PROCESSING)
            job.started = job.updated
            # Not waited for: after a crash the job runs again whether or not this reached disk.
            self._store.save_soon(job)
            return job, Lease(job.id, job.attempts, self.owner)
        return None

    async def next_due_in(self) -> float | None:
        return self.queue.next_due_in()

    async def wait_for_work(self, since: int) -> None:
        while self._work_seq == since:
            self._work.clear()
            await self._work.wait()

    async def renew(self, lease: Lease, lease_ms: int) -> bool:
        return True

    async def save(self, job: Job, lease: Lease) -> bool:
        if job.status is Status.PROCESSING:
            return True  # progress: in memory now, on disk with the job's next state
        if job.status is Status.PENDING and job.id in self._cancelling:
            job.status = Status.CANCELLED
        if job.status is Status.PENDING:
            await self._store.save(job)
            self._queue(job.id, job.priority, job.run_at)
            return True
        self._cancelling.discard(job.id)
        await self._store.save(job)
        return True

    async def release(self, job: Job, lease: Lease) -> bool:
        return False  # it stays processing: the next start runs it again, first

    async def cancel(self, job_id: str) -> CancelResult:
        job = self._store.get(job_id)
        if job is None:
            return CancelResult(CancelOutcome.NOT_FOUND, None)
        if job.status in TERMINAL_STATUSES:
            return CancelResult(CancelOutcome.FINISHED, job)
        if job.status is Status.PROCESSING:
            self._cancelling.add(job_id)
            self.on_cancel(job_id)
            return CancelResult(CancelOutcome.REQUESTED, job)
        self.queue.remove(job_id)
        job.move_to(Status.CANCELLED)
        await self._store.save(job)
        return CancelResult(CancelOutcome.CANCELLED, job)

    async def reclaim_expired(self) -> list[Job]:
        """The first call returns the jobs cut off by the last stop or crash, pending again;
        later calls nothing (nobody else runs this store's jobs)."""
        interrupted, self._interrupted = self._interrupted, []
        for job in interrupted:
            job.move_to(Status.PENDING)
            await self._store.save(job)
            self._queue(job.id, RERUN_PRIORITY)
        return interrupted

    async def queue_length(self) -> int:
        return len(self.queue)


def _is_a_job_backend(backend: FilesBackend) -> JobBackend:
    """mypy checks here that FilesBackend has every member of the JobBackend interface."""
    return backend
