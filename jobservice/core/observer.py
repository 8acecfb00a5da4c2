"""What the service reports as it works: the one interface metrics (or anything) observe.

The code that does the work calls these; it never knows who listens."""

from __future__ import annotations

from typing import Protocol

from .models import Job


class Observer(Protocol):
    def job_created(self, job: Job) -> None: ...

    def job_finished(self, job: Job, run_ms: int) -> None: ...

    def event_published(self, kind: str) -> None:
        """An event was accepted for Redis (it is written in order, once Redis takes it)."""

    def redis_failed(self, operation: str) -> None:
        """A Redis command failed (it is retried by whoever sent it)."""

    def persisted(self, seconds: float) -> None:
        """A job change reached the disk, taking this long (the group commit included)."""


class Unobserved:
    """An observer that ignores everything: the default where nobody listens."""

    def job_created(self, job: Job) -> None:
        pass

    def job_finished(self, job: Job, run_ms: int) -> None:
        pass

    def event_published(self, kind: str) -> None:
        pass

    def redis_failed(self, operation: str) -> None:
        pass

    def persisted(self, seconds: float) -> None:
        pass
