"""Headers for browsers on every response: no MIME sniffing, no framing, and a Server header
that names no versions. The dashboard sets a stricter Content-Security-Policy of its own."""

from __future__ import annotations

from aiohttp import web

SERVER = "jobservice"
# Framing is refused twice: frame-ancestors for current browsers, X-Frame-Options for old ones.
NO_FRAMES = "frame-ancestors 'none'"
HEADERS = {
    "Server": SERVER,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: reaches every answer the app gives, errors and streams included."""
    response.headers.update(HEADERS)
    response.headers.setdefault("Content-Security-Policy", NO_FRAMES)
