"""The run queue on its own: priority, arrival order, delays, moves and removals."""

from __future__ import annotations

import asyncio

from jobservice.core.jobqueue import JobQueue
from jobservice.core.models import now_ms


async def drain(queue: JobQueue) -> list[str]:
    return [await queue.get() for _ in range(len(queue))]


async def test_higher_priority_first_then_first_come_first_served() -> None:
    queue = JobQueue()
    for job_id, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)]:
        queue.put(job_id, priority)
    assert await drain(queue) == ["b", "d", "a", "c", "e"]


async def test_a_job_queued_again_is_moved_not_doubled() -> None:
    queue = JobQueue()
    queue.put("a")
    queue.put("b")
    queue.put("a", priority=1)
    assert len(queue) == 2
    assert await drain(queue) == ["a", "b"]


async def test_removed_jobs_are_skipped() -> None:
    queue = JobQueue()
    queue.put("a")
    queue.put("b")
    assert queue.remove("a") is True
    assert queue.remove("a") is False
    assert "a" not in queue
    assert await drain(queue) == ["b"]


async def test_a_delayed_job_waits_for_its_time_and_a_due_one_does_not() -> None:
    queue = JobQueue()
    queue.put("later", priority=9, run_at=now_ms() + 150)
    queue.put("now")
    assert await queue.get() == "now"
    waited = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(queue.get(), 2) == "later"
    assert asyncio.get_running_loop().time() - waited >= 0.1


async def test_get_wakes_up_when_a_job_is_queued() -> None:
    queue = JobQueue()
    getting = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not getting.done()
    queue.put("a")
    assert await asyncio.wait_for(getting, 1) == "a"
