"""HTTP views: parse the request, call the domain, answer. Errors are raised as JSON."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from redis.exceptions import RedisError

from ..core import codec
from ..core.errors import QueueFullError
from ..core.models import Job
from ..service.worker import CancelPendingError, JobFinishedError, JobNotFoundError
from ..store.redis_backend import NotReplicatedError
from . import sse
from .errors import json_error
from .keys import BACKEND, REGISTRY, SETTINGS, WORKER
from .listing import page
from .validation import cut, integer_beyond_64_bits, job_request, list_query

JOB_NOT_FOUND = "Job not found"
# Sent with 429: the queue drains at the workers' pace; a second is a fair first wait.
RETRY_LATER = {"Retry-After": "1"}
BODY_HINT = 'send a JSON object like {"data": {...}}'
# A write the store refused: a full or read-only disk, Redis away or short of replicas.
STORE_ERRORS = (OSError, RedisError, NotReplicatedError)


async def create_job(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if "data" not in body:
        raise json_error(web.HTTPBadRequest, f'Request body has no "data" field: {BODY_HINT}')
    wanted = job_request(body, request.headers, request.app[REGISTRY], request.app[SETTINGS])
    try:
        job, created = await request.app[WORKER].submit(wanted)
    except QueueFullError as exc:
        raise json_error(web.HTTPTooManyRequests, str(exc), RETRY_LATER) from None
    except NotReplicatedError as exc:
        message = (
            f"Job stored, but not confirmed by the replicas asked for ({exc}): it will run; "
            "send the request again with the same Idempotency-Key to get it"
        )
        raise json_error(web.HTTPServiceUnavailable, message) from None
    except STORE_ERRORS as exc:
        raise json_error(web.HTTPServiceUnavailable, f"Job could not be stored: {exc}") from None
    return web.json_response(
        job.to_dict(),
        status=201 if created else 200,
        headers={"Location": f"/job/{job.id}"},
        dumps=codec.dumps_str,
    )


async def get_job(request: web.Request) -> web.Response:
    return web.json_response((await _job(request)).to_dict(), dumps=codec.dumps_str)


async def list_jobs(request: web.Request) -> web.Response:
    query = list_query(request.query)
    return web.json_response(await page(request.app[BACKEND], query), dumps=codec.dumps_str)


async def cancel_job(request: web.Request) -> web.Response:
    try:
        job = await request.app[WORKER].cancel(request.match_info["id"])
    except JobNotFoundError:
        raise json_error(web.HTTPNotFound, JOB_NOT_FOUND) from None
    except JobFinishedError as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    except CancelPendingError as exc:
        return _cancel_requested(exc.job)
    except STORE_ERRORS as exc:
        raise json_error(web.HTTPServiceUnavailable, f"Job could not be stored: {exc}") from None
    return web.json_response(job.to_dict(), dumps=codec.dumps_str)


async def delete_job(request: web.Request) -> web.Response:
    try:
        deleted = await request.app[WORKER].delete(request.match_info["id"])
    except CancelPendingError as exc:
        return _cancel_requested(exc.job)
    except STORE_ERRORS as exc:
        message = f"The deletion could not be stored: {exc}"
        raise json_error(web.HTTPServiceUnavailable, message) from None
    if not deleted:  # no such job, or another request deleted it meanwhile
        raise json_error(web.HTTPNotFound, JOB_NOT_FOUND)
    return web.Response(status=204)


def _cancel_requested(job: Job) -> web.Response:
    """202: the job runs in another process, which has the request but has not ended the
    job yet (it will end cancelled; its stream says when)."""
    return web.json_response(job.to_dict(), status=202, dumps=codec.dumps_str)


async def stream_job(request: web.Request) -> web.StreamResponse:
    return await sse.stream_job(request, await _job(request))


async def feed(request: web.Request) -> web.StreamResponse:
    return await sse.stream_feed(request)


async def _job(request: web.Request) -> Job:
    job = await request.app[BACKEND].get(request.match_info["id"])
    if job is None:
        raise json_error(web.HTTPNotFound, JOB_NOT_FOUND)
    return job


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await _body(request)
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
    if (literal := integer_beyond_64_bits(raw)) is not None:
        message = (
            f'"data" has the integer {cut(literal)}, outside -2^63 to 2^64-1, which would '
            "not be kept exact: send it as a string"
        )
        raise json_error(web.HTTPBadRequest, message)
    return body


async def _body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.RequestPayloadError as exc:
        # A body aiohttp could not decode (bad chunks, a broken Content-Encoding).
        cause = exc.__cause__
        detail = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
        error = json_error(web.HTTPBadRequest, f"Request body could not be read: {detail}")
        error.force_close()  # the rest of the body cannot be read: the connection is done
        raise error from None
