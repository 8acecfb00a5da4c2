"""mark.json: the last journal record known to be on disk, written once a second while records
are written. The end of the newest journal cannot be told from a crash's by itself; with the
mark, a journal cut short (or removed) is noticed for all but the last second of records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import aiofiles.os

from ..core.tasks import let_go
from .integrity import read_sealed, seal
from .journal import fsync_dir
from .manifest import staging, write_file

logger = logging.getLogger(__name__)

MARK_FILE = "mark.json"
MARK_SECONDS = 1.0


def decode_mark(data: bytes) -> int:
    """The sequence number in a mark; ValueError saying what is wrong if it is not one."""
    seq = read_sealed(data).get("seq")
    if type(seq) is not int:
        raise ValueError("is not a mark this version can read")
    return seq


async def write_mark(data_dir: Path, seq: int) -> None:
    """Replace mark.json, atomically: a crash leaves the old mark or the new one."""
    path, tmp = data_dir / MARK_FILE, staging(data_dir / MARK_FILE)
    try:
        await write_file(tmp, [seal(b'{"seq":%d' % seq) + b"\n"])
    except OSError:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
        raise
    await aiofiles.os.replace(tmp, path)
    await fsync_dir(data_dir)


class Marker:
    """Writes mark.json once a second if records were written since: `written()` says the
    sequence number of the last record on disk."""

    def __init__(self, data_dir: Path, written: Callable[[], int]) -> None:
        self.data_dir = data_dir
        self.written = written
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal mark")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            try:
                await let_go(task)
            except Exception:
                logger.exception("the journal mark's task had failed")

    async def _run(self) -> None:
        marked = self.written()
        while True:
            await asyncio.sleep(MARK_SECONDS)
            seq = self.written()
            if seq <= marked:
                continue
            try:
                await write_mark(self.data_dir, seq)
                marked = seq
            except OSError as exc:  # the journal itself says more; try again next second
                logger.warning("%s could not be written: %s", self.data_dir / MARK_FILE, exc)
