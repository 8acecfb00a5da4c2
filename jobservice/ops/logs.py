"""Logging: one line per event, text or JSON, stamped with the id of the request it serves."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from urllib.parse import unquote_plus

from pythonjsonlogger.json import JsonFormatter

# Query parameters never written to a log (the stream endpoints accept ?token=), in any case.
SECRET_PARAMS = frozenset({"token"})
REDACTED = "REDACTED"
# A query parameter in a URL, a request line or a parser's error message: its name and value.
QUERY_PARAM = re.compile(r"(?<=[?&;])([^=&;?#\s'\"]+)=([^&;#\s'\"]*)")
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


def redact(text: str) -> str:
    """`text` with the value of every secret query parameter replaced; the name is matched
    in any case and percent-encoding, so ?TOKEN= and ?%74oken= are caught too."""
    return QUERY_PARAM.sub(_redact_param, text)


def _redact_param(match: re.Match[str]) -> str:
    name = match.group(1)
    if unquote_plus(name).strip().lower() in SECRET_PARAMS:
        return f"{name}={REDACTED}"
    return match.group(0)
