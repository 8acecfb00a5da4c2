"""Errors the domain raises to its callers; each message says what to do."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start; the message tells the operator why and what to do."""


class QueueFullError(Exception):
    """As many jobs wait as the queue may hold; the client should come back later."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The queue is full ({limit} jobs waiting); retry later")
        self.limit = limit
