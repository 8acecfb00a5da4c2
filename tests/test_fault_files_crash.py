"""What a crash or an older version leaves is not damage: a torn last line, a snapshot cut off
around its commit, files without checksums. And one process at a time uses a data directory."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from jobservice.core import codec
from jobservice.core.errors import DataDirInUse
from jobservice.core.settings import Settings

from .conftest import StartApp, create_job, run_to_end
from .files import (
    check,
    crash_image,
    finished,
    finished_jobs,
    served,
    startup_error,
    write_journal,
)
from .service import Service, post_job


async def test_a_torn_last_line_starts_with_a_note_naming_it(
    start_app: StartApp, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = await start_app()
    jobs = [await create_job(client, n) for n in range(3)]
    for job in jobs:
        await run_to_end(client, job["id"])
    crashed = crash_image(settings.data_dir, tmp_path / "crashed")
    await client.close()
    (journal,) = crashed.glob("journal-*")
    lines = journal.read_bytes().count(b"\n")
    with journal.open("ab") as file:
        file.write(b'{"put":{"id":"torn')
    code, out = await check(crashed)
    assert code == 0, out
    assert f"{journal.name}:{lines + 1}: dropping a torn last line (18 bytes)" in out
    with caplog.at_level(logging.WARNING):
        client = await start_app(data_dir=crashed)
    assert f"{journal.name}:{lines + 1}: dropping a torn last line" in caplog.text
    await served(client, jobs)


async def test_a_snapshot_cut_off_after_its_commit_is_finished_on_start(
    start_app: StartApp, settings: Settings, tmp_path: Path
) -> None:
    old = await finished(start_app, count=2)
    kept = shutil.copy(settings.data_dir / "jobs.json", tmp_path / "old-jobs.json")
    client = await start_app()
    new = [await create_job(client, "new")]
    await run_to_end(client, new[0]["id"])
    await client.close()
    # As a crash right after the manifest's commit leaves it: the new jobs.json beside its place.
    (settings.data_dir / "jobs.json").rename(settings.data_dir / ".jobs.json.tmp")
    shutil.copy(kept, settings.data_dir / "jobs.json")
    code, out = await check(settings.data_dir)
    assert code == 0 and "cut off writing the snapshot after its commit" in out, out
    client = await start_app()
    await served(client, old + new)
    assert not (settings.data_dir / ".jobs.json.tmp").exists()


async def test_a_snapshot_cut_off_before_its_commit_leaves_the_old_one(
    start_app: StartApp, settings: Settings
) -> None:
    jobs = await finished(start_app, count=2)
    # As a crash while the next snapshot was being written leaves it.
    (settings.data_dir / ".jobs.json.tmp").write_bytes(b'{\n"half')
    (settings.data_dir / ".manifest.json.tmp").write_bytes(b'{"form')
    code, out = await check(settings.data_dir)
    assert code == 0 and "no damage found (2 jobs" in out, out
    await served(await start_app(), jobs)


async def test_files_of_an_older_version_load_and_get_checksums(
    start_app: StartApp, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.data_dir.mkdir(parents=True)
    snapshotted, journaled = finished_jobs(2), finished_jobs(2)
    # As the previous version wrote them: one job per line, and journal lines, no checksums.
    lines = b",\n".join(codec.dumps(job.id) + b":" + codec.dumps(job.to_dict())
                        for job in snapshotted)  # fmt: skip
    (settings.data_dir / "jobs.json").write_bytes(b"{\n" + lines + b"\n}\n")
    (settings.data_dir / "queue.json").write_bytes(b"[]")
    (settings.data_dir / "journal-000004.jsonl").write_bytes(
        b"".join(codec.dumps({"put": job.to_dict()}) + b"\n" for job in journaled)
    )
    with caplog.at_level(logging.INFO):
        client = await start_app()
    assert "jobs.json: has no checksums (an older version wrote it)" in caplog.text
    everything = [job.to_dict() for job in snapshotted + journaled]
    await served(client, everything)
    await client.close()
    snapshot = json.loads((settings.data_dir / "jobs.json").read_bytes())
    assert all(len(job["crc"]) == 16 for job in snapshot.values())
    assert (settings.data_dir / "manifest.json").exists()
    code, out = await check(settings.data_dir)
    assert code == 0 and "no damage found (4 jobs" in out, out
    await served(await start_app(), everything)


async def test_a_check_fix_of_an_older_version_writes_checksums(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    jobs = finished_jobs(2)
    (settings.data_dir / "jobs.json").write_text(json.dumps({j.id: j.to_dict() for j in jobs}))
    code, out = await check(settings.data_dir)
    assert code == 0 and "jobs.json: has no checksums (an older version wrote it)" in out, out
    code, out = await check(settings.data_dir, "--fix")
    assert code == 0 and "the service can start" in out, out


async def test_records_after_the_snapshot_continue_its_numbering(
    start_app: StartApp, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True)
    after = await write_journal(settings.data_dir / "journal-000001.jsonl", finished_jobs(3), 1)
    assert after == 4
    await (await start_app()).close()  # compacts: the snapshot holds records 1 to 3
    manifest = json.loads((settings.data_dir / "manifest.json").read_bytes())
    assert (manifest["seq"], manifest["jobs"]) == (3, 3)
    assert list(settings.data_dir.glob("journal-*")) == []


async def test_a_second_service_on_the_same_directory_is_refused(
    start_app: StartApp, settings: Settings
) -> None:
    client = await start_app()
    error = await startup_error(settings)
    assert isinstance(error, DataDirInUse)
    assert re.search(r"in use by jobservice serve \(pid \d+\)\. Stop the other one", str(error))
    code, out = await check(settings.data_dir)
    assert code == 2 and "in use by jobservice serve" in out, out
    job = await create_job(client)  # the first one carries on
    assert (await run_to_end(client, job["id"]))[-1]["type"] == "completed"


@pytest.mark.slow
async def test_a_process_refuses_damage_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    service = Service(data_dir, JOB_STEP_MS="1")
    await service.start()
    async with aiohttp.ClientSession() as session:
        job = await post_job(session, service.url, "kept")
    assert await service.stop() == 0
    snapshot = data_dir / "jobs.json"
    snapshot.write_bytes(snapshot.read_bytes().replace(b'"data":"kept"', b'"data":"kepT"'))
    with pytest.raises(AssertionError):
        await service.start()
    assert await service.stop() == 1
    log = await service.output()
    assert "cannot start: " in log and f"{snapshot}:2: does not match its checksum" in log, log
    assert f"jobservice check --fix {data_dir}" in log and "Traceback" not in log, log
    code, out = await check(data_dir, "--fix")
    assert code == 0, out
    url = f"{service.url}/job/{job['id']}"
    await service.start()
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 404
    assert await service.stop() == 0


async def test_a_jobs_file_written_by_hand_loads_once_the_manifest_is_removed(
    start_app: StartApp, settings: Settings
) -> None:
    await finished(start_app, count=1)
    jobs = finished_jobs(2)
    by_hand = json.dumps({job.id: job.to_dict() for job in jobs})
    (settings.data_dir / "jobs.json").write_text(by_hand)
    message = str(await startup_error(settings))
    assert "jobs.json:1: is not laid out one job per line" in message, message
    (settings.data_dir / "manifest.json").unlink()
    await served(await start_app(), [job.to_dict() for job in jobs])
