"""The interface the worker uses for any job store that several processes may share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..core.models import Job, Status
from ..core.request import MAX_PRIORITY
from .index import Key

# Jobs cut off while running (a crash, a stop, a lapsed lease) run again before anything else.
RERUN_PRIORITY = MAX_PRIORITY + 1


@dataclass(slots=True)
class Lease:
    """The right to change a claimed job. `token` is the fencing token: it grows with each
    claim of the job (and when a lapsed lease is reclaimed), and every change the holder
    makes is refused once the job's current token is another. `steps` counts the output
    steps stored under this lease; the backend keeps it, so a save sends only new steps."""

    job_id: str
    token: int
    owner: str
    steps: int = 0


class CancelOutcome(StrEnum):
    NOT_FOUND = "not found"
    # It had ended already (job is how it ended).
    FINISHED = "finished"
    # It was pending: it is cancelled now and out of the queue; the caller publishes its end.
    CANCELLED = "cancelled"
    # It is running: its owner is told and ends it as cancelled (see JobBackend.cancel).
    REQUESTED = "requested"


@dataclass(frozen=True, slots=True)
class CancelResult:
    outcome: CancelOutcome
    job: Job | None


class JobBackend(Protocol):
    """Job records, the run queue, leases and idempotency keys, shared by every process.

    Differences from a first sketch, and why:
    - The owner is the backend's (`owner`, one per process), not an argument of `claim`:
      cancel requests reach the process holding a job's lease through that owner's channel,
      so a process claims under the one owner it listens as.
    - `claim` returns the job already moved to processing (attempts + 1, `started` and
      `updated` now, output emptied, error and run_at cleared): the move and the lease are
      one atomic step, so the worker must not make that first save itself.
    - `reclaim_expired` takes no clock: lease deadlines are set and checked with the Redis
      server's own clock, so processes with skewed clocks cannot steal live leases.
    - `ended_before` returns a bounded batch, so one sweep is many small calls rather than
      one huge one; `delete` takes ids and returns those it removed, so only they are
      announced as deleted (a job deleted meanwhile by another process is not).
    - `wait_for_work` takes `since` (`work_seq` read before the claim that found nothing),
      so a wake-up that lands between that claim and the wait is not lost.
    """

    owner: str
    # Idle workers of a process that may claim (and wait for work) at once. A claim that
    # costs a round trip should have few: a wake-up then costs that many calls, not one per
    # idle worker. A claim that costs nothing should have no limit: handing the right to
    # claim from worker to worker costs a turn of the event loop per job.
    claimers: int
    # Called with a job id when a cancel is requested for a job this process holds; may be
    # called more than once for one request (it also comes back with lease renewals).
    on_cancel: Callable[[str], None]

    @property
    def work_seq(self) -> int:
        """Grows whenever new work may be due (a job created or requeued anywhere)."""
        ...

    async def create(self, job: Job, queue_limit: int) -> tuple[Job, bool]:
        """Store a new pending job and queue it, atomically with its idempotency key (one
        job per key across every process: a known key returns that job and False) and the
        queue limit (QueueFullError from core.errors). Stored once this returns. The stored
        job is returned: a backend may give it another id of the same time (the Redis one
        writes the job's queue shard into the id's last random bits), so use its id."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def newest_first(
        self, before: Key | None, status: Status | None, type: str | None, limit: int
    ) -> list[Job]:
        """Up to `limit` jobs below the (created, id) key `before`, newest first, that match
        the status and type given."""
        ...

    async def ended_before(self, cutoff_ms: int, limit: int) -> list[Job]:
        """Up to `limit` jobs that ended before `cutoff_ms` (epoch ms), oldest first."""
        ...

    async def delete(self, job_ids: Sequence[str]) -> list[str]:
        """Remove those of these jobs that have ended (with their idempotency keys; cancel a
        pending or running job first); the ids removed."""
        ...

    async def claim(self, lease_ms: int) -> tuple[Job, Lease] | None:
        """The next due job, by priority then arrival (delayed jobs become due at run_at),
        moved to processing under a new lease; None if nothing is due."""
        ...

    async def next_due_in(self) -> float | None:
        """Seconds until a queued job is due (0: one is due now); None: the queue is empty."""
        ...

    async def wait_for_work(self, since: int) -> None:
        """Return once `work_seq` has moved past `since`. Bound it with `asyncio.timeout`
        (by `next_due_in()`, and a poll interval in case a wake-up message was lost)."""
        ...

    async def renew(self, lease: Lease, lease_ms: int) -> bool:
        """Extend the lease to `lease_ms` from now; False if it is no longer the job's."""
        ...

    async def save(self, job: Job, lease: Lease) -> bool:
        """Store the job's state if `lease` is still its current lease (fenced, atomically);
        False if it is not, and then the caller must not publish the outcome.

        processing: a progress save. pending: a retry, queued again for `run_at` and the
        lease released. A final status: the lease released. A retry of a job whose cancel
        was requested is stored as cancelled instead: after True, `job.status` is what was
        stored, and the caller publishes by it."""
        ...

    async def release(self, job: Job, lease: Lease) -> bool:
        """Give back a job this process stops running before it ended (the process is
        stopping): pending again, first in line, as a reclaimed job; False if the lease is
        no longer its, or if this store keeps it processing for its next start (the files
        store). After True, publish by `job.status` (cancelled, if its cancel was asked)."""
        ...

    async def cancel(self, job_id: str) -> CancelResult:
        """A pending job is cancelled at once (out of the queue). A running one gets a cancel
        request that its owner's `on_cancel` receives (within a second); it ends when the
        owner saves it, or, if the owner dies, when its lease is reclaimed: as cancelled."""
        ...

    async def reclaim_expired(self) -> list[Job]:
        """Jobs whose lease lapsed go back to pending, first in line, and are returned for
        the caller to publish `restarted` (a job whose cancel was requested is returned
        cancelled instead: publish its end). Each job is reclaimed by one caller only."""
        ...

    async def queue_length(self) -> int:
        """Jobs waiting (due or delayed), for metrics and QUEUE_LIMIT."""
        ...
