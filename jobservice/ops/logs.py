"""Logging: one line per event, text or JSON, stamped with the id of the request it serves."""

from __future__ import annotations

import logging
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter
from yarl import URL

# Query parameters never written to a log (the stream endpoints accept ?token=).
SECRET_PARAMS = frozenset({"token"})
REDACTED = "REDACTED"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

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


def redact(path_qs: str) -> str:
    url = URL(path_qs)
    if not SECRET_PARAMS.intersection(url.query):
        return path_qs
    query = [(k, REDACTED if k in SECRET_PARAMS else v) for k, v in url.query.items()]
    return str(url.with_query(query))
