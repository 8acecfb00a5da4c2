"""Running jobs: worker tasks claim due jobs from the store, run each in an attempt of its own,
and store every change under the job's lease before they publish it."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import Any

from ..core import events
from ..core.attempt import Attempt, Outcome, Result, retry_delay_ms
from ..core.events import Event
from ..core.handlers import JobContext
from ..core.models import TERMINAL_STATUSES, Job, Status, now_ms
from ..core.observer import Observer
from ..core.registry import Registry
from ..core.settings import Settings
from ..core.tasks import let_go
from ..store.backend import JobBackend, Lease
from ..stream.eventlog import EventLog
from .saving import save_until_stored

logger = logging.getLogger(__name__)

# An idle worker looks for work at least this often, in case a wake-up was lost.
POLL_SECONDS = 1.0
# After a failed claim (the store unreachable), wait this long before the next.
CLAIM_RETRY_SECONDS = 1.0
# Ended jobs waiting for the store at once, past which a worker waits before ending another.
ENDING_LIMIT = 1024
# How long a cancel request for a job not (yet) known here is kept: it may be for a job
# whose claim is on its way back from the store.
EARLY_CANCEL_SECONDS = 60.0


class Run:
    """A job this process runs: its lease, its attempt, and whether the lease was lost."""

    __slots__ = ("attempt", "job", "lease", "lost")

    def __init__(self, job: Job, lease: Lease) -> None:
        self.job = job
        self.lease = lease
        self.attempt = Attempt()
        self.lost = False


def record_end(observer: Observer, job: Job) -> None:
    run_ms = job.updated - (job.started or job.created)
    observer.job_finished(job, run_ms)
    logger.info("job %s %s in %d ms", job.id, job.status, run_ms)


class Runner:
    def __init__(
        self, backend: JobBackend, events: EventLog, registry: Registry, settings: Settings,
        observer: Observer, *, shared: bool,
    ) -> None:  # fmt: skip
        self._backend = backend
        self._events = events
        self._registry = registry
        self._settings = settings
        self._observer = observer
        # Other processes run this store's jobs too: a job this one stops running (a retry,
        # a lost lease) may go on elsewhere, so its stream is not this process's to track.
        self._shared = shared
        self._lease_ms = int(settings.job_lease_seconds * 1000)
        self.runs: dict[str, Run] = {}
        self._current: dict[asyncio.Task[None], str | None] = {}
        # Ended jobs whose record is being stored before their last event goes out.
        self._ending: dict[str, asyncio.Task[None]] = {}
        self._claiming = asyncio.Semaphore(backend.claimers)
        self._stopping = False
        self._cut_off: list[Run] = []
        self._early_cancels: dict[str, float] = {}

    @property
    def alive(self) -> bool:
        """Every worker task is still running (for readiness checks)."""
        return bool(self._current) and not any(task.done() for task in self._current)

    def start(self, concurrency: int) -> None:
        for number in range(concurrency):
            task = asyncio.create_task(self._work(), name=f"worker-{number}")
            self._current[task] = None

    async def stop(self, grace: float) -> list[Run]:
        """Let running jobs finish for up to `grace` seconds, then cancel them; the runs cut
        off. Idempotent."""
        self._stopping = True
        for task, job_id in self._current.items():
            if job_id is None:
                task.cancel()
        if self._current:
            await asyncio.wait(self._current, timeout=grace)
        # A cancel can get lost inside redis-py (Python 3.11's wait_for): let_go repeats it.
        await asyncio.gather(*(let_go(task) for task in self._current), return_exceptions=True)
        self._current.clear()
        await self._drain_ending(grace)
        cut_off, self._cut_off = self._cut_off, []
        return cut_off

    def cancel(self, job_id: str) -> None:
        """A cancel request for a job this process runs (the store's `on_cancel`)."""
        run = self.runs.get(job_id)
        if run is not None:
            run.attempt.cancel()
            return
        now = time.monotonic()
        for early, at in list(self._early_cancels.items()):
            if at < now - EARLY_CANCEL_SECONDS:
                del self._early_cancels[early]
        self._early_cancels[job_id] = now

    def lose(self, run: Run) -> None:
        """The store says another process holds the job now: stop it, publish nothing more."""
        if self.runs.get(run.job.id) is run and not run.lost:
            run.lost = True
            logger.warning("job %s: its lease is lost (another process runs it now); stopping "
                           "it here without a word", run.job.id)  # fmt: skip
            run.attempt.cancel()

    async def wait_ended(self, job_id: str) -> None:
        """Until the job's run here (if any) has ended and its outcome is stored."""
        run = self.runs.get(job_id)
        if run is not None:
            await run.attempt.finished.wait()
        if (ending := self._ending.get(job_id)) is not None:
            await asyncio.shield(ending)  # answer once the outcome is stored

    async def _work(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            job, lease = await self._next()
            run = self._begin(job, lease)
            self._current[task] = job.id
            try:
                await self._run(run)
            except asyncio.CancelledError:
                if self._stopping:
                    self._cut_off.append(run)
                raise
            except Exception:
                logger.exception("job %s: the worker could not record its outcome", job.id)
            finally:
                self._current[task] = None
                del self.runs[job.id]
                run.attempt.finished.set()

    async def _next(self) -> tuple[Job, Lease]:
        """The next due job, claimed. Up to the backend's `claimers` idle workers look and
        wait for work at once (the others queue behind them)."""
        async with self._claiming:
            while True:
                since = self._backend.work_seq
                try:
                    claimed = await self._backend.claim(self._lease_ms)
                    if claimed is not None:
                        return claimed
                    due = await self._backend.next_due_in()
                except Exception as exc:
                    logger.warning("cannot take a job from the store (%s); again in %.0f s",
                                   exc, CLAIM_RETRY_SECONDS)  # fmt: skip
                    await asyncio.sleep(CLAIM_RETRY_SECONDS)
                    continue
                wait = POLL_SECONDS if due is None else min(due, POLL_SECONDS)
                with suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._backend.wait_for_work(since)

    def _begin(self, job: Job, lease: Lease) -> Run:
        run = self.runs[job.id] = Run(job, lease)
        if self._early_cancels.pop(job.id, None) is not None:
            run.attempt.cancel()
        if job.attempts == 1:  # its first run: nothing was ever written to its stream
            self._events.new_job(job.id)
        return run

    async def _run(self, run: Run) -> None:
        job = run.job
        ctx = JobContext(job, self._report)
        await self._events.publish(job.id, events.started(job))
        handler = self._registry.get(job.type)
        if handler is None:
            result = Result(Outcome.FAILED, f"Unknown job type {job.type!r}: no handler for it")
        else:
            result = await run.attempt.run(handler, job, ctx, self._settings.stall_seconds)
        if run.lost:
            self._let_go(job.id)
            return
        if result.outcome is Outcome.SUCCEEDED:
            await self._end(run, Status.SUCCEEDED)
        elif result.outcome is Outcome.CANCELLED:
            await self._end(run, Status.CANCELLED)
        else:
            await self._fail_attempt(run, result)

    async def _fail_attempt(self, run: Run, result: Result) -> None:
        job = run.job
        job.error = result.error
        if result.outcome is Outcome.STALLED:
            await self._events.publish(job.id, events.stalled(job, result.error))
        if job.attempts >= job.max_attempts:
            await self._end(run, Status.FAILED)
            return
        settings = self._settings
        delay = retry_delay_ms(job.attempts, settings.retry_base_ms, settings.retry_max_ms)
        job.run_at = now_ms() + delay
        await self._end(run, Status.PENDING, events.retry(job, delay))
        logger.info("job %s: attempt %d failed, retrying in %d ms", job.id, job.attempts, delay)

    async def _report(self, job: Job, step: dict[str, Any]) -> None:
        assert job.output is not None
        # Encoded first: a step JSON cannot hold (a set, an integer past 64 bits) fails the
        # handler's call here, and never reaches the job's record.
        progress = events.progress(job.id, step)
        job.output.append(step)
        job.updated = step["timestamp"]
        run = self.runs[job.id]
        if await save_until_stored(self._backend, job, run.lease):
            await self._events.publish(job.id, progress)
        else:
            self.lose(run)

    async def _end(self, run: Run, status: Status, payload: Event | None = None) -> None:
        """Move the job to `status`, store it, then tell its watchers with `payload` (by
        default the job's last event).

        A worker does not wait for a final status to be stored: its slot takes the next job
        while the record is written, and the last event follows the write."""
        job = run.job
        job.move_to(status, at=None if payload is None else int(payload["timestamp"]))
        if status in TERMINAL_STATUSES:
            await self._end_in_background(run, payload or events.ended(job))
            return
        if not await save_until_stored(self._backend, job, run.lease):
            self._let_go(job.id)
            return
        if job.status is Status.CANCELLED:  # a retry whose cancel was requested meanwhile
            await self.publish_end(job)
            return
        await self._events.publish(job.id, payload or events.ended(job))
        self._let_go(job.id)

    async def publish_end(self, job: Job) -> None:
        """Count and announce a job the store has just ended (its last event)."""
        record_end(self._observer, job)
        await self._events.publish(job.id, events.ended(job))

    def _let_go(self, job_id: str) -> None:
        if self._shared:
            self._events.release(job_id)

    async def _end_in_background(self, run: Run, last: Event) -> None:
        if len(self._ending) >= ENDING_LIMIT:  # the store is slow: let it catch up
            await asyncio.wait(list(self._ending.values()), return_when=asyncio.FIRST_COMPLETED)
        job_id = run.job.id
        task = asyncio.create_task(self._save_then_publish(run, last), name=f"end {job_id}")
        self._ending[job_id] = task
        task.add_done_callback(lambda _: self._ending.pop(job_id, None))

    async def _save_then_publish(self, run: Run, last: Event) -> None:
        job = run.job
        try:
            if not await save_until_stored(self._backend, job, run.lease):
                logger.warning("job %s: its lease was lost; its outcome here is dropped", job.id)
                self._let_go(job.id)
                return
            record_end(self._observer, job)
            await self._events.publish(job.id, last)
        except Exception:
            logger.exception("job %s: the worker could not record its outcome", job.id)

    async def _drain_ending(self, grace: float) -> None:
        """On stop: let ended jobs be stored and published, for up to `grace` seconds."""
        if self._ending:
            await asyncio.wait(list(self._ending.values()), timeout=grace)
        ending = list(self._ending.values())
        await asyncio.gather(*(let_go(task) for task in ending), return_exceptions=True)
