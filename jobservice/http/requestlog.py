"""Request ids (from X-Request-ID or made up) on every response and log line, the access
log (one line per request, without secrets from the query string), and one line, not a
traceback, for each request aiohttp refuses before it reaches the app."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from ..ops.logs import current_request_id, redact

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain, so it cannot forge or break log lines.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_KEY = web.RequestKey("request_id", str)
# The logger aiohttp's connection handler reports to: errors that no handler saw.
PROTOCOL_LOGGER = "jobservice.http.protocol"
# How much of aiohttp's description of a bad request is logged (it can quote the request).
DETAIL_CHARS = 300


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


class ClientErrors(logging.Filter):
    """A request aiohttp could not parse (a line or header too long, too many headers, bytes
    that are not HTTP) or whose body it could not decode is the client's error: one line at
    INFO, secrets redacted, instead of an ERROR with a traceback. Other errors pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, web.RequestPayloadError) and error.__cause__ is not None:
            error = error.__cause__
        if isinstance(error, HttpProcessingError):
            detail = redact(" ".join(str(error.message).split()))[:DETAIL_CHARS]
            record.msg = f"bad request: {error.code} {detail} ({redact(record.getMessage())})"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno = min(record.levelno, logging.INFO)
            record.levelname = logging.getLevelName(record.levelno)
        return True


def protocol_logger() -> logging.Logger:
    """The logger to hand aiohttp's connection handler, with ClientErrors on it (once)."""
    logger = logging.getLogger(PROTOCOL_LOGGER)
    if not any(isinstance(f, ClientErrors) for f in logger.filters):
        logger.addFilter(ClientErrors())
    return logger
