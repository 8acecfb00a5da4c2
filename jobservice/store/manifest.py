"""manifest.json: what the snapshot holds (jobs.json's and queue.json's size and checksum, how
many jobs) and which journal records it covers, so that a missing file or line is noticed.

Writing a snapshot commits through it: jobs.json and queue.json are written beside their
places, then the manifest describing them replaces the old one (the commit), then they are
moved into place. A crash before the commit leaves the old snapshot and its manifest; a crash
after it leaves a new manifest whose files are still beside their places, and loading moves
them in (`committed`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import aiofiles.os

from ..core import codec
from .integrity import Digest, read_sealed, seal
from .journal import fsync, fsync_dir

JOBS_FILE = "jobs.json"
QUEUE_FILE = "queue.json"
MANIFEST_FILE = "manifest.json"
FORMAT = 2


@dataclass(frozen=True, slots=True)
class Manifest:
    journal: int  # journals up to this generation are in the snapshot
    seq: int  # ... and so is every journal record up to this sequence number
    jobs: int  # job lines in jobs.json
    jobs_file: Digest
    queue_file: Digest

    def encode(self) -> bytes:
        head = codec.dumps({
            "format": FORMAT,
            "journal": self.journal,
            "seq": self.seq,
            "jobs": self.jobs,
            JOBS_FILE: list(self.jobs_file),
            QUEUE_FILE: list(self.queue_file),
        })  # fmt: skip
        return seal(head[:-1]) + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """ValueError saying what is wrong, if it is not a manifest as written."""
        fields = read_sealed(data)
        if fields.get("format") != FORMAT:
            raise ValueError(f"is in format {fields.get('format')!r}, not one this version reads")
        try:
            return cls(fields["journal"], fields["seq"], fields["jobs"],
                       Digest(*fields[JOBS_FILE]), Digest(*fields[QUEUE_FILE]))  # fmt: skip
        except (KeyError, TypeError):
            raise ValueError("is not a manifest this version can read") from None


def staging(path: Path) -> Path:
    """Where a snapshot file is written before it is moved into place."""
    return path.with_name(f".{path.name}.tmp")


async def commit_snapshot(data_dir: Path, jobs: list[bytes], count: int, queue: bytes,
                          journal: int, seq: int) -> Manifest:  # fmt: skip
    """Replace jobs.json, queue.json and manifest.json so that loading sees the old snapshot or
    the new one (see the module's docstring)."""
    staged = {name: staging(data_dir / name) for name in (JOBS_FILE, QUEUE_FILE, MANIFEST_FILE)}
    try:
        digests = [await write_file(staged[JOBS_FILE], jobs),
                   await write_file(staged[QUEUE_FILE], [queue])]  # fmt: skip
        manifest = Manifest(journal, seq, count, *digests)
        await write_file(staged[MANIFEST_FILE], [manifest.encode()])
    except OSError:  # a full disk, say: the old snapshot stands, and takes no more room
        for path in staged.values():
            await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    await aiofiles.os.replace(staged[MANIFEST_FILE], data_dir / MANIFEST_FILE)
    await fsync_dir(data_dir)  # the commit: from here on, loading finishes what follows
    for name in (JOBS_FILE, QUEUE_FILE):
        await aiofiles.os.replace(staged[name], data_dir / name)
    await fsync_dir(data_dir)
    return manifest


async def write_file(path: Path, chunks: list[bytes]) -> Digest:
    async with aiofiles.open(path, "wb") as file:
        for chunk in chunks:
            await file.write(chunk)
        await file.flush()
        await fsync(file.fileno())
    return await asyncio.to_thread(Digest.of, *chunks)


def committed(path: Path, expected: Digest, finish: bool) -> tuple[bytes | None, str]:
    """The file's content, and "as written" if the manifest describes it, "staged" if a crash
    cut the commit short and the described file is still beside its place (with `finish`, it
    is moved in), else "differs"."""
    data = _read(path)
    if data is not None and Digest.of(data) == expected:
        return data, "as written"
    staged = _read(staging(path))
    if staged is None or Digest.of(staged) != expected:
        return data, "differs"
    if finish:
        os.replace(staging(path), path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return staged, "staged"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
