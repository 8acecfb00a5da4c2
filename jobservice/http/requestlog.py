"""Request ids (from X-Request-ID or made up) on every response and log line, and the access
log: one line per request, without secrets from the query string."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from ..ops.logs import current_request_id, redact

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain, so it cannot forge or break log lines.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_KEY = web.RequestKey("request_id", str)


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    token = current_request_id.set(request_id)
    try:
        return await handler(request)
    finally:
        current_request_id.reset(token)


async def send_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: also reaches SSE responses and errors raised past the middleware."""
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


class AccessLogger(AbstractAccessLogger):
    """One line per request, with its request id and without secrets from the query string."""

    def log(self, request: Any, response: Any, time: float) -> None:
        fields = {
            "request_id": response.headers.get(REQUEST_ID_HEADER),
            "remote": request.remote,
            "method": request.method,
            "path": redact(request.path_qs),
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 1),
        }
        self.logger.info(
            '%(remote)s "%(method)s %(path)s" %(status)d %(bytes)d %(duration_ms).1fms '
            "request_id=%(request_id)s",
            fields,
            extra=fields,
        )
