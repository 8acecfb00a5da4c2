"""Damaged files (a changed byte, a line or file removed, a journal cut short, a record of the
wrong shape): the service refuses to start and names the file and line; `jobservice check`
lists the damage; `check --fix` moves it aside and the service starts with every intact job."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from jobservice.core import codec
from jobservice.core.settings import Settings
from jobservice.store.integrity import seal

from .conftest import StartApp, create_job, run_to_end
from .files import (
    change_line,
    check,
    crash_image,
    finished,
    finished_jobs,
    fixed,
    line_of,
    refused,
    remove_line,
    served,
    write_journal,
)
from .service import HANG
from .test_stream import Gate

CHANGED_BYTES = [
    (b'"data":{"n":2}', b'"data":{"n":7}'),  # still JSON: it was served as changed
    (b'"output":[', b'"output":{'),  # not JSON: it was a 500, on the job and on GET /jobs
]


@pytest.mark.parametrize(("old", "new"), CHANGED_BYTES)
async def test_a_changed_byte_in_a_job_is_refused_then_set_aside(
    start_app: StartApp, settings: Settings, old: bytes, new: bytes
) -> None:
    jobs = await finished(start_app)
    snapshot = settings.data_dir / "jobs.json"
    number = line_of(snapshot, jobs[2]["id"])
    change_line(snapshot, number, old, new)
    pattern = rf"jobs\.json:{number}: does not match its checksum \(job '{jobs[2]['id']}'\)"
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "jobs.json")
    client = await start_app()
    assert (await client.get(f"/job/{jobs[2]['id']}")).status == 404
    intact = jobs[:2] + jobs[3:]
    await served(client, intact)
    listed = await (await client.get("/jobs")).json()
    assert [job["id"] for job in listed["jobs"]] == [job["id"] for job in reversed(intact)]


async def test_a_removed_snapshot_line_is_named(start_app: StartApp, settings: Settings) -> None:
    jobs = await finished(start_app)
    snapshot = settings.data_dir / "jobs.json"
    number = line_of(snapshot, jobs[2]["id"])
    remove_line(snapshot, number)
    pattern = rf"jobs\.json:{number}: the job line before this one is missing"
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "jobs.json")
    client = await start_app()
    await served(client, jobs[:2] + jobs[3:])


async def test_the_last_snapshot_line_removed_is_counted(
    start_app: StartApp, settings: Settings
) -> None:
    jobs = await finished(start_app, count=3)
    snapshot = settings.data_dir / "jobs.json"
    number = line_of(snapshot, jobs[2]["id"])
    remove_line(snapshot, number)
    change_line(snapshot, number - 1, None, snapshot.read_bytes().split(b"\n")[number - 2][:-1])
    pattern = r"jobs\.json: holds 2 jobs where manifest\.json counts 3"
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "jobs.json")
    await served(await start_app(), jobs[:2])


async def test_a_removed_snapshot_is_noticed_and_the_journals_kept(
    start_app: StartApp, settings: Settings, tmp_path: Path
) -> None:
    await finished(start_app)
    client = await start_app()
    later = [await create_job(client, {"later": n}) for n in range(2)]
    for job in later:
        await run_to_end(client, job["id"])
    crashed = crash_image(settings.data_dir, tmp_path / "crashed")
    await client.close()
    (crashed / "jobs.json").unlink()
    pattern = r"jobs\.json: is missing, but manifest\.json describes it"
    await refused(settings, pattern, data_dir=crashed)
    aside = await fixed(crashed, pattern, "manifest.json")
    assert {path.name for path in aside.glob("journal-*")} != set()
    client = await start_app(data_dir=crashed)
    await served(client, later)
    assert len((await (await client.get("/jobs")).json())["jobs"]) == 2


async def test_a_snapshot_removed_with_its_manifest_is_noticed_by_the_journals(
    start_app: StartApp, settings: Settings, tmp_path: Path
) -> None:
    await finished(start_app)
    client = await start_app()
    later = await create_job(client)
    await run_to_end(client, later["id"])
    crashed = crash_image(settings.data_dir, tmp_path / "crashed")
    await client.close()
    (crashed / "jobs.json").unlink()
    (crashed / "manifest.json").unlink()
    await refused(settings, r"journal-\d+\.jsonl:1: records 1 to \d+ are missing", data_dir=crashed)


async def test_a_journal_cut_short_before_the_next_one_is_refused(
    start_app: StartApp, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True)
    first, second = finished_jobs(10), finished_jobs(10)
    cut = settings.data_dir / "journal-000001.jsonl"
    after = await write_journal(cut, first, 1)
    await write_journal(settings.data_dir / "journal-000002.jsonl", second, after)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # half the records, the last one torn
    kept = data[: len(data) // 2].count(b"\n")
    pattern = rf"journal-000002\.jsonl:1: records {kept + 1} to 10 are missing"
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "journal-000001.jsonl")
    client = await start_app()
    intact = [job.to_dict() for job in first[:kept] + second]
    await served(client, intact)
    assert (await client.get(f"/job/{first[kept].id}")).status == 404


async def test_the_newest_journal_cut_short_is_noticed_once_marked(
    start_app: StartApp, settings: Settings, tmp_path: Path
) -> None:
    client = await start_app()
    jobs = [await create_job(client, {"n": n}) for n in range(6)]
    for job in jobs:
        await run_to_end(client, job["id"])
    journal = settings.data_dir / "journal-000001.jsonl"
    last = json.loads(journal.read_bytes().splitlines()[-1])["seq"]
    mark = settings.data_dir / "mark.json"
    async with asyncio.timeout(HANG):  # written once a second
        while not mark.exists() or json.loads(mark.read_bytes())["seq"] < last:
            await asyncio.sleep(0.1)
    crashed = crash_image(settings.data_dir, tmp_path / "crashed")
    await client.close()
    cut = crashed / journal.name
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    kept = data[: len(data) // 2].count(b"\n")
    pattern = (
        rf"mark\.json: says records up to {last} were on disk, but the last record is {kept} "
        rf"\(journal-000001\.jsonl:{kept}\): records {kept + 1} to {last} are missing"
    )
    await refused(settings, pattern, data_dir=crashed)
    await fixed(crashed, pattern, "journal-000001.jsonl")
    await served(await start_app(data_dir=crashed), jobs[:1])


async def test_a_journal_removed_between_two_others_is_refused(
    start_app: StartApp, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True)
    seq = 1
    for number in (1, 2, 3):
        seq = await write_journal(settings.data_dir / f"journal-00000{number}.jsonl",
                                  finished_jobs(4), seq)  # fmt: skip
    (settings.data_dir / "journal-000002.jsonl").unlink()
    await refused(settings, r"journal-000003\.jsonl:1: records 5 to 8 are missing")


WRONG_SHAPES = [
    b"[1, 2]",
    b'{"put": 5}',
    b'{"put": {"id": "x"}}',
    b'{"del": 5}',
    b'{"nope": {}}',
    b'{"put": {"id": "x", "status": "pending", "created": "soon", "updated": 1}}',
]


@pytest.mark.parametrize("line", WRONG_SHAPES)
async def test_a_journal_line_of_the_wrong_shape_is_named_not_a_traceback(
    start_app: StartApp, settings: Settings, line: bytes
) -> None:
    settings.data_dir.mkdir(parents=True)
    jobs = [job.to_dict() for job in finished_jobs(2)]
    records = [codec.dumps({"put": job}) for job in jobs]
    # An older version's journal: no checksums, so the shape is all there is to look at.
    journal = settings.data_dir / "journal-000001.jsonl"
    journal.write_bytes(b"\n".join([records[0], line, records[1]]) + b"\n")
    pattern = r"journal-000001\.jsonl:2: (is not a journal record|puts a job that is not)"
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "journal-000001.jsonl")
    await served(await start_app(), jobs)


async def test_a_sealed_journal_line_of_the_wrong_shape_is_named(
    start_app: StartApp, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True)
    journal = settings.data_dir / "journal-000001.jsonl"
    after = await write_journal(journal, finished_jobs(2), 1)
    with journal.open("ab") as file:  # its checksum is right: only its shape is wrong
        file.write(seal(b'{"put":{"id":"x"},"seq":%d' % after) + b"\n")
    await refused(settings, r"journal-000001\.jsonl:3: cannot be read as a change to a job")


async def test_a_changed_queue_is_refused_and_its_jobs_still_run(
    start_app: StartApp, settings: Settings
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1)
    jobs = [await create_job(client, n) for n in range(4)]
    await gate.started.wait()
    await client.close()
    queue = settings.data_dir / "queue.json"
    ids = json.loads(queue.read_bytes())
    assert ids == [job["id"] for job in jobs[1:]]
    queue.write_bytes(codec.dumps([ids[1], ids[0], ids[2]]))  # still valid JSON, still ids
    pattern = r"queue\.json:1: does not match its checksum in manifest\.json"
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "queue.json")
    client = await start_app()
    for job in jobs:
        assert (await run_to_end(client, job["id"]))[-1]["type"] == "completed"


MANIFEST_DAMAGE = [
    (b"{oops", r"manifest\.json:1: does not match its checksum"),
    (b'{"journal": 1}', r"manifest\.json:1: does not match its checksum"),
    (None, r"manifest\.json: is missing, but jobs\.json was written with one"),
]


@pytest.mark.parametrize(("damage", "pattern"), MANIFEST_DAMAGE)
async def test_a_damaged_or_removed_manifest_is_refused(
    start_app: StartApp, settings: Settings, damage: bytes | None, pattern: str
) -> None:
    jobs = await finished(start_app)
    manifest = settings.data_dir / "manifest.json"
    if damage is None:
        manifest.unlink()
    else:
        manifest.write_bytes(damage)
    await refused(settings, pattern)
    await fixed(settings.data_dir, pattern, "jobs.json" if damage is None else "manifest.json")
    await served(await start_app(), jobs)


async def test_every_damage_is_listed_at_once(start_app: StartApp, settings: Settings) -> None:
    jobs = await finished(start_app)
    snapshot = settings.data_dir / "jobs.json"
    for job in (jobs[0], jobs[3]):
        change_line(snapshot, line_of(snapshot, job["id"]), b'"status":"', b'"status":"x')
    (settings.data_dir / "queue.json").write_bytes(b'["x"]')
    code, out = await check(settings.data_dir)
    assert code == 1
    assert out.count("does not match its checksum") == 3, out
    assert "3 problems, 3 jobs intact" in out, out
