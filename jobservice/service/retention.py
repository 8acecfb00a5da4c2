"""Retention: jobs ended over RETENTION_SECONDS ago go, with their streams; the feed says so."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from ..core import events
from ..core.models import now_ms
from ..store.backend import JobBackend
from ..stream.eventlog import EventLog

logger = logging.getLogger(__name__)

# Jobs looked up and removed per store call.
BATCH = 1000


class Retention:
    def __init__(self, store: JobBackend, events: EventLog, max_age_seconds: float) -> None:
        self._store = store
        self._events = events
        self._max_age_ms = int(max_age_seconds * 1000)

    async def sweep(self, now: int | None = None) -> int:
        """Remove the jobs that ended before `now` minus the retention; how many went."""
        cutoff = (now_ms() if now is None else now) - self._max_age_ms
        removed = 0
        while old := await self._store.ended_before(cutoff, BATCH):
            # Only those this call removed: another process may be sweeping too.
            gone = set(await self._store.delete([job.id for job in old]))
            for job in old:  # through the outbox: a Redis outage delays this, loses nothing
                if job.id in gone:
                    await self._events.forget(job.id, events.deleted(job, events.EXPIRED_MESSAGE))
            removed += len(gone)
            if not gone:
                break
        if removed:
            logger.info("retention: removed %d jobs that ended before %d", removed, cutoff)
        return removed

    async def run(self, every_seconds: float, stop: asyncio.Event) -> None:
        """Sweep every `every_seconds` until `stop` is set; a failed sweep is retried next
        time. It stops by an event, not by cancellation: a cancel that lands inside a
        library's timeout can be lost on Python 3.11, and this loop would then run on."""
        while not stop.is_set():
            with suppress(TimeoutError):
                async with asyncio.timeout(every_seconds):
                    await stop.wait()
            if stop.is_set():
                return
            try:
                await self.sweep()
            except Exception:
                logger.exception("retention sweep failed")
