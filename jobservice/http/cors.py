"""CORS for an allow-list of origins: preflights answered here, headers added to responses."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .errors import json_error

ANY_ORIGIN = "*"
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-ID"
# A browser script sees only these response headers beyond the simple ones: Retry-After
# tells it when to come back after a 429 (queue full) or a 503.
EXPOSE_HEADERS = "Location, Retry-After, X-Request-ID"
PREFLIGHT_MAX_AGE = "600"


def parse_origins(raw: str) -> frozenset[str]:
    """CORS_ORIGINS: comma-separated origins like https://app.example.com, or *."""
    return frozenset(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


def setup_cors(app: web.Application, origins: frozenset[str]) -> Middleware:
    """Add the response headers to every response of `app`; return the preflight middleware."""

    def allowed(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is None or not (ANY_ORIGIN in origins or origin in origins):
            return None
        return ANY_ORIGIN if ANY_ORIGIN in origins else origin

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = allowed(request)
        response.headers.add("Vary", "Origin")
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return await handler(request)
        if allowed(request) is None:
            raise json_error(web.HTTPForbidden, "Origin not allowed")
        headers = {
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
        }
        return web.Response(status=204, headers=headers)

    app.on_response_prepare.append(add_headers)
    return preflight
