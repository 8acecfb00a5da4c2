"""Checking a stopped service's data directory, and on request moving the damage aside so the
service starts with every intact record (as redis-check-aof --fix does)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .integrity import Problem, Problems
from .jobstore import JobStore
from .loading import StoreFiles, journals
from .lock import DataDirLock
from .manifest import JOBS_FILE, MANIFEST_FILE, QUEUE_FILE
from .mark import MARK_FILE

BUSY = "Stop it before checking its files: a running service rewrites them."


@dataclass
class Report:
    data_dir: Path
    problems: list[Problem]
    jobs: int  # intact jobs, the ones a fix keeps
    journals: int
    aside: Path | None = None  # where a fix moved the files it replaced
    moved: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return any(problem.damage for problem in self.problems)

    def lines(self) -> list[str]:
        """What was found (one line per problem) and what was done, for people."""
        found = [str(p) if p.damage else f"{p} (noted: the service starts anyway)"
                 for p in self.problems]  # fmt: skip
        where = self.data_dir
        if self.aside is not None:
            return [*found, f"{where}: the files as they were are in {self.aside}: "
                    f"{', '.join(self.moved)}",
                    f"{where}: wrote {JOBS_FILE}, {QUEUE_FILE} and {MANIFEST_FILE} with the "
                    f"{self.jobs} intact jobs; the service can start"]  # fmt: skip
        if self.damaged:
            damaged = sum(problem.damage for problem in self.problems)
            return [*found, f"{where}: {damaged} problems, {self.jobs} jobs intact. Run "
                    f"`jobservice check --fix {where}` to set the damaged files aside in "
                    f"{where}/damaged-<time>/ (nothing is deleted) and keep every intact "
                    "job"]  # fmt: skip
        return [*found, f"{where}: no damage found ({self.jobs} jobs, {self.journals} "
                "journals to replay)"]  # fmt: skip


async def check(data_dir: Path, fix: bool = False) -> Report:
    """Read every file of a stopped service's data directory and report what is wrong; with
    `fix`, if anything is, keep the originals aside and write a snapshot of the intact jobs.
    DataDirInUse if the service runs; FileNotFoundError if there is no such directory."""
    lock = await asyncio.to_thread(_lock, data_dir)
    try:
        store = JobStore(data_dir)
        problems = Problems(strict=False)
        files = await asyncio.to_thread(store.load, problems, fix)
        report = Report(data_dir, problems.found, len(store), files.journals)
        if fix and problems.found:
            await _repair(store, files, report)
        return report
    finally:
        lock.release()


async def _repair(store: JobStore, files: StoreFiles, report: Report) -> None:
    """Keep the snapshot files as they were and move the journals aside, into a new folder,
    after writing a snapshot of what loaded: nothing is deleted, and a crash midway leaves a
    directory that loads (the new snapshot covers the journals)."""
    data_dir = store.data_dir
    report.aside = aside = _new_folder(data_dir)
    for name in (JOBS_FILE, QUEUE_FILE, MANIFEST_FILE):
        if (data_dir / name).exists():
            await asyncio.to_thread(_keep, data_dir / name, aside / name)
            report.moved.append(name)
    await store.write_snapshot(files.generation, files.seq or 0)
    # Folded into the snapshot: the journals, and the mark of how far they went.
    for path in [*journals(data_dir), data_dir / MARK_FILE]:
        if path.exists():
            await asyncio.to_thread(os.replace, path, aside / path.name)
            report.moved.append(path.name)
    await asyncio.to_thread((aside / "check.txt").write_text, "\n".join(report.lines()) + "\n")


def _lock(data_dir: Path) -> DataDirLock:
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir} is not a directory")
    lock = DataDirLock(data_dir)
    lock.acquire("jobservice check", BUSY)
    return lock


def _new_folder(data_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        folder = data_dir / (f"damaged-{stamp}" if attempt == 1 else f"damaged-{stamp}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{data_dir}: too many damaged-{stamp}* folders")


def _keep(path: Path, to: Path) -> None:
    """A second name for the file (no copy), which the rewrite then leaves as it was."""
    try:
        os.link(path, to)
    except OSError:
        shutil.copy2(path, to)
