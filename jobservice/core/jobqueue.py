"""The run queue: higher priority first, first come first served within a priority, and
jobs held back until their run-at time.

Two heaps make one mechanism: `waiting` holds jobs not yet due, ordered by run-at; when
they come due they move to `ready`, ordered by (-priority, arrival). A job is queued at most
once: queueing it again or removing it makes its old heap entry stale, and stale entries are
skipped when they surface.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import suppress

from .models import now_ms


class JobQueue:
    def __init__(self) -> None:
        self._waiting: list[tuple[int, int, int, str]] = []  # (run_at, seq, -priority, id)
        self._ready: list[tuple[int, int, str]] = []  # (-priority, seq, id)
        self._live: dict[str, int] = {}  # id -> seq of its one current entry
        self._seq = itertools.count()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._live

    def put(self, job_id: str, priority: int = 0, run_at: int = 0) -> None:
        """Queue the job, or move it if it is queued already; run_at is epoch ms (0: now)."""
        seq = next(self._seq)
        self._live[job_id] = seq
        if run_at > now_ms():
            heapq.heappush(self._waiting, (run_at, seq, -priority, job_id))
        else:
            heapq.heappush(self._ready, (-priority, seq, job_id))
        self._changed.set()

    def remove(self, job_id: str) -> bool:
        """Take the job out of the queue; False if it was not in it."""
        return self._live.pop(job_id, None) is not None

    def pop_due(self) -> str | None:
        """The next due job id, taken out of the queue; None if none is due."""
        self._promote_due()
        return self._pop_ready()

    def next_due_in(self) -> float | None:
        """Seconds until a queued job is due (0: one is due now); None: the queue is empty."""
        self._promote_due()
        while self._ready and self._live.get(self._ready[0][2]) != self._ready[0][1]:
            heapq.heappop(self._ready)
        return 0.0 if self._ready else self._seconds_to_next()

    async def get(self) -> str:
        """The next due job id, waiting for one to be queued or to come due."""
        while True:
            job_id = self.pop_due()
            if job_id is not None:
                return job_id
            self._changed.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(self._seconds_to_next()):
                    await self._changed.wait()

    def _promote_due(self) -> None:
        now = now_ms()
        while self._waiting and self._waiting[0][0] <= now:
            _run_at, seq, negative_priority, job_id = heapq.heappop(self._waiting)
            if self._live.get(job_id) == seq:
                heapq.heappush(self._ready, (negative_priority, seq, job_id))

    def _pop_ready(self) -> str | None:
        while self._ready:
            _priority, seq, job_id = heapq.heappop(self._ready)
            if self._live.get(job_id) == seq:
                del self._live[job_id]
                return job_id
        return None

    def _seconds_to_next(self) -> float | None:
        """How long until the first waiting job comes due; None: nothing is waiting."""
        while self._waiting and self._live.get(self._waiting[0][3]) != self._waiting[0][1]:
            heapq.heappop(self._waiting)
        if not self._waiting:
            return None
        return max(0.0, (self._waiting[0][0] - now_ms()) / 1000)
