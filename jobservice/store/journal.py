"""The journal: an append-only file of changes, written with group commit.

Each journal line is a record with its sequence number and checksum as its last members:
    {"put":{...job...},"seq":41,"crc":"89abcdef"}
Sequence numbers run on from one journal to the next, so a record missing anywhere but at
the very end is noticed; the checksum covers every byte before it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from ..core import codec
from .integrity import Problems, Seal, read_seal, record_problem, seal

logger = logging.getLogger(__name__)

fsync = aiofiles.os.wrap(os.fsync)


def _write_and_sync(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    # fdatasync flushes the data and the file's new size (what reading it back needs), not
    # its timestamps: the same durability for an append, at a fraction of fsync's latency.
    os.fdatasync(fd)


# One trip to the thread pool per batch: the write and its fsync together.
write_and_sync = aiofiles.os.wrap(_write_and_sync)


class Journal:
    """One JSON line per change, appended in batches: every waiting writer shares one fsync."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = 0
        # The sequence number of the next record written; set by start().
        self.next_seq = 1
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._size = 0
        self._file: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create the file; records appended before start() wait for it."""
        # Unbuffered, so a failed write leaves nothing behind in a buffer to resurface later.
        self._file = await aiofiles.open(self.path, "ab", buffering=0)
        self._size = (await aiofiles.os.stat(self.path)).st_size

    def start(self, next_seq: int) -> None:
        """Start writing, numbering records from `next_seq` (where the journal before ended)."""
        self.next_seq = next_seq
        self._task = asyncio.create_task(self._write_batches(), name=f"journal {self.path.name}")

    async def append(self, record: dict[str, Any]) -> None:
        """Return once the record is on disk; raise OSError if it could not be written."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.append_soon(record)
        await waiter

    def append_soon(self, record: dict[str, Any]) -> None:
        """Queue the record for the next write, in order, without waiting for it: for changes
        that a crash may lose (a failed write is logged)."""
        self._pending.append(codec.dumps(record))
        self._wakeup.set()

    async def close(self) -> None:
        """Write what is pending, then close the file."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._file is not None:
            await self._file.close()

    async def _write_batches(self) -> None:
        while self._pending or not self._closing:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, waiters = self._pending, self._waiters
            self._pending, self._waiters = [], []
            try:
                await self._write(self._lines(batch))
            except OSError as exc:
                logger.error("journal write to %s failed: %s", self.path, exc)
                _settle(waiters, exc)
            else:
                self.entries += len(batch)
                self.next_seq += len(batch)
                _settle(waiters, None)

    def _lines(self, batch: list[bytes]) -> bytes:
        """Number and seal the records at the moment they are written: a failed write leaves
        no gap in the numbers."""
        first = self.next_seq
        return b"".join(seal(b'%s,"seq":%d' % (record[:-1], first + n)) + b"\n"
                        for n, record in enumerate(batch))  # fmt: skip

    async def _write(self, data: bytes) -> None:
        try:
            await write_and_sync(self._file.fileno(), data)
        except OSError:
            # Cut off a partial line, so the next batch starts on a clean line.
            await asyncio.to_thread(os.ftruncate, self._file.fileno(), self._size)
            raise
        self._size += len(data)


def _settle(waiters: list[asyncio.Future[None]], error: OSError | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def read_journal(path: Path, problems: Problems, sealed: bool
                 ) -> Iterator[tuple[int, int | None, Any]]:  # fmt: skip
    """(line number, sequence number, record) for each record; a torn last line (a crash cut
    off a write that was never acknowledged) is noted and dropped, other damage reported.
    `sealed`: every line must have a checksum (else only if any line has one: a journal
    written by an older version has none)."""
    with path.open("rb") as file:
        lines = file.read().split(b"\n")
    seals = [read_seal(line) for line in lines]
    sealed = sealed or any(mark is not None for mark in seals)
    for number, (line, mark) in enumerate(zip(lines, seals, strict=True), start=1):
        if not line:
            continue
        read = _record(line, mark, sealed)
        if isinstance(read, tuple):
            yield number, *read
        elif number == len(lines):  # no newline after it: its write was cut off
            problems.note(path, number, f"dropping a torn last line ({len(line)} bytes): a "
                          "write cut off by a crash, never acknowledged")  # fmt: skip
        else:
            problems.damage(path, number, read)


def _record(line: bytes, mark: Seal | None, sealed: bool) -> tuple[int | None, Any] | str:
    """(sequence number, record), or what is wrong with the line."""
    if mark is None and sealed:
        return "has no checksum"
    if mark is not None and not mark.intact:
        return "does not match its checksum"
    try:
        record = codec.loads(line)
    except ValueError:
        return "is not valid JSON"
    if mark is None:  # an older version's line: nothing vouches for it, so look closely
        return (None, record) if (problem := record_problem(record)) is None else problem
    if not isinstance(record, dict):
        return "is not a journal record"
    seq = record.pop("seq", None)
    del record["crc"]
    if type(seq) is not int or not _recordlike(record):
        return 'is not a journal record ({"put": job} or {"del": id}, with "seq")'
    return seq, record


def _recordlike(record: dict[str, Any]) -> bool:
    """The cheap look for a line that its checksum vouches for (the full one costs more)."""
    return len(record) == 1 and (isinstance(record.get("put"), dict)
                                 or isinstance(record.get("del"), str))  # fmt: skip


async def fsync_dir(directory: Path) -> None:
    fd = await asyncio.to_thread(os.open, directory, os.O_RDONLY)
    try:
        await fsync(fd)
    finally:
        os.close(fd)
