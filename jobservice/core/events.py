"""Job events, built in one place: the worker publishes them, and a finished job whose stream
has expired gets the same events rebuilt from its record, so the two cannot drift apart.

Every value is a string, as Redis Streams store them (and as the original service sent them).
"""

from __future__ import annotations

from typing import Any

from . import codec
from .models import EventType, Job, Status, now_ms

Event = dict[str, str]
# A stream entry: its id ("<ms>-<seq>") and its event.
Entry = tuple[str, Event]

STARTED_MESSAGE = "Job processing started"
COMPLETED_MESSAGE = "Job processing completed"
CANCELLED_MESSAGE = "Job cancelled"
FAILED_MESSAGE = "Job failed"
RESTARTED_MESSAGE = "Job restarted after an interrupted run"
DELETED_MESSAGE = "Job deleted"
EXPIRED_MESSAGE = "Job removed by retention"


def event(kind: EventType, job_id: str, **fields: object) -> Event:
    fields.setdefault("timestamp", now_ms())
    return {"type": kind.value, "jobId": job_id, **{k: _text(v) for k, v in fields.items()}}


def _text(value: object) -> str:
    return value if isinstance(value, str) else codec.dumps_str(value)


def created(job: Job) -> Event:
    return event(EventType.CREATED, job.id, jobType=job.type, timestamp=job.created)


def started(job: Job) -> Event:
    at = job.started if job.started is not None else job.updated
    return event(EventType.STARTED, job.id, message=STARTED_MESSAGE, timestamp=at)


def progress(job_id: str, step: dict[str, Any]) -> Event:
    return event(EventType.PROGRESS, job_id, **step)


def restarted(job: Job) -> Event:
    return event(EventType.RESTARTED, job.id, attempt=job.attempts, message=RESTARTED_MESSAGE)


def stalled(job: Job, message: str) -> Event:
    return event(EventType.STALLED, job.id, attempt=job.attempts, message=message)


def retry(job: Job, delay_ms: int) -> Event:
    return event(EventType.RETRY, job.id, attempt=job.attempts, delay=delay_ms, error=job.error)


def deleted(job: Job, message: str = DELETED_MESSAGE) -> Event:
    """Announced on the feed once the job and its stream are gone; `status` is the one it
    had then (so a dashboard can take it off the right counter)."""
    return event(
        EventType.DELETED, job.id, jobType=job.type, status=job.status.value, message=message
    )


def ended(job: Job) -> Event:
    """The last event of a job that has reached a final status, as of `job.updated`."""
    if job.status is Status.SUCCEEDED:
        kind, message = EventType.COMPLETED, COMPLETED_MESSAGE
    elif job.status is Status.CANCELLED:
        kind, message = EventType.CANCELLED, CANCELLED_MESSAGE
    else:
        kind, message = EventType.ERROR, job.error or FAILED_MESSAGE
    elapsed = job.updated - (job.started if job.started is not None else job.created)
    return event(kind, job.id, timestamp=job.updated, processingTime=elapsed, message=message)


def history(job: Job) -> list[Entry]:
    """A finished job's events rebuilt from its record, for when its stream has expired."""
    events = [started(job)] if job.started is not None else []  # cancelled while pending
    events += [progress(job.id, step) for step in job.output or ()]
    events.append(ended(job))
    return [(f"{fields['timestamp']}-{i}", fields) for i, fields in enumerate(events)]
