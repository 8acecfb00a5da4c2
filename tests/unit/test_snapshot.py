"""The snapshot file's layout: one job per line, read back as bytes, damage refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobservice.core import codec
from jobservice.core.errors import CorruptFileError
from jobservice.core.models import Job, JobIds, Status
from jobservice.store.integrity import Problems
from jobservice.store.snapshot import Stored, read_snapshot, snapshot_lines


def write(path: Path, jobs: list[Job]) -> None:
    chunks = snapshot_lines((job.id, codec.dumps(job.to_dict())) for job in jobs)
    path.write_bytes(b"".join(chunks))


def read_all(path: Path) -> list[tuple[str, bytes]]:
    """Every line looked at, as when the file is not the one its manifest describes."""
    entries = read_snapshot(path, path.read_bytes(), Problems(strict=True), True, True)
    return [(job_id, raw) for _, job_id, raw in entries]


def test_jobs_read_back_as_written_and_the_file_is_one_json_object(tmp_path: Path) -> None:
    ids = JobIds()
    jobs = [Job.new({"n": n}, ids, idempotency_key=f"k{n}") for n in range(3)]
    jobs[1].move_to(Status.SUCCEEDED)
    path = tmp_path / "jobs.json"
    write(path, jobs)
    assert set(codec.loads(path.read_bytes())) == {job.id for job in jobs}
    read = dict(read_all(path))
    assert [Stored.parse(read[job.id]).job() for job in jobs] == jobs
    head = Stored.parse(read[jobs[1].id])
    assert (head.status, head.idempotency_key) == (Status.SUCCEEDED, "k1")


def test_an_empty_store_writes_an_empty_object(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    write(path, [])
    assert codec.loads(path.read_bytes()) == {}
    assert read_all(path) == []


def test_a_one_line_file_written_by_hand_is_read(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    job = Job.new("x", JobIds())
    path.write_bytes(codec.dumps({job.id: job.to_dict()}))
    assert [job_id for job_id, _ in read_all(path)] == [job.id]


@pytest.mark.parametrize("damage", [lambda b: b[:-3], lambda b: b.replace(b'\n"', b"\nx", 1)])
def test_a_damaged_file_is_refused_naming_it(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "jobs.json"
    write(path, [Job.new("x", JobIds()), Job.new("y", JobIds())])
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(CorruptFileError, match=r"jobs\.json"):
        read_all(path)
