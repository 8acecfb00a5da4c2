"""What the CLI knows of one job it follows: its status, steps and latest message, from events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.models import now_ms

# Exit statuses: a job that failed, failed to run or was cancelled is 1; a request that
# could not be made or was refused is 2 (as argparse's usage errors).
JOB_FAILED = 1
REQUEST_FAILED = 2
# A job's last event: its exit status and its final status.
FINAL_EVENTS = {
    "completed": (0, "succeeded"),
    "error": (JOB_FAILED, "failed"),
    "cancelled": (JOB_FAILED, "cancelled"),
}
FINAL_STATUSES = {"succeeded": 0, "failed": JOB_FAILED, "cancelled": JOB_FAILED}
PREVIEW = 60


def preview(value: Any) -> str:
    text = str(value)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."


@dataclass
class Tracker:
    """One job's state as its events tell it. `total` is known only if its handler declares
    it (`ctx.progress(..., total=N)`); until then a display shows a bar without an end."""

    id: str
    status: str = "pending"
    done: int = 0
    total: int | None = None
    message: str = ""
    # When the current attempt started (epoch ms), and how long the job ran once it ended.
    started_ms: int | None = None
    ran_ms: int | None = None
    # The exit status once the job ended, or it could not be followed.
    code: int | None = None

    @property
    def name(self) -> str:
        """The id's last group: random in a UUIDv7, where the first ones are its time."""
        return self.id.rsplit("-", 1)[-1]

    def update(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "initial":
            self._initial(event.get("job") or {})
        elif kind == "started":
            self.status, self.done, self.message = "processing", 0, "started"
            self.started_ms = _int(event.get("timestamp"))
        elif kind == "progress":
            self.done = _int(event.get("step")) or self.done + 1
            self.total = _int(event.get("total")) or self.total
            self.message = preview(event.get("data", ""))
        elif kind in FINAL_EVENTS:
            self.code, self.status = FINAL_EVENTS[kind]
            self.ran_ms = _int(event.get("processingTime"))
            self.message = str(event.get("message") or kind)
            if self.total is None and self.code == 0:
                self.total = self.done  # it is over: the steps it took were all of them
        elif kind == "retry":
            self.status = "pending"
            self.message = f"attempt {event.get('attempt')} failed: {event.get('error')}"
        elif "message" in event:  # restarted, stalled, and types added later
            self.message = str(event["message"])

    def _initial(self, job: dict[str, Any]) -> None:
        self.status = str(job.get("status", self.status))
        self.started_ms = _int(job.get("started"))
        output = job.get("output") or []
        self.done = len(output)
        if output and isinstance(output[-1], dict):
            self.total = _int(output[-1].get("total")) or self.total

    def ended_as(self, job: dict[str, Any]) -> None:
        """The job as GET answered it, when its stream ended before its last event."""
        self.status = str(job.get("status", "?"))
        self.code = FINAL_STATUSES.get(self.status, JOB_FAILED)
        self.message = self.status

    def failed(self, message: str) -> None:
        """The job could not be followed (unknown, refused, unreachable)."""
        self.code, self.status, self.message = REQUEST_FAILED, "?", message

    def elapsed(self) -> float | None:
        """Seconds the job has run: until its end once it ended, else until now."""
        if self.ran_ms is not None:
            return self.ran_ms / 1000
        if self.started_ms is None:
            return None
        return max(0, now_ms() - self.started_ms) / 1000

    def rate(self) -> float | None:
        """Steps per second so far."""
        elapsed = self.elapsed()
        return self.done / elapsed if elapsed and self.done else None


def _int(value: Any) -> int | None:
    """An event field as a number (events carry strings; a job record, numbers)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
