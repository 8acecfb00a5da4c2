"""Failures, retries with backoff, timeouts and stalls, through the API and the job's stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobservice.core.models import Job

from .conftest import Client, StartApp, run_to_end

pytestmark = pytest.mark.stores


async def post(client: Client, **body: Any) -> dict[str, Any]:
    response = await client.post("/job", json={"data": None, **body})
    assert response.status == 201, await response.text()
    job: dict[str, Any] = await response.json()
    return job


async def fetch(client: Client, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = await (await client.get(f"/job/{job_id}")).json()
    return job


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


async def flaky(job: Job, ctx: Any) -> None:
    """Fails its first two attempts, succeeds on the third."""
    await ctx.progress(f"attempt {job.attempts}")
    if job.attempts < 3:
        raise RuntimeError(f"flaky failure {job.attempts}")


async def test_a_flaky_job_succeeds_on_its_third_attempt(start_app: StartApp) -> None:
    client = await start_app(handler=flaky, retry_base_ms=20)
    job = await post(client, max_attempts=3)
    assert job["max_attempts"] == 3
    events = await run_to_end(client, job["id"])
    attempt = ["started", "progress"]
    assert kinds(events) == ["initial", *attempt, "retry", *attempt, "retry", *attempt, "completed"]
    first, second = (event for event in events if event["type"] == "retry")
    assert (first["attempt"], first["error"]) == ("1", "flaky failure 1")
    assert (second["attempt"], second["error"]) == ("2", "flaky failure 2")
    assert 10 <= int(first["delay"]) <= 20 and 20 <= int(second["delay"]) <= 40
    done = await fetch(client, job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 3
    assert [step["data"] for step in done["output"]] == ["attempt 3"]


async def test_after_the_last_attempt_the_job_fails_with_the_seed_error_event(
    start_app: StartApp,
) -> None:
    client = await start_app(handler=flaky, retry_base_ms=1)
    job = await post(client, max_attempts=2)
    events = await run_to_end(client, job["id"])
    assert kinds(events)[-3:] == ["started", "progress", "error"]
    assert kinds(events).count("retry") == 1
    assert events[-1]["message"] == "flaky failure 2"
    failed = await fetch(client, job["id"])
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert failed["error"] == "flaky failure 2"


async def test_max_attempts_defaults_to_the_setting(start_app: StartApp) -> None:
    client = await start_app(handler=flaky, retry_base_ms=1, max_attempts=3)
    job = await post(client)
    assert kinds(await run_to_end(client, job["id"]))[-1] == "completed"
    assert (await fetch(client, job["id"]))["attempts"] == 3


class Blocked:
    """A handler blocked in asyncio.sleep; it notes whether it was cancelled."""

    def __init__(self) -> None:
        self.cancelled = 0

    async def __call__(self, job: Job, ctx: Any) -> None:
        await ctx.progress("waiting")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class LosesACancel:
    """A handler whose first cancel gets lost, as one can inside a library (Python 3.11's
    asyncio.wait_for, which redis-py uses, may return the result instead)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancels = 0

    async def __call__(self, job: Job, ctx: Any) -> None:
        self.started.set()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancels += 1
                if self.cancels > 1:
                    raise


async def test_a_timeout_sends_a_lost_cancel_again(start_app: StartApp) -> None:
    handler = LosesACancel()
    client = await start_app(handler=handler)
    job = await post(client, timeout=0.05)
    events = await run_to_end(client, job["id"])
    assert kinds(events)[-1] == "error" and events[-1]["message"] == "timed out after 0.05s"
    assert handler.cancels == 2


async def test_a_timeout_cancels_the_handler_and_fails_the_job(start_app: StartApp) -> None:
    blocked = Blocked()
    client = await start_app(handler=blocked)
    job = await post(client, timeout=0.05)
    events = await run_to_end(client, job["id"])
    assert kinds(events) == ["initial", "started", "progress", "error"]
    assert events[-1]["message"] == "timed out after 0.05s"
    assert blocked.cancelled == 1
    failed = await fetch(client, job["id"])
    assert failed["status"] == "failed" and failed["error"] == "timed out after 0.05s"


async def test_a_timed_out_attempt_is_retried(start_app: StartApp) -> None:
    blocked = Blocked()
    client = await start_app(handler=blocked, retry_base_ms=1, job_timeout=0.05)
    job = await post(client, max_attempts=2)
    assert job["timeout"] == 0.05
    events = await run_to_end(client, job["id"])
    assert kinds(events).count("retry") == 1 and kinds(events)[-1] == "error"
    assert next(e for e in events if e["type"] == "retry")["error"] == "timed out after 0.05s"
    assert blocked.cancelled == 2


async def test_timeout_null_lifts_the_default_limit(start_app: StartApp) -> None:
    client = await start_app(job_timeout=0.001, job_step_ms=5)
    job = await post(client, timeout=None)
    assert "timeout" not in job
    assert kinds(await run_to_end(client, job["id"]))[-1] == "completed"


async def test_a_job_with_no_progress_for_stall_seconds_is_stalled(start_app: StartApp) -> None:
    blocked = Blocked()
    client = await start_app(handler=blocked, stall_seconds=0.1, retry_base_ms=1)
    job = await post(client, max_attempts=2)
    events = await run_to_end(client, job["id"])
    attempt = ["started", "progress", "stalled"]
    assert kinds(events) == ["initial", *attempt, "retry", *attempt, "error"]
    stalled = next(e for e in events if e["type"] == "stalled")
    assert stalled["attempt"] == "1" and stalled["message"] == "stalled: no progress for 0.1s"
    assert blocked.cancelled == 2
    assert (await fetch(client, job["id"]))["status"] == "failed"


async def test_a_job_that_keeps_reporting_is_not_stalled(start_app: StartApp) -> None:
    client = await start_app(stall_seconds=0.5, job_step_ms=20)
    job = await post(client)
    assert kinds(await run_to_end(client, job["id"]))[-1] == "completed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("max_attempts", 101),
        ("max_attempts", "3"),
        ("max_attempts", 2.5),
        ("max_attempts", True),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", "10"),
        ("timeout", False),
        ("priority", "high"),
        ("priority", 1.5),
        ("priority", None),
        ("priority", 10**7),
        ("delay_ms", -1),
        ("delay_ms", 1.5),
        ("delay_ms", [1]),
    ],
)
async def test_a_bad_field_is_a_400_naming_it(client: Client, field: str, value: Any) -> None:
    response = await client.post("/job", json={"data": 1, field: value})
    assert response.status == 400, await response.text()
    assert f'"{field}"' in (await response.json())["error"]


async def test_an_integer_sent_as_a_whole_float_is_taken(client: Client) -> None:
    """JSON (and JavaScript) do not tell 86.0 from 86, and neither does JSON Schema's
    "integer": schemathesis found that 86.0 was refused."""
    body = {"data": 1, "max_attempts": 86.0, "priority": -3.0, "delay_ms": 0.0}
    response = await client.post("/job", json=body)
    assert response.status == 201, await response.text()
    job = await response.json()
    assert job["max_attempts"] == 86 and job["priority"] == -3
