"""Request bodies and query strings checked field by field: a 400 that names what is wrong."""

from __future__ import annotations

import json
import re
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
# What orjson reads as an integer and writes back: outside this it reads a float, inexactly.
INT64 = range(-(2**63), 2**64)
# Only a body with a number literal of this many digits can hold an integer outside INT64.
# A literal follows "[", ":" or ","; digits inside a string (big ids sent as strings, as
# the error message advises) do not send the body to the slow exact check.
LONG_DIGITS = re.compile(rb"[\[:,]\s*-?[0-9]{19}")
# A value quoted in an error message is cut to this many characters.
SHOWN_CHARS = 40


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
    given = value = fields.get(name, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 86.0 is the integer 86 in JSON (and in JavaScript)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise bad_request(f'"{name}" must be an integer from {low} to {high}, got {shown(given)}')
    return value


def shown(value: Any) -> str:
    """A value from the request as JSON for an error message, cut short."""
    try:
        text = codec.dumps_str(value)
    except TypeError:  # orjson's JSONEncodeError, e.g. an integer it cannot write
        text = repr(value)
    return cut(text)


def cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} chars)"


def integer_beyond_64_bits(raw: bytes) -> str | None:
    """An integer in the `data` of the JSON body `raw` that would not be kept exact, or None.

    orjson reads integers outside INT64 as floats, silently rounded. Only `data` is stored as
    sent: the other fields are checked against ranges, and unknown ones are ignored. The
    standard library's parser, asked only when a long run of digits appears, says which
    literal it was."""
    if LONG_DIGITS.search(raw) is None:
        return None
    try:
        body = json.loads(raw, parse_int=_exact_or_literal)
    except ValueError:  # orjson has accepted it; the standard library is the more lenient
        return None
    stack = [body.get("data")] if isinstance(body, dict) else []
    while stack:
        item = stack.pop()
        if isinstance(item, Inexact):
            return str(item)
        if isinstance(item, dict | list):
            stack.extend(item.values() if isinstance(item, dict) else item)
    return None


class Inexact(str):
    """An integer literal outside INT64, as it was written."""


def _exact_or_literal(literal: str) -> int | Inexact:
    # Up to 21 characters, int() is cheap; anything longer is out of range anyway.
    if len(literal) <= 21 and (value := int(literal)) in INT64:
        return value
    return Inexact(literal)


def _idempotency_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_CHARS:
        raise bad_request(f"{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_CHARS} characters")
    if not _is_utf8(key):
        raise bad_request(f"{IDEMPOTENCY_KEY} must be UTF-8 text")
    return key


def _is_utf8(header: str) -> bool:
    """aiohttp keeps bytes that are not UTF-8 as lone surrogates, which cannot be stored."""
    try:
        header.encode()
    except UnicodeEncodeError:
        return False
    return True


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
            f"got {shown(value)}"
        )
    return float(value)


def _job_type(body: dict[str, Any], registry: Registry) -> str:
    name = body.get("type", DEFAULT_TYPE)
    if not isinstance(name, str) or name not in registry:
        known = ", ".join(registry.names)
        raise bad_request(f"Unknown job type {shown(name)}; known types: {known}")
    return name


def list_query(params: Mapping[str, str]) -> ListQuery:
    """GET /jobs' query string: status, type, limit (1 to 500, default 50) and cursor."""
    unknown = sorted(set(params) - {"status", "type", "limit", "cursor"})
    if unknown:
        raise bad_request(
            f"Unknown query parameter {shown(unknown[0])}: use status, type, limit, cursor"
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
        raise bad_request(f"Unknown status {shown(raw)}; known statuses: {known}") from None


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    # ASCII digits only (str.isdigit also takes "²" and "٣"), and few enough for int().
    digits = raw.lstrip("0")
    if re.fullmatch("[0-9]{1,3}", digits) is None or not 1 <= int(digits) <= MAX_PAGE:
        raise bad_request(f'"limit" must be an integer from 1 to {MAX_PAGE}, got {shown(raw)}')
    return int(digits)


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    try:
        return decode_cursor(raw)
    except ValueError:
        raise bad_request('"cursor" is not one this service gave out') from None
