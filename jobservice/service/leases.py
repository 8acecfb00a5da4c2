"""Leases: one task renews the leases of every job this process runs, another reclaims jobs
whose lease lapsed (their process died or hung) and announces that they run again."""

from __future__ import annotations

import asyncio
import logging

from ..core import events
from ..core.models import Status
from ..core.tasks import let_go
from ..store.backend import JobBackend
from ..stream.eventlog import EventLog
from .running import Runner

logger = logging.getLogger(__name__)

# Renewals per lease term, and reclaim sweeps per lease term: a lease is renewed well
# before it lapses, and a lapsed one is taken back within half a term.
RENEWALS_PER_TERM = 3
SWEEPS_PER_TERM = 2


class Leases:
    def __init__(
        self, backend: JobBackend, runner: Runner, events: EventLog, lease_seconds: float,
        *, shared: bool,
    ) -> None:  # fmt: skip
        self._backend = backend
        self._runner = runner
        self._events = events
        self._lease_seconds = lease_seconds
        self._shared = shared
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._renew_forever(), name="lease-renewals"),
            asyncio.create_task(self._sweep_forever(), name="lease-sweeps"),
        ]

    async def stop(self) -> None:
        """Idempotent."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await let_go(task)

    async def reclaim(self) -> int:
        """Take back the jobs whose lease lapsed and announce them: `restarted` for a job
        queued again, its last event for one whose cancel had been requested."""
        jobs = await self._backend.reclaim_expired()
        for job in jobs:
            if job.status is Status.PENDING:
                await self._events.publish(job.id, events.restarted(job))
                if self._shared:  # whichever process claims it next writes its stream
                    self._events.release(job.id)
            else:
                await self._runner.publish_end(job)
        return len(jobs)

    async def renew_all(self) -> None:
        """Extend the lease of every job running here; a job whose lease is lost is stopped."""
        runs = list(self._runner.runs.values())
        lease_ms = int(self._lease_seconds * 1000)
        held = await asyncio.gather(
            *(self._backend.renew(run.lease, lease_ms) for run in runs), return_exceptions=True
        )
        for run, answer in zip(runs, held, strict=True):
            if answer is False:
                self._runner.lose(run)
            elif isinstance(answer, Exception):
                logger.warning("job %s: its lease could not be renewed (%s)", run.job.id, answer)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / RENEWALS_PER_TERM)
            try:
                await self.renew_all()
            except Exception:
                logger.exception("lease renewals failed")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / SWEEPS_PER_TERM)
            try:
                if reclaimed := await self.reclaim():
                    logger.info("taken back from lapsed leases: %d jobs", reclaimed)
            except Exception as exc:
                logger.warning("the sweep for lapsed leases failed (%s); again later", exc)
