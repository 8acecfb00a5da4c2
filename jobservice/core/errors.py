"""Errors the domain raises to its callers; each message says what to do."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start; the message tells the operator why and what to do."""


class CorruptFileError(StartupError):
    """A file the service wrote cannot be read back as it was written; it is left as it is."""


class DataDirInUse(StartupError):
    """Another process holds the data directory's lock."""


class QueueFullError(Exception):
    """As many jobs wait as the queue may hold; the client should come back later."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The queue is full ({limit} jobs waiting); retry later")
        self.limit = limit
