"""Request bodies and query strings checked field by field: a 400 that names what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..core import codec
from ..core.models import DEFAULT_TYPE, Status
from ..core.registry import Registry
from ..core.request import (
    MAX_ATTEMPTS,
    MAX_DELAY_MS,
    MAX_KEY_CHARS,
    MAX_PRIORITY,
    MAX_TIMEOUT,
    JobRequest,
)
from ..core.settings import Settings
from .errors import json_error
from .listing import DEFAULT_LIMIT, ListQuery, decode_cursor

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_PAGE = 500


def bad_request(message: str) -> web.HTTPException:
    return json_error(web.HTTPBadRequest, message)


def job_request(
    body: dict[str, Any], headers: Mapping[str, str], registry: Registry, settings: Settings
) -> JobRequest:
    return JobRequest(
        idempotency_key=_idempotency_key(headers),
        data=body["data"],
        type=_job_type(body, registry),
        priority=integer(body, "priority", 0, -MAX_PRIORITY, MAX_PRIORITY),
        delay_ms=integer(body, "delay_ms", 0, 0, MAX_DELAY_MS),
        max_attempts=integer(body, "max_attempts", settings.max_attempts, 1, MAX_ATTEMPTS),
        timeout=_timeout(body, settings.job_timeout),
    )


def integer(fields: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = fields.get(name, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 86.0 is the integer 86 in JSON (and in JavaScript)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise bad_request(
            f'"{name}" must be an integer from {low} to {high}, got {codec.dumps_str(value)}'
        )
    return value


def _idempotency_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_CHARS:
        raise bad_request(f"{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_CHARS} characters")
    return key


def _timeout(body: dict[str, Any], default: float | None) -> float | None:
    """Seconds, more than 0; null asks for no limit even when JOB_TIMEOUT sets one."""
    value = body.get("timeout", default)
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise bad_request(
            f'"timeout" must be a number of seconds above 0 and at most {MAX_TIMEOUT}, or null; '
            f"got {codec.dumps_str(value)}"
        )
    return float(value)


def _job_type(body: dict[str, Any], registry: Registry) -> str:
    name = body.get("type", DEFAULT_TYPE)
    if not isinstance(name, str) or name not in registry:
        known = ", ".join(registry.names)
        raise bad_request(f"Unknown job type {codec.dumps_str(name)}; known types: {known}")
    return name


def list_query(params: Mapping[str, str]) -> ListQuery:
    """GET /jobs' query string: status, type, limit (1 to 500, default 50) and cursor."""
    unknown = sorted(set(params) - {"status", "type", "limit", "cursor"})
    if unknown:
        raise bad_request(
            f"Unknown query parameter {unknown[0]!r}: use status, type, limit, cursor"
        )
    return ListQuery(
        status=_status(params.get("status")),
        type=params.get("type") or None,
        limit=_limit(params.get("limit")),
        after=_cursor(params.get("cursor")),
    )


def _status(raw: str | None) -> Status | None:
    if not raw:
        return None
    try:
        return Status(raw)
    except ValueError:
        known = ", ".join(status.value for status in Status)
        raise bad_request(f"Unknown status {raw!r}; known statuses: {known}") from None


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_request(f'"limit" must be an integer from 1 to {MAX_PAGE}, got {raw!r}')
    return int(raw)


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    try:
        return decode_cursor(raw)
    except ValueError:
        raise bad_request('"cursor" is not one this service gave out') from None
