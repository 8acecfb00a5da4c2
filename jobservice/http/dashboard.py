"""GET / and /dashboard: the live dashboard, static files shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .errors import json_error

STATIC_DIR = Path(__file__).parent / "static"
PAGE = STATIC_DIR / "dashboard.html"
# The page and its files need no token: they hold no data, and the page asks for the token.
PAGE_PATHS = ("/", "/dashboard")
FILES_PREFIX = "/dashboard/"
# Stated, not guessed: the system's MIME table may say application/javascript.
CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
# Only the files shipped with the package, by name: nothing else under STATIC_DIR is reachable.
FILES = frozenset(path.name for path in STATIC_DIR.iterdir() if path.suffix in CONTENT_TYPES)
# The page loads only its own files and talks only to this service; it has Cancel buttons,
# so no other site may frame it.
CONTENT_POLICY = "; ".join([
    "default-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
])  # fmt: skip
HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_POLICY}


def is_dashboard(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith(FILES_PREFIX)


async def dashboard_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE, headers=HEADERS)


async def dashboard_file(request: web.Request) -> web.FileResponse:
    name = request.match_info["file"]
    if name not in FILES:
        raise json_error(web.HTTPNotFound, "No such dashboard file")
    path = STATIC_DIR / name
    content_type = f"{CONTENT_TYPES[path.suffix]}; charset=utf-8"
    return web.FileResponse(path, headers={**HEADERS, "Content-Type": content_type})


def setup_dashboard(app: web.Application) -> None:
    for path in PAGE_PATHS:
        app.router.add_get(path, dashboard_page)
    app.router.add_get(FILES_PREFIX + "{file}", dashboard_file)
