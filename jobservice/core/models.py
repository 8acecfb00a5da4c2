"""The job record, its statuses and the event types it goes through."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
# Status(value) goes through Enum machinery; a dict is several times faster on startup.
STATUS_BY_VALUE = {status.value: status for status in Status}


class EventType(StrEnum):
    INITIAL = "initial"
    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    ERROR = "error"
    RESTARTED = "restarted"
    # Additions to the original service's events; clients that know only those ignore them.
    CREATED = "created"
    RETRY = "retry"
    STALLED = "stalled"
    CANCELLED = "cancelled"
    # Only in the feed: the job and its stream were removed (DELETE /job/{id}, retention).
    DELETED = "deleted"


TERMINAL_EVENTS = frozenset({EventType.COMPLETED, EventType.ERROR, EventType.CANCELLED})

# The job type of a request that names none: the original service's demo job.
DEFAULT_TYPE = "demo"


# A Redis Stream entry id, "<ms>-<seq>", as numbers: ids compare in this form, not as text.
StreamId = tuple[int, int]


def stream_id(entry_id: str) -> StreamId:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class JobIds:
    """UUIDv7 job ids (RFC 9562): they sort by creation time and, within one millisecond, in
    the order they were given out, so jobs listed by (created, id) come in arrival order."""

    # The 12-bit counter starts at a random value below this, leaving room for a burst.
    SEQ_START = 1 << 10
    SEQ_MAX = (1 << 12) - 1

    def __init__(self) -> None:
        self._ms = -1
        self._seq = 0

    def next(self, ms: int) -> str:
        if ms > self._ms:
            self._ms, self._seq = ms, random.randrange(self.SEQ_START)
        elif self._seq < self.SEQ_MAX:
            self._seq += 1
        else:  # more than a few thousand in one millisecond: borrow the next one
            self._ms, self._seq = self._ms + 1, 0
        value = self._ms << 80 | 7 << 76 | self._seq << 64 | 2 << 62 | random.getrandbits(62)
        return str(uuid.UUID(int=value))


@dataclass(slots=True)
class Job:
    id: str
    data: Any
    status: Status = Status.PENDING
    created: int = field(default_factory=now_ms)
    updated: int = 0
    output: list[dict[str, Any]] | None = None
    attempts: int = 0
    error: str | None = None
    # When the latest attempt started (epoch ms).
    started: int | None = None
    type: str = DEFAULT_TYPE
    # Higher runs first; within a priority, first come first served.
    priority: int = 0
    # Epoch ms before which the job does not run (a delayed job or a retry); 0: at once.
    run_at: int = 0
    # Attempts before the job fails; a failed attempt before the last is retried.
    max_attempts: int = 1
    # Seconds an attempt may run before it is cancelled and fails; None: no limit.
    timeout: float | None = None
    # The POST's Idempotency-Key header: a second POST with it gets this job back.
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        self.updated = self.updated or self.created

    @classmethod
    def new(cls, data: Any, ids: JobIds, **options: Any) -> Job:
        created = now_ms()
        return cls(id=ids.next(created), data=data, created=created, **options)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Job:
        return cls(
            id=raw["id"],
            data=raw.get("data"),
            status=STATUS_BY_VALUE[raw["status"]],
            created=raw["created"],
            updated=raw["updated"],
            output=raw.get("output"),
            attempts=raw.get("attempts", 0),
            error=raw.get("error"),
            started=raw.get("started"),
            type=raw.get("type", DEFAULT_TYPE),
            priority=raw.get("priority", 0),
            run_at=raw.get("run_at", 0),
            max_attempts=raw.get("max_attempts", 1),
            timeout=raw.get("timeout"),
            idempotency_key=raw.get("idempotency_key"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The public shape: the original fields and type, then the others once they mean something.

        `data` and `output` come last, after every scalar field, so the store can read a
        stored job's head without parsing its (possibly large) data."""
        doc: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "created": self.created,
            "updated": self.updated,
            "type": self.type,
        }
        optional = {
            "attempts": self.attempts or None,
            "started": self.started,
            "error": self.error,
            "priority": self.priority or None,
            "run_at": self.run_at or None,
            "max_attempts": self.max_attempts if self.max_attempts != 1 else None,
            "timeout": self.timeout,
            "idempotency_key": self.idempotency_key,
        }
        doc.update((name, value) for name, value in optional.items() if value is not None)
        doc["data"] = self.data
        if self.output is not None:
            doc["output"] = self.output
        return doc

    def move_to(self, status: Status, at: int | None = None) -> None:
        self.status = status
        self.updated = now_ms() if at is None else at
