"""Logging: one line per event, text or JSON; a request id on every request and its log lines."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from pythonjsonlogger.json import JsonFormatter
from yarl import URL

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is short and plain, so it cannot forge or break log lines.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Query parameters never written to a log (the stream endpoints accept ?token=).
SECRET_PARAMS = frozenset({"token"})
REDACTED = "REDACTED"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

REQUEST_ID_KEY = web.RequestKey("request_id", str)
current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt.lower() == "json":
        renamed = {"asctime": "time", "levelname": "level", "name": "logger"}
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields=renamed))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


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


def redact(path_qs: str) -> str:
    url = URL(path_qs)
    if not SECRET_PARAMS.intersection(url.query):
        return path_qs
    query = [(k, REDACTED if k in SECRET_PARAMS else v) for k, v in url.query.items()]
    return str(url.with_query(query))


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
