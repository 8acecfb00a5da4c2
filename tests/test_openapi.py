"""GET /openapi.json matches the routes; /docs renders it; schemathesis finds nothing wrong."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import Client, StartApp
from .test_process import HANG, Service
from .test_stream import Gate

pytestmark = pytest.mark.slow

TOKEN = "schemathesis-token"
SCHEMATHESIS = Path(sys.executable).parent / "st"
# Per-operation settings: the endless /events feed left out, opaque cursors.
CONFIG = Path(__file__).parent / "schemathesis.toml"
# Examples per operation: a few for every test run; the benchmark of record sets 1000
# (docs/api.md, "OpenAPI and docs").
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES") or 10)


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


async def test_an_empty_status_filter_is_documented_as_any_status(client: Client) -> None:
    """Found by schemathesis at 1,000 examples: `status=` was served, not documented."""
    spec = await (await client.get("/openapi.json")).json()
    params = {p["name"]: p for p in spec["paths"]["/jobs"]["get"]["parameters"]}
    assert "" in params["status"]["schema"]["enum"]
    assert (await client.get("/jobs?status=")).status == 200
    assert (await client.get("/jobs?status=bogus")).status == 400


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path in spec["paths"].values() for operation in path.values()]


async def test_without_a_token_the_document_asks_for_none(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).json()
    assert "security" not in spec and "securitySchemes" not in spec["components"]
    for operation in operations(spec):
        assert "security" not in operation and "401" not in operation["responses"]
    assert "needs no token" in spec["info"]["description"]
    page = await (await client.get("/docs")).text()
    assert "needs no token" in page and "401" not in page


async def test_with_a_token_the_document_asks_for_it(start_app: StartApp) -> None:
    client = await start_app(api_token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    spec = await (await client.get("/openapi.json", headers=bearer)).json()
    assert spec["security"] == [{"bearer": []}]
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "queryToken"}
    guarded = [op for op in operations(spec) if op.get("security") != []]
    assert guarded and all("401" in op["responses"] for op in guarded)
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    refused = await client.post("/job", json={"data": 1})
    assert "WWW-Authenticate" in refused.headers
    assert all("WWW-Authenticate" in op["responses"]["401"]["headers"] for op in guarded)


async def test_a_full_queue_is_documented_with_the_retry_after_it_sends(
    start_app: StartApp,
) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1, queue_limit=1)
    assert (await client.post("/job", json={"data": 1})).status == 201
    await asyncio.wait_for(gate.started.wait(), HANG)  # running: it has left the queue
    assert (await client.post("/job", json={"data": 2})).status == 201
    full = await client.post("/job", json={"data": 3})
    assert full.status == 429 and "Retry-After" in full.headers
    spec = await (await client.get("/openapi.json")).json()
    assert set(spec["paths"]["/job"]["post"]["responses"]["429"]["headers"]) == {"Retry-After"}


@pytest.mark.parametrize("token", [None, TOKEN], ids=["default", "api-token"])
async def test_schemathesis_finds_no_server_error_or_nonconformance(
    tmp_path: Path, token: str | None
) -> None:
    # Started the default way (no API_TOKEN, whatever this shell has), and with a token.
    service = Service(tmp_path / "data", JOB_STEP_MS="0", API_TOKEN=token or "")
    await service.start()
    auth = ["--header", f"Authorization: Bearer {token}"] if token else []
    try:
        run = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{service.url}/openapi.json",
            *auth,
            "--checks", "all",
            "--max-examples", str(MAX_EXAMPLES),
            "--seed", "1",
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(run.communicate(), timeout=HANG * 4 + MAX_EXAMPLES)
    finally:
        assert await service.stop(signal.SIGTERM) == 0
    report = output.decode()
    (tmp_path / "schemathesis.txt").write_text(report)  # kept with pytest's --basetemp
    assert run.returncode == 0, report
    assert "No issues found" in report
