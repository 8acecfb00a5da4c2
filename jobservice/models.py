"""The job record, its statuses and the event types it goes through."""

from __future__ import annotations

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


TERMINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED})


class EventType(StrEnum):
    INITIAL = "initial"
    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    ERROR = "error"
    RESTARTED = "restarted"


TERMINAL_EVENTS = frozenset({EventType.COMPLETED, EventType.ERROR})

# The job type of a request that names none: the seed's demo job.
DEFAULT_TYPE = "demo"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
    type: str = DEFAULT_TYPE

    def __post_init__(self) -> None:
        self.updated = self.updated or self.created

    @classmethod
    def new(cls, data: Any, **options: Any) -> Job:
        return cls(id=str(uuid.uuid4()), data=data, **options)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Job:
        return cls(
            id=raw["id"],
            data=raw.get("data"),
            status=Status(raw["status"]),
            created=raw["created"],
            updated=raw["updated"],
            output=raw.get("output"),
            attempts=raw.get("attempts", 0),
            error=raw.get("error"),
            type=raw.get("type", DEFAULT_TYPE),
        )

    def to_dict(self) -> dict[str, Any]:
        """The public shape: the seed's fields, plus attempts/error once they mean something."""
        doc: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "created": self.created,
            "updated": self.updated,
            "data": self.data,
            "type": self.type,
        }
        if self.output is not None:
            doc["output"] = self.output
        if self.attempts:
            doc["attempts"] = self.attempts
        if self.error is not None:
            doc["error"] = self.error
        return doc

    def move_to(self, status: Status) -> None:
        self.status = status
        self.updated = now_ms()
