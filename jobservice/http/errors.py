"""Every error leaves as JSON {"error": "..."} with the right status; never a traceback."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import RedisError

from ..core.codec import dumps_str
from ..ops.logs import redact

logger = logging.getLogger(__name__)

# The status logged for a request whose client left before the answer (as nginx does).
CLIENT_CLOSED = 499
# Headers of a framework error worth keeping on its JSON replacement.
KEPT_HEADERS = ("Allow", "Retry-After")


def json_error(
    kind: type[web.HTTPException], message: str, headers: dict[str, str] | None = None
) -> web.HTTPException:
    """An HTTPException to raise, carrying a JSON body."""
    body = dumps_str({"error": message})
    return kind(text=body, content_type="application/json", headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {name: exc.headers[name] for name in KEPT_HEADERS if name in exc.headers}
        return web.json_response(
            {"error": _message(exc)}, status=exc.status, headers=headers, dumps=dumps_str
        )
    except ConnectionResetError:
        # The client left (often while an event stream was being opened): nobody to answer.
        logger.debug("client went away during %s %s", request.method, request.path)
        return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")
    except RedisError as exc:
        # With the Redis store, every request reads Redis: it is away, or refused the call.
        logger.warning("Redis failed on %s %s: %s", request.method, redact(request.path), exc)
        body = {"error": f"Redis is unavailable: {exc}"}
        return web.json_response(body, status=503, dumps=dumps_str)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, redact(request.path))
        return web.json_response({"error": "Internal server error"}, status=500, dumps=dumps_str)


def _message(exc: web.HTTPException) -> str:
    """aiohttp's own text when it says more than the status line (413 names the limit)."""
    text = (exc.text or "").strip()
    if not text or text.startswith(f"{exc.status}:"):
        return exc.reason
    return text
