"""Jobs survive restarts: snapshot + journal on disk, re-queued and re-run on start."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from jobservice.core.errors import CorruptFileError
from jobservice.core.settings import Settings
from jobservice.store.jobstore import JobStore

from .conftest import Client, StartApp, create_job, run_to_end
from .test_stream import Gate


def read_json(path: Path) -> object:
    return json.loads(path.read_text())


def journals(settings: Settings) -> list[Path]:
    return sorted(settings.data_dir.glob("journal-*.jsonl"))


async def restart(client: Client, start_app: StartApp, **overrides: object) -> Client:
    await client.close()
    return await start_app(**overrides)


async def test_finished_jobs_and_their_streams_survive_a_restart(
    client: Client, start_app: StartApp
) -> None:
    job = await create_job(client)
    before = await run_to_end(client, job["id"])
    stored = await (await client.get(f"/job/{job['id']}")).json()
    client = await restart(client, start_app)
    assert await (await client.get(f"/job/{job['id']}")).json() == stored
    after = await run_to_end(client, job["id"])
    assert after[1:] == before[1:]


async def test_a_clean_stop_leaves_complete_snapshots_and_no_journal(
    start_app: StartApp, settings: Settings
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    running = await create_job(client, "first")
    waiting = [await create_job(client, n) for n in range(3)]
    await gate.started.wait()
    await client.close()
    jobs = read_json(settings.data_dir / "jobs.json")
    assert isinstance(jobs, dict)
    assert set(jobs) == {running["id"], *(job["id"] for job in waiting)}
    assert jobs[running["id"]]["status"] == "processing"  # cut off: it runs again next time
    assert read_json(settings.data_dir / "queue.json") == [job["id"] for job in waiting]
    assert journals(settings) == []


async def test_pending_and_interrupted_jobs_run_after_a_restart(
    start_app: StartApp,
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    interrupted = await create_job(client, "first")
    waiting = [await create_job(client, n) for n in range(2)]
    await gate.started.wait()
    client = await restart(client, start_app)
    events = await run_to_end(client, interrupted["id"])
    kinds = [event["type"] for event in events]
    assert kinds[:4] == ["initial", "started", "progress", "restarted"]
    assert kinds[4:] == ["started"] + ["progress"] * 5 + ["completed"]
    assert events[3]["attempt"] == "1"
    done = await (await client.get(f"/job/{interrupted['id']}")).json()
    assert done["status"] == "succeeded" and done["attempts"] == 2
    for job in waiting:
        assert (await run_to_end(client, job["id"]))[-1]["type"] == "completed"


async def test_jobs_survive_compaction_while_they_are_created(
    start_app: StartApp, settings: Settings
) -> None:
    client = await start_app(compact_every=3)
    created = [await create_job(client, n) for n in range(20)]
    for job in created:
        await run_to_end(client, job["id"])
    assert (settings.data_dir / "jobs.json").exists()
    client = await restart(client, start_app)
    for job in created:
        stored = await (await client.get(f"/job/{job['id']}")).json()
        assert stored["status"] == "succeeded" and stored["data"] == job["data"]


async def test_a_torn_last_journal_line_is_dropped_and_the_rest_kept(
    start_app: StartApp, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = await start_app()
    kept = [await create_job(client, n) for n in range(3)]
    for job in kept:
        await run_to_end(client, job["id"])
    await client.close()
    jobs = read_json(settings.data_dir / "jobs.json").values()  # type: ignore[union-attr]
    records = [{"put": {k: v for k, v in job.items() if k != "crc"}} for job in jobs]
    # The journal of an older version, without checksums, and no snapshot or manifest.
    (settings.data_dir / "jobs.json").unlink()
    (settings.data_dir / "manifest.json").unlink()
    lines = b"".join(json.dumps(record).encode() + b"\n" for record in records)
    (settings.data_dir / "journal-000007.jsonl").write_bytes(lines + b'{"put": {"id": "torn')
    with caplog.at_level(logging.WARNING):
        client = await start_app()
    assert "torn last line" in caplog.text
    for job in kept:
        assert (await client.get(f"/job/{job['id']}")).status == 200


@pytest.mark.parametrize("name", ["jobs.json", "queue.json"])
async def test_a_corrupt_snapshot_stops_the_store_and_is_left_alone(
    tmp_path: Path, name: str
) -> None:
    snapshot = tmp_path / name
    snapshot.write_text('{"a": {"id": "a", "stat')
    with pytest.raises(CorruptFileError, match=name):
        await JobStore(tmp_path).open()
    assert snapshot.read_text() == '{"a": {"id": "a", "stat'
    assert list(tmp_path.glob("journal-*")) == []


async def test_finished_jobs_read_back_whole_after_two_restarts(
    client: Client, start_app: StartApp, settings: Settings
) -> None:
    done = [await create_job(client, {"n": n, "text": 'a "quoted" ,"data": x'}) for n in range(4)]
    for job in done:
        await run_to_end(client, job["id"])
    before = [await (await client.get(f"/job/{job['id']}")).json() for job in done]
    client = await restart(client, start_app)
    client = await restart(client, start_app)  # the snapshot is rewritten from stored bytes
    after = [await (await client.get(f"/job/{job['id']}")).json() for job in done]
    assert after == before
    listed = await (await client.get("/jobs?status=succeeded&type=demo")).json()
    assert [job["id"] for job in listed["jobs"]] == [job["id"] for job in reversed(done)]
    assert (await (await client.get("/jobs?status=failed")).json())["jobs"] == []
    snapshot = (settings.data_dir / "jobs.json").read_text()
    assert json.loads(snapshot).keys() == {job["id"] for job in done}
    assert snapshot.count("\n") == len(done) + 2  # "{", a line per job, "}"


async def test_retention_removes_jobs_loaded_from_the_snapshot(
    client: Client, start_app: StartApp
) -> None:
    job = await create_job(client)
    await run_to_end(client, job["id"])
    client = await restart(client, start_app, retention_seconds=0, retention_sweep_seconds=0.05)
    async with asyncio.timeout(10):
        while (await client.get(f"/job/{job['id']}")).status != 404:
            await asyncio.sleep(0.05)


async def test_a_one_line_snapshot_from_an_older_version_loads(
    start_app: StartApp, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True)
    old = {"id": "old-1", "status": "succeeded", "created": 1715346000000,
           "updated": 1715346010000, "data": {"your": "job data"}, "output": []}  # fmt: skip
    (settings.data_dir / "jobs.json").write_text(json.dumps({"old-1": old}))
    client = await start_app()
    stored = await (await client.get("/job/old-1")).json()
    assert stored["status"] == "succeeded" and stored["data"] == old["data"]
