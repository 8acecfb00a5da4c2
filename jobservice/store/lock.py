"""DATA_DIR/.lock: one process at a time uses a data directory (the service, or a check)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..core.errors import DataDirInUse

LOCK_FILE = ".lock"


class DataDirLock:
    """An flock on DATA_DIR/.lock, held while the process runs: the kernel lets it go when the
    process ends, even by kill -9, so a stale file never locks anyone out."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self, holder: str, if_busy: str) -> None:
        """Take the lock, writing `holder` into the file; DataDirInUse (ending with `if_busy`)
        if another process holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DataDirInUse(f"{self.data_dir} is in use by {other}. {if_busy}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the lock goes with the descriptor; the file may stay
            self._fd = None
