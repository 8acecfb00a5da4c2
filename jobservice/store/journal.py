"""Durable files: an append-only journal with group commit, and atomic whole-file writes."""

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
from ..core.errors import StartupError

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


class CorruptFileError(StartupError):
    """A file the service wrote cannot be read back; it is left untouched for a human."""


class Journal:
    """One JSON line per change, appended in batches: every waiting writer shares one fsync."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = 0
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._size = 0
        self._file: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        # Unbuffered, so a failed write leaves nothing behind in a buffer to resurface later.
        self._file = await aiofiles.open(self.path, "ab", buffering=0)
        self._size = (await aiofiles.os.stat(self.path)).st_size
        self._task = asyncio.create_task(self._write_batches(), name=f"journal {self.path.name}")

    async def append(self, record: Any) -> None:
        """Return once the record is on disk; raise OSError if it could not be written."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.append_soon(record)
        await waiter

    def append_soon(self, record: Any) -> None:
        """Queue the record for the next write, in order, without waiting for it: for changes
        that a crash may lose (a failed write is logged)."""
        self._pending.append(codec.dumps(record) + b"\n")
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
                await self._write(b"".join(batch))
            except OSError as exc:
                logger.error("journal write to %s failed: %s", self.path, exc)
                _settle(waiters, exc)
            else:
                self.entries += len(batch)
                _settle(waiters, None)

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


def read_journal(path: Path) -> Iterator[Any]:
    """Yield the records of a journal; a torn last line (a crash mid-append) is dropped."""
    with path.open("rb") as file:
        lines = file.read().split(b"\n")
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if not line:
            continue
        try:
            yield codec.loads(line)
        except codec.DecodeError:
            if number == last:
                logger.warning("%s: dropping a torn last line (%d bytes)", path, len(line))
                return
            raise CorruptFileError(f"{path}: line {number + 1} is not valid JSON") from None


async def write_atomic(path: Path, chunks: list[bytes]) -> None:
    """Replace `path` so that a reader sees the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        async with aiofiles.open(tmp, "wb") as file:
            await file.write(b"".join(chunks))
            await file.flush()
            await fsync(file.fileno())
        await aiofiles.os.replace(tmp, path)
    except OSError:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
        raise
    await fsync_dir(path.parent)


async def fsync_dir(directory: Path) -> None:
    fd = await asyncio.to_thread(os.open, directory, os.O_RDONLY)
    try:
        await fsync(fd)
    finally:
        os.close(fd)
