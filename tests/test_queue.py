"""The run queue: priority first, then arrival order; delayed jobs wait their turn."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import StartApp, create_job, run_to_end
from .test_cancel import Gate
from .test_lifecycle import fetch, post

pytestmark = pytest.mark.stores


async def test_higher_priority_runs_first_and_fifo_within_a_priority(
    start_app: StartApp,
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    first = await post(client, data="first")
    await gate.started.wait()
    jobs = [
        await post(client, data=name, **({"priority": priority} if priority else {}))
        for name, priority in [("low", 0), ("high", 5), ("mid", 1), ("high 2", 5), ("neg", -1)]
    ]
    assert jobs[1]["priority"] == 5 and "priority" not in jobs[0]
    gate.open.set()
    for job in [first, *jobs]:
        await run_to_end(client, job["id"])
    assert gate.ran == ["first", "high", "high 2", "mid", "low", "neg"]


async def test_a_delayed_job_runs_no_earlier_than_asked(start_app: StartApp) -> None:
    gate = Gate()
    gate.open.set()
    client = await start_app(handler=gate, worker_concurrency=1)
    delayed = await post(client, data="delayed", delay_ms=300, priority=9)
    assert delayed["run_at"] == delayed["created"] + 300
    now = await post(client, data="now")
    await run_to_end(client, delayed["id"])
    events = await run_to_end(client, delayed["id"])
    started = next(event for event in events if event["type"] == "started")
    assert int(started["timestamp"]) >= delayed["run_at"]
    await run_to_end(client, now["id"])
    assert gate.ran == ["now", "delayed"]
    assert "run_at" not in await fetch(client, delayed["id"])


async def test_queue_order_and_delays_survive_a_restart(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    await post(client, data="interrupted")
    await gate.started.wait()
    delayed = await post(client, data="delayed", delay_ms=60_000, priority=9)
    jobs: list[dict[str, Any]] = [
        await post(client, data="low"),
        await post(client, data="high", priority=3),
    ]
    await client.close()
    gate = Gate()
    gate.open.set()
    client = await start_app(handler=gate, worker_concurrency=1)
    for job in jobs:
        await run_to_end(client, job["id"])
    assert gate.ran == ["interrupted", "high", "low"]
    waiting = await fetch(client, delayed["id"])
    assert waiting["status"] == "pending" and waiting["run_at"] == delayed["run_at"]


async def test_a_full_queue_answers_429_with_retry_after(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1, queue_limit=3)
    running = await create_job(client, "running")
    await gate.started.wait()
    waiting = [await create_job(client, n) for n in range(3)]
    response = await client.post("/job", json={"data": "one too many"})
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert "queue is full" in (await response.json())["error"]
    gate.open.set()
    for job in (running, *waiting):
        assert (await run_to_end(client, job["id"]))[-1]["type"] == "completed"
    await create_job(client, "room again")
