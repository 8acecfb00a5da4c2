"""The JSON Schemas of the API's bodies and events, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from ..core.models import DEFAULT_TYPE, EventType, Status
from ..core.request import MAX_ATTEMPTS, MAX_DELAY_MS, MAX_PRIORITY, MAX_TIMEOUT
from .validation import IDEMPOTENCY_KEY

JSON = "application/json"
MS = "Milliseconds since the epoch"
EVENT_FIELDS = ("jobId", "timestamp", "message", "step", "processingTime", "data", "attempt",
                "delay", "error", "jobType", "status", "total")  # fmt: skip


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def integer(low: int, high: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "description": description}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong"}},
    },
    "NewJob": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"description": "Any JSON value: the job's input"},
            "type": {
                "type": "string",
                "default": DEFAULT_TYPE,
                "description": "A registered job type (built in: demo, noop; more with "
                "JOB_HANDLERS); an unknown one is a 400",
            },
            "priority": {
                **integer(-MAX_PRIORITY, MAX_PRIORITY, "Higher runs first"),
                "default": 0,
            },
            "delay_ms": {
                **integer(0, MAX_DELAY_MS, "Do not run before this many ms from now"),
                "default": 0,
            },
            "max_attempts": integer(
                1, MAX_ATTEMPTS, "How many times the job may run (default: MAX_ATTEMPTS)"
            ),
            "timeout": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": MAX_TIMEOUT,
                "description": "Seconds one attempt may run (default: JOB_TIMEOUT); null: no limit",
            },
        },
    },
    "Job": {
        "type": "object",
        "description": "Fields that keep their default are left out",
        "required": ["id", "status", "created", "updated", "data", "type"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": [status.value for status in Status]},
            "created": {"type": "integer", "description": MS},
            "updated": {"type": "integer", "description": MS},
            "data": {"description": "The data the job was created with"},
            "type": {"type": "string", "description": "The job type: which handler runs it"},
            "output": {"type": "array", "items": ref("Step"), "description": "Once started"},
            "attempts": {"type": "integer", "minimum": 1, "description": "Runs so far"},
            "started": {"type": "integer", "description": f"When the latest attempt started: {MS}"},
            "error": {"type": "string", "description": "Why the last attempt failed"},
            "priority": integer(-MAX_PRIORITY, MAX_PRIORITY, "When not 0"),
            "run_at": {"type": "integer", "description": f"Not run before this: {MS}"},
            "max_attempts": integer(1, MAX_ATTEMPTS, "When not 1"),
            "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds"},
            "idempotency_key": {"type": "string", "description": f"Its {IDEMPOTENCY_KEY}"},
        },
    },
    "JobPage": {
        "type": "object",
        "required": ["jobs", "next_cursor"],
        "properties": {
            "jobs": {"type": "array", "items": ref("Job"), "description": "Newest first"},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "The cursor of the next page; null on the last page",
            },
        },
    },
    "Step": {
        "type": "object",
        "required": ["step", "timestamp", "processingTime", "data"],
        "properties": {
            "step": {"type": "integer", "minimum": 1},
            "total": {
                "type": "integer",
                "description": "How many steps the job has in all, when its handler says",
            },
            "timestamp": {"type": "integer"},
            "processingTime": {"type": "integer", "description": "Milliseconds since started"},
            "data": {"description": "What the handler reported"},
        },
    },
    "ServerEvent": {
        "type": "object",
        "description": "One message of an event stream; `data` is an Event as JSON",
        "required": ["data"],
        "properties": {
            "data": {"type": "string", "contentMediaType": JSON, "contentSchema": ref("Event")},
            "id": {"type": "string", "description": "The Redis stream id; none on initial"},
            "event": {"const": "message"},
        },
    },
    "Event": {
        "type": "object",
        "description": "`initial` carries the job; every field of the other events is a string. "
        "`created` and `deleted` are only in the feed; `retry`, `stalled`, `cancelled`, "
        "`created` and `deleted` are additions to the original service's events that a client "
        "may ignore",
        "required": ["type"],
        "properties": {
            "type": {"enum": [kind.value for kind in EventType]},
            "job": ref("Job"),
            **{name: {"type": "string"} for name in EVENT_FIELDS},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
    "Checks": {
        "type": "object",
        "description": 'Each check\'s result: "ok", or why it failed',
        "properties": {name: {"type": "string"} for name in ("redis", "data_dir", "workers")},
        "additionalProperties": {"type": "string"},
    },
    "Ready": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {"status": {"const": "ready"}, "checks": ref("Checks")},
    },
    "NotReady": {
        "type": "object",
        "required": ["error", "checks"],
        "properties": {"error": {"type": "string"}, "checks": ref("Checks")},
    },
}


def with_job_types(schemas: dict[str, Any], types: list[str]) -> dict[str, Any]:
    """The schemas with NewJob's `type` limited to the types this server has."""
    new_job = schemas["NewJob"]
    type_ = {**new_job["properties"]["type"], "enum": types}
    return {
        **schemas,
        "NewJob": {**new_job, "properties": {**new_job["properties"], "type": type_}},
    }
