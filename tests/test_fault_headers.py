"""Headers for browsers: the dashboard cannot be framed or sniffed and loads nothing foreign,
no response names the server's versions, and a browser may send Idempotency-Key."""

from __future__ import annotations

import pytest
from aiohttp import ClientResponse

from .conftest import Client, StartApp, create_job

DASHBOARD = ["/", "/dashboard", "/dashboard/app.js", "/dashboard/dashboard.css"]


def policy(response: ClientResponse) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    directives = response.headers["Content-Security-Policy"].split(";")
    return dict((part.strip() + " ").split(" ", 1) for part in directives if part.strip())


def assert_not_framed_or_sniffed(response: ClientResponse) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert policy(response)["frame-ancestors"].strip() == "'none'"


@pytest.mark.parametrize("path", DASHBOARD)
async def test_the_dashboard_cannot_be_framed_and_loads_only_its_own_files(
    client: Client, path: str
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert_not_framed_or_sniffed(response)
    directives = policy(response)
    assert directives["default-src"].strip() == "'self'"
    assert directives["object-src"].strip() == "'none'"
    assert directives["base-uri"].strip() == "'none'"


async def test_no_response_names_the_servers_versions(client: Client) -> None:
    job = await create_job(client)
    answers = [
        await client.get("/healthz"),
        await client.get(f"/job/{job['id']}"),
        await client.get(f"/job/{job['id']}/stream"),
        await client.get("/job/nope"),
        await client.delete("/job"),
        await client.post("/job", data=b"{"),
        await client.get("/docs"),
        *[await client.get(path) for path in DASHBOARD],
    ]
    for response in answers:
        await response.read()
        assert response.headers["Server"] == "jobservice", response.url
        assert_not_framed_or_sniffed(response)


async def test_a_preflight_allows_the_idempotency_key(start_app: StartApp) -> None:
    origin = "https://app.example.com"
    client = await start_app(cors_origins=origin)
    asked = {"content-type", "idempotency-key"}
    preflight = {"Access-Control-Request-Method": "POST"}
    preflight["Access-Control-Request-Headers"] = ", ".join(sorted(asked))
    response = await client.options("/job", headers={"Origin": origin, **preflight})
    assert response.status == 204
    allowed = response.headers["Access-Control-Allow-Headers"].lower().replace(" ", "")
    assert asked <= set(allowed.split(","))
    posted = await client.post(
        "/job", json={"data": 1}, headers={"Origin": origin, "Idempotency-Key": "browser-1"}
    )
    assert posted.status == 201
    assert posted.headers["Access-Control-Allow-Origin"] == origin
