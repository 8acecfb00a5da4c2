"""A job as a Redis hash and back: scalar fields the scripts can read and change, JSON for
the rest (data, timeout, output steps), so no script ever re-encodes a client's JSON."""

from __future__ import annotations

from typing import Any

from ..core import codec
from ..core.models import STATUS_BY_VALUE, Job

# Fields a worker changes while it holds the lease; the others are written once, at create.
MUTABLE = ("status", "updated", "attempts", "started", "error", "run_at")


def text(value: bytes | str) -> str:
    """A Redis reply as text, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else value


def mutable_fields(job: Job) -> tuple[dict[str, str], list[str]]:
    """(fields to set, fields to delete) for the state a worker may change."""
    values: dict[str, Any] = {
        "status": job.status.value,
        "updated": job.updated,
        "attempts": job.attempts,
        "started": job.started,
        "error": job.error,
        "run_at": job.run_at,
    }
    present = {name: str(value) for name, value in values.items() if value is not None}
    return present, [name for name, value in values.items() if value is None]


def new_fields(job: Job) -> dict[str, str]:
    """Every field of a job being created (no output yet)."""
    fields, _absent = mutable_fields(job)
    fields.update(
        data=codec.dumps_str(job.data),
        created=str(job.created),
        type=job.type,
        priority=str(job.priority),
        max_attempts=str(job.max_attempts),
    )
    if job.timeout is not None:
        fields["timeout"] = codec.dumps_str(job.timeout)
    if job.idempotency_key is not None:
        fields["idem"] = job.idempotency_key
    return fields


def from_record(record: list[Any]) -> Job:
    """A job from a script's record: [id, [field, value, ...], [output step, ...]]."""
    raw_id, flat, steps = record
    fields = {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}
    attempts = int(fields.get("attempts", "0"))
    started = fields.get("started")
    timeout = fields.get("timeout")
    return Job(
        id=text(raw_id),
        data=codec.loads(fields["data"]),
        status=STATUS_BY_VALUE[fields["status"]],
        created=int(fields["created"]),
        updated=int(fields["updated"]),
        # A job that never started has no output; one that did has a list, maybe empty.
        output=[codec.loads(step) for step in steps] if attempts else None,
        attempts=attempts,
        error=fields.get("error"),
        started=None if started is None else int(started),
        type=fields["type"],
        priority=int(fields["priority"]),
        run_at=int(fields.get("run_at", "0")),
        max_attempts=int(fields["max_attempts"]),
        timeout=None if timeout is None else float(codec.loads(timeout)),
        idempotency_key=fields.get("idem"),
    )
