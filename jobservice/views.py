"""HTTP views: parse the request, call the domain, answer. Errors are raised as JSON."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import codec, sse
from .errors import json_error
from .keys import EVENTS, OPEN_STREAMS, SETTINGS, STORE, WORKER
from .models import Job

JOB_NOT_FOUND = "Job not found"
BODY_HINT = 'send a JSON object like {"data": {...}}'


async def create_job(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if "data" not in body:
        raise json_error(web.HTTPBadRequest, f'Request body has no "data" field: {BODY_HINT}')
    try:
        job = await request.app[WORKER].submit(body["data"])
    except OSError as exc:
        raise json_error(web.HTTPServiceUnavailable, f"Job could not be stored: {exc}") from None
    return web.json_response(
        job.to_dict(), status=201, headers={"Location": f"/job/{job.id}"}, dumps=codec.dumps_str
    )


async def get_job(request: web.Request) -> web.Response:
    return web.json_response(_job(request).to_dict(), dumps=codec.dumps_str)


async def stream_job(request: web.Request) -> web.StreamResponse:
    app, job = request.app, _job(request)
    settings = app[SETTINGS]
    return await sse.stream_job(request, job, app[EVENTS], app[OPEN_STREAMS],
                                settings.stream_block_ms, settings.sse_ping_seconds)  # fmt: skip


def _job(request: web.Request) -> Job:
    job = request.app[STORE].get(request.match_info["id"])
    if job is None:
        raise json_error(web.HTTPNotFound, JOB_NOT_FOUND)
    return job


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise json_error(web.HTTPBadRequest, f"Request body is empty: {BODY_HINT}")
    try:
        body = codec.loads(raw)
    except (codec.DecodeError, UnicodeDecodeError):
        raise json_error(
            web.HTTPBadRequest, f"Request body is not valid JSON: {BODY_HINT}"
        ) from None
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, f"Request body is not a JSON object: {BODY_HINT}")
    if codec.nesting_depth(body) > codec.MAX_DEPTH:
        message = (
            f"Request body is nested deeper than {codec.MAX_DEPTH} levels of arrays and objects"
        )
        raise json_error(web.HTTPBadRequest, message)
    return body
