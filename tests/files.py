"""Helpers for the file-damage tests: stopped data directories, edits, and `jobservice check`."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from jobservice.core import codec
from jobservice.core.errors import CorruptFileError, StartupError
from jobservice.core.models import Job, JobIds, Status
from jobservice.core.settings import Settings
from jobservice.http.app import create_app
from jobservice.store.journal import Journal

from .conftest import Client, StartApp, create_job, run_to_end
from .service import HANG

SCRIPT = Path(sys.executable).parent / "jobservice"
STORE_FILES = ("jobs.json", "queue.json", "manifest.json", "mark.json")


async def finished(start_app: StartApp, count: int = 5) -> list[dict[str, Any]]:
    """Jobs run to their end, then a clean stop: the snapshot holds them all."""
    client = await start_app()
    jobs = [await create_job(client, {"n": n}) for n in range(count)]
    for job in jobs:
        await run_to_end(client, job["id"])
    await client.close()
    return jobs


def crash_image(data_dir: Path, to: Path) -> Path:
    """The store's files as a kill -9 would leave them, copied from a running service."""
    to.mkdir()
    for path in data_dir.iterdir():
        if path.name in STORE_FILES or path.name.startswith("journal-"):
            shutil.copy(path, to / path.name)
    return to


def line_of(path: Path, job_id: str) -> int:
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if line.startswith(codec.dumps(job_id)):
            return number
    raise AssertionError(f"{job_id} is not in {path}")


def change_line(path: Path, number: int, old: bytes | None, new: bytes) -> None:
    """Replace `old` by `new` in one line (the whole line if `old` is None)."""
    lines = path.read_bytes().split(b"\n")
    assert old is None or old in lines[number - 1], lines[number - 1]
    lines[number - 1] = new if old is None else lines[number - 1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))


def remove_line(path: Path, number: int) -> None:
    lines = path.read_bytes().split(b"\n")
    del lines[number - 1]
    path.write_bytes(b"\n".join(lines))


async def startup_error(settings: Settings, **overrides: Any) -> StartupError:
    """The error startup stops with; what had started is stopped again, as in `serve`."""
    runner = web.AppRunner(create_app(replace(settings, **overrides)), handle_signals=False)
    with pytest.raises(StartupError) as caught:
        await runner.setup()
    await runner.cleanup()
    return caught.value


async def refused(settings: Settings, pattern: str, **overrides: Any) -> str:
    """Startup refuses, naming the file (and line) and saying what to do."""
    error = await startup_error(settings, **overrides)
    message = str(error)
    assert isinstance(error, CorruptFileError) and re.search(pattern, message), message
    assert "jobservice check" in message and "jobservice check --fix" in message, message
    return message


async def check(data_dir: Path, *options: str) -> tuple[int, str]:
    """`jobservice check` as an operator runs it: exit status and everything it printed."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), "check", *options, str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), HANG)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def fixed(data_dir: Path, pattern: str, damaged: str) -> Path:
    """`check` reports the damage, `check --fix` moves `damaged` aside as it was, and a second
    `check` finds nothing. Returns the folder the damage went to."""
    before = (data_dir / damaged).read_bytes() if (data_dir / damaged).exists() else None
    code, out = await check(data_dir)
    assert code == 1 and re.search(pattern, out), out
    code, out = await check(data_dir, "--fix")
    assert code == 0 and re.search(pattern, out), out
    (aside,) = data_dir.glob("damaged-*")
    if before is not None:
        assert (aside / damaged).read_bytes() == before
    assert re.search(pattern, (aside / "check.txt").read_text())
    code, out = await check(data_dir)
    assert code == 0 and "no damage found" in out, out
    return aside


async def served(client: Client, jobs: list[dict[str, Any]]) -> None:
    """Each job is there, as it was created."""
    for job in jobs:
        response = await client.get(f"/job/{job['id']}")
        assert response.status == 200, job["id"]
        assert (await response.json())["data"] == job["data"]


def finished_jobs(count: int, ids: JobIds | None = None) -> list[Job]:
    ids = ids or JobIds()
    jobs = [Job.new({"n": n}, ids) for n in range(count)]
    for job in jobs:
        job.move_to(Status.SUCCEEDED)
    return jobs


async def write_journal(path: Path, jobs: list[Job], first_seq: int) -> int:
    """A journal as the service writes it (its own writer); returns the next sequence number."""
    journal = Journal(path)
    await journal.open()
    journal.start(first_seq)
    await asyncio.gather(*(journal.append({"put": job.to_dict()}) for job in jobs))
    await journal.close()
    return journal.next_seq
