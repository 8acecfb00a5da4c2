"""Two apps on one Redis with STORE=redis, as two processes would be: any app answers for
any job, one Idempotency-Key makes one job, and a job whose lease lapses runs again on the
other app while the first one's late outcome is refused."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jobservice.core.models import Job
from jobservice.http.keys import EVENTS, REDIS, WORKER
from jobservice.stream.redis_server import EmbeddedRedis

from .conftest import Client, StartApp, create_job, run_to_end
from .service import HANG
from .sse import parse_stream
from .test_cancel import Gate
from .test_feed import take_until
from .test_lifecycle import fetch, kinds


@pytest.fixture
def shared(own_redis: EmbeddedRedis, start_app: StartApp, tmp_path: Path) -> StartApp:
    """Start an app on the test's Redis with the Redis store. Every app gets the same data
    dir: with a REDIS_URL, the Redis store keeps no files there and takes no lock."""

    async def start(handler: Any = None, **overrides: Any) -> Client:
        return await start_app(
            handler, store="redis", redis_url=own_redis.url, data_dir=tmp_path / "shared",
            **overrides,
        )  # fmt: skip

    return start


async def started_on(handlers: dict[str, Any]) -> str:
    """Which app's handler (one with a `started` event) took the job."""
    waits = {asyncio.ensure_future(h.started.wait()): name for name, h in handlers.items()}
    done, pending = await asyncio.wait(waits, timeout=HANG, return_when=asyncio.FIRST_COMPLETED)
    for other in pending:
        other.cancel()
    assert done, "no app ran the job"
    return waits[done.pop()]


async def test_a_job_made_on_one_app_is_read_streamed_and_listed_on_the_other(
    shared: StartApp,
) -> None:
    a, b = await shared(), await shared()
    job = await create_job(a)
    assert (await fetch(b, job["id"]))["data"] == job["data"]
    events = await run_to_end(b, job["id"])
    assert kinds(events) == ["initial", "started"] + ["progress"] * 5 + ["completed"]
    assert (await fetch(a, job["id"]))["status"] == "succeeded"
    listed = await (await b.get("/jobs")).json()
    assert [other["id"] for other in listed["jobs"]] == [job["id"]]
    feed = await take_until(b, job["id"], "completed", last_event_id="0-0")
    mine = [event.json["type"] for event in feed if event.json["jobId"] == job["id"]]
    assert mine == ["created", "started"] + ["progress"] * 5 + ["completed"]


async def test_a_cancel_sent_to_the_other_app_stops_the_job(shared: StartApp) -> None:
    gates = {"a": Gate(), "b": Gate()}
    apps = {"a": await shared(gates["a"]), "b": await shared(gates["b"])}
    job = await create_job(apps["a"])
    runs_on = await started_on(gates)
    other = apps["b" if runs_on == "a" else "a"]
    watching = asyncio.create_task(run_to_end(other, job["id"]))
    response = await other.post(f"/job/{job['id']}/cancel")
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "cancelled"
    assert gates[runs_on].cancelled
    assert kinds(await watching)[-1] == "cancelled"
    for app in apps.values():
        assert (await fetch(app, job["id"]))["status"] == "cancelled"
        again = await app.post(f"/job/{job['id']}/cancel")
        assert again.status == 409


async def test_a_delete_sent_to_the_other_app_cancels_then_removes_the_job(
    shared: StartApp,
) -> None:
    gates = {"a": Gate(), "b": Gate()}
    apps = {"a": await shared(gates["a"]), "b": await shared(gates["b"])}
    job = await create_job(apps["b"])
    runs_on = await started_on(gates)
    other = apps["b" if runs_on == "a" else "a"]
    assert (await other.delete(f"/job/{job['id']}")).status == 204
    assert gates[runs_on].cancelled
    feed = await take_until(other, job["id"], "deleted", last_event_id="0-0")
    mine = [event.json for event in feed if event.json["jobId"] == job["id"]]
    # The feed's order across processes is Redis's arrival order: `created` (written by the
    # app that took the POST) may land after `started` (by the app that runs the job).
    assert sorted(kinds(mine)[:2]) == ["created", "started"]
    assert kinds(mine)[2:] == ["cancelled", "deleted"]
    for app in apps.values():
        assert (await app.get(f"/job/{job['id']}")).status == 404
        assert (await app.delete(f"/job/{job['id']}")).status == 404
    assert await apps["a"].app[REDIS].exists(apps["a"].app[EVENTS].stream(job["id"])) == 0


async def test_one_idempotency_key_sent_to_both_apps_at_once_makes_one_job(
    shared: StartApp,
) -> None:
    a, b = await shared(), await shared()
    for attempt in range(10):
        headers = {"Idempotency-Key": f"order-{attempt}"}
        responses = await asyncio.gather(
            a.post("/job", json={"data": "from a"}, headers=headers),
            b.post("/job", json={"data": "from b"}, headers=headers),
        )
        assert Counter(response.status for response in responses) == {201: 1, 200: 1}
        first, second = [await response.json() for response in responses]
        assert first["id"] == second["id"] and first["data"] == second["data"]
    listed = await (await a.get("/jobs", params={"limit": "100"})).json()
    assert len(listed["jobs"]) == 10


async def test_a_lapsed_lease_runs_the_job_again_elsewhere_and_the_late_outcome_is_refused(
    shared: StartApp,
) -> None:
    gate = Gate()

    async def late_failure(job: Job, ctx: Any) -> None:
        await gate(job, ctx)
        raise RuntimeError("the late outcome of the first run")

    a = await shared(late_failure, job_lease_seconds=0.5, worker_concurrency=1)
    job = await create_job(a)
    await gate.started.wait()
    b = await shared(job_lease_seconds=0.5)
    await a.app[WORKER].leases.stop()  # a hangs, as far as its lease can tell
    events = await run_to_end(b, job["id"])
    assert kinds(events) == ["initial", "started", "restarted", "started"] + ["progress"] * 5 + [
        "completed"
    ]
    gate.open.set()  # a wakes up and would fail the job
    async with asyncio.timeout(HANG):
        while a.app[WORKER].running:
            await asyncio.sleep(0.01)
    record = await fetch(b, job["id"])
    assert record["status"] == "succeeded" and record["attempts"] == 2 and "error" not in record
    assert len(record["output"]) == 5
    async with b.get(f"/job/{job['id']}/stream") as response:
        replayed = kinds([event.json for event in await parse_stream(response)])
    assert replayed.count("completed") == 1 and "error" not in replayed


async def test_a_watcher_ends_when_another_app_deletes_its_job(shared: StartApp) -> None:
    """The watcher resumed from an id past anything the job's stream will hold, so it never
    sees the job's last event: its idle check must find the job gone from the store."""
    a, b = await shared(stream_block_ms=100), await shared()
    job = await (await a.post("/job", json={"data": 1, "delay_ms": 600_000})).json()
    headers = {"Last-Event-ID": "99999999999999-0"}
    async with a.get(f"/job/{job['id']}/stream", headers=headers) as response:
        assert response.status == 200
        assert (await b.delete(f"/job/{job['id']}")).status == 204
        async with asyncio.timeout(HANG):
            assert await parse_stream(response) == []


class Stubborn:
    """A handler that shrugs off cancels until the test releases it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancels = 0

    async def __call__(self, job: Job, ctx: Any) -> None:
        self.started.set()
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancels += 1


async def test_a_cancel_the_other_app_has_not_carried_out_yet_is_a_202(shared: StartApp) -> None:
    handlers = {"a": Stubborn(), "b": Stubborn()}
    apps = {name: await shared(handler) for name, handler in handlers.items()}
    job = await create_job(apps["a"])
    runs_on = await started_on(handlers)
    other = apps["b" if runs_on == "a" else "a"]
    for method, path in (("POST", f"/job/{job['id']}/cancel"), ("DELETE", f"/job/{job['id']}")):
        response = await other.request(method, path)
        assert response.status == 202, await response.text()
        assert (await response.json())["status"] == "processing"
    assert handlers[runs_on].cancels >= 1
    handlers[runs_on].release.set()
    assert kinds(await run_to_end(other, job["id"]))[-1] == "cancelled"
    assert (await other.delete(f"/job/{job['id']}")).status == 204


async def test_an_app_with_no_files_is_ready_and_counts_the_shared_queue(
    shared: StartApp,
) -> None:
    a, b = await shared(), await shared()
    for n in range(3):
        await a.post("/job", json={"data": n, "delay_ms": 600_000})
    response = await b.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"redis": "ok", "workers": "ok"}
    metrics = await (await b.get("/metrics")).text()
    assert "jobservice_queue_depth 3.0" in metrics.splitlines()


async def test_with_redis_away_requests_are_503_and_the_jobs_come_back_with_it(
    shared: StartApp, own_redis: EmbeddedRedis
) -> None:
    a = await shared()
    job = await (await a.post("/job", json={"data": 1, "delay_ms": 600_000})).json()
    await own_redis.stop()
    for path in (f"/job/{job['id']}", "/jobs", f"/job/{job['id']}/stream"):
        response = await a.get(path)
        assert response.status == 503, await response.text()
        assert (await response.json())["error"].startswith("Redis is unavailable: ")
    response = await a.post("/job", json={"data": 2})
    assert response.status == 503
    assert (await response.json())["error"].startswith("Job could not be stored: ")
    await own_redis.start()
    assert (await fetch(a, job["id"]))["status"] == "pending"


async def test_a_job_short_of_its_replicas_is_a_503_yet_stored(shared: StartApp) -> None:
    a = await shared(redis_wait_replicas=1)
    headers = {"Idempotency-Key": "needs-a-replica"}
    response = await a.post("/job", json={"data": 1}, headers=headers)
    assert response.status == 503
    assert "not confirmed by the replicas" in (await response.json())["error"]
    listed = await (await a.get("/jobs")).json()
    assert [job["idempotency_key"] for job in listed["jobs"]] == ["needs-a-replica"]
