"""GET /openapi.json matches the routes; /docs renders it; schemathesis finds nothing wrong."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from .conftest import Client
from .test_process import HANG, Service

pytestmark = pytest.mark.slow

TOKEN = "schemathesis-token"
SCHEMATHESIS = Path(sys.executable).parent / "st"
# Per-operation settings: the endless /events feed left out, opaque cursors, DELETE cancels.
CONFIG = Path(__file__).parent / "schemathesis.toml"


async def test_the_document_describes_exactly_the_routes_served(client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        if route.method != "HEAD":
            served.add((route.method, info.get("path") or info.get("formatter")))
    assert documented == served


async def test_the_docs_page_is_self_contained_and_lists_every_path(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    spec = await (await client.get("/openapi.json")).json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "nothing from the network"


async def test_the_event_feed_is_an_event_stream_as_documented(client: Client) -> None:
    """Schemathesis leaves /events out (it never ends): check its answer here."""
    spec = await (await client.get("/openapi.json")).json()
    documented = spec["paths"]["/events"]["get"]["responses"]["200"]["content"]
    async with client.get("/events") as response:
        assert response.status == 200 and response.content_type in documented


async def test_new_job_types_are_the_ones_served(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).json()
    new_job = spec["components"]["schemas"]["NewJob"]["properties"]
    assert new_job["type"]["enum"] == ["demo", "noop"]


async def test_schemathesis_finds_no_server_error_or_nonconformance(tmp_path: Path) -> None:
    service = Service(tmp_path / "data", API_TOKEN=TOKEN, JOB_STEP_MS="0")
    await service.start()
    try:
        run = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{service.url}/openapi.json",
            "--header", f"Authorization: Bearer {TOKEN}",
            "--checks", "all",
            "--max-examples", "10",
            "--seed", "1",
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(run.communicate(), timeout=HANG * 4)
    finally:
        assert await service.stop(signal.SIGTERM) == 0
    report = output.decode()
    assert run.returncode == 0, report
    assert "No issues found" in report
