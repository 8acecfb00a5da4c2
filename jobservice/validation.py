"""Request bodies and query strings checked field by field: a 400 that names what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import codec
from .errors import json_error
from .models import DEFAULT_TYPE
from .registry import Registry


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What POST /job asked for, every field checked."""

    data: Any
    type: str = DEFAULT_TYPE


def bad_request(message: str) -> web.HTTPException:
    return json_error(web.HTTPBadRequest, message)


def job_request(body: dict[str, Any], registry: Registry) -> JobRequest:
    return JobRequest(data=body["data"], type=_job_type(body, registry))


def _job_type(body: dict[str, Any], registry: Registry) -> str:
    name = body.get("type", DEFAULT_TYPE)
    if not isinstance(name, str) or name not in registry:
        known = ", ".join(registry.names)
        raise bad_request(f"Unknown job type {codec.dumps_str(name)}; known types: {known}")
    return name
