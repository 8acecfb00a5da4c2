"""The seed's REST contract: create a job, read it back, see it run to the end."""

from __future__ import annotations

import uuid

from .conftest import Client, create_job, run_to_end


async def test_create_answers_201_with_the_pending_job(client: Client) -> None:
    data = {"your": "job data", "goes": "here"}
    response = await client.post("/job", json={"data": data})
    assert response.status == 201
    job = await response.json()
    assert response.headers["Location"] == f"/job/{job['id']}"
    assert set(job) == {"id", "status", "created", "updated", "data", "type"}
    assert job["type"] == "demo"
    assert uuid.UUID(job["id"]).version == 7  # time-ordered
    assert job["status"] == "pending"
    assert job["data"] == data
    assert isinstance(job["created"], int) and job["created"] == job["updated"]
    assert job["created"] > 1_600_000_000_000


async def test_any_json_value_is_accepted_as_data(client: Client) -> None:
    for data in ([1, 2], "text", 3.5, None, {"nested": {"deep": [True]}}):
        job = await create_job(client, data)
        assert job["data"] == data


async def test_get_returns_the_job_with_its_output_once_done(client: Client) -> None:
    job = await create_job(client, {"your": "job data", "goes": "here"})
    await run_to_end(client, job["id"])
    response = await client.get(f"/job/{job['id']}")
    assert response.status == 200
    done = await response.json()
    assert done["status"] == "succeeded"
    assert done["attempts"] == 1
    assert done["updated"] >= done["created"]
    steps = done["output"]
    assert [step["step"] for step in steps] == [1, 2, 3, 4, 5]
    for step in steps:
        # The original service's fields, and the step count the demo type declares.
        assert set(step) == {"step", "total", "timestamp", "processingTime", "data"}
        assert step["total"] == 5
        assert isinstance(step["timestamp"], int) and isinstance(step["processingTime"], int)
    assert steps[0]["data"] == 'Processed chunk 1 of data: {"your":"job data",...'


async def test_a_failing_handler_fails_the_job_with_its_error(start_app) -> None:  # type: ignore[no-untyped-def]
    async def broken(job, ctx):  # type: ignore[no-untyped-def]
        await ctx.progress("halfway")
        raise ValueError("disk on fire")

    client = await start_app(handler=broken)
    job = await create_job(client)
    events = await run_to_end(client, job["id"])
    assert [event["type"] for event in events] == ["initial", "started", "progress", "error"]
    assert events[-1]["message"] == "disk on fire"
    failed = await (await client.get(f"/job/{job['id']}")).json()
    assert failed["status"] == "failed"
    assert failed["error"] == "disk on fire"
    assert failed["output"][0]["data"] == "halfway"


async def test_worker_keeps_going_after_a_failed_job(start_app) -> None:  # type: ignore[no-untyped-def]
    async def picky(job, ctx):  # type: ignore[no-untyped-def]
        if job.data == "bad":
            raise RuntimeError("no")
        await ctx.progress("ok")

    client = await start_app(handler=picky, worker_concurrency=1)
    bad = await create_job(client, "bad")
    good = await create_job(client, "good")
    assert (await run_to_end(client, bad["id"]))[-1]["type"] == "error"
    assert (await run_to_end(client, good["id"]))[-1]["type"] == "completed"
