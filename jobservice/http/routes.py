"""The URL map."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from . import health, views
from .dashboard import setup_dashboard
from .docs import docs_page
from .openapi import openapi_json

# The dashboard's icon, where browsers look for one on every page load.
FAVICON = Path(__file__).parent / "static" / "favicon.svg"
FAVICON_HEADERS = {"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"}


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/job", views.create_job)
    app.router.add_get("/jobs", views.list_jobs)
    app.router.add_get("/events", views.feed)
    app.router.add_get("/job/{id}", views.get_job)
    app.router.add_delete("/job/{id}", views.delete_job)
    app.router.add_post("/job/{id}/cancel", views.cancel_job)
    app.router.add_get("/job/{id}/stream", views.stream_job)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
    app.router.add_get("/favicon.ico", favicon)
    setup_dashboard(app)


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(FAVICON, headers=FAVICON_HEADERS)
