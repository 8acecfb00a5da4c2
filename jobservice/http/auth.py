"""Bearer-token auth: with API_TOKEN set, every endpoint but health (and the dashboard's
static page) needs the token."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .dashboard import is_dashboard
from .errors import json_error

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/favicon.ico"})
# A browser's EventSource cannot send headers, so event streams also take ?token=.
TOKEN_PARAM = "token"
STREAM_PATHS = ("/stream", "/events")


def require_token(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _public(request) or _matches(_presented(request), expected):
            return await handler(request)
        error = json_error(web.HTTPUnauthorized, "Missing or invalid API token")
        error.headers["WWW-Authenticate"] = 'Bearer realm="jobservice"'
        raise error

    return auth


def _public(request: web.Request) -> bool:
    if request.method in ("GET", "HEAD") and is_dashboard(request.path):
        return True
    return request.path in PUBLIC_PATHS


def _presented(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if request.path.endswith(STREAM_PATHS):
        return request.query.get(TOKEN_PARAM)
    return None


def _matches(presented: str | None, expected: bytes) -> bool:
    if presented is None:
        return False
    try:
        # aiohttp keeps header bytes that are not UTF-8 as surrogates: these give them back.
        given = presented.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, expected)
