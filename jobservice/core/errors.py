"""Errors that stop the service from starting; each message says what to do."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start; the message tells the operator why and what to do."""


class CorruptFileError(StartupError):
    """A file the service wrote cannot be read back as it was written; it is left as it is."""


class DataDirInUse(StartupError):
    """Another process holds the data directory's lock."""
