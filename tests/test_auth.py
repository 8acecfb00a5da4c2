"""API_TOKEN: every endpoint but health needs the bearer token; CORS_ORIGINS: the allow-list."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Client, StartApp, create_job
from .sse import parse_stream

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC = {"/healthz", "/readyz", "/", "/dashboard", "/dashboard/app.js", "/favicon.ico"}


@pytest.fixture
async def guarded(start_app: StartApp) -> Client:
    return await start_app(api_token=TOKEN)


def every_route(client: Client, job_id: str) -> list[tuple[str, str]]:
    """Each (method, path) the app serves, from its router, so new endpoints are covered too."""
    routes = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        if route.method != "HEAD":
            path = path.replace("{id}", job_id).replace("{file}", "app.js")
            routes.append((route.method, path))
    return sorted(set(routes))


async def call(client: Client, method: str, path: str, **kwargs: Any) -> int:
    response = await client.request(method, path, json={"data": 1}, **kwargs)
    if response.content_type == "text/event-stream":
        response.close()  # the feed never ends: its status is what this test wants
    else:
        await response.read()
    return response.status


async def assert_401(client: Client, method: str, path: str, **kwargs: Any) -> None:
    response = await client.request(method, path, json={"data": 1}, **kwargs)
    assert response.status == 401, (method, path, kwargs)
    assert await response.json() == {"error": "Missing or invalid API token"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_every_endpoint_but_health_needs_the_token(guarded: Client) -> None:
    job = await create_job_with_token(guarded)
    routes = every_route(guarded, job["id"])
    assert ("GET", f"/job/{job['id']}/stream") in routes and ("GET", "/metrics") in routes
    for method, path in routes:
        if path in PUBLIC:
            assert await call(guarded, method, path) == 200, path
            continue
        await assert_401(guarded, method, path)
        await assert_401(guarded, method, path, headers={"Authorization": "Bearer wrong"})
        await assert_401(guarded, method, path, headers={"Authorization": f"Basic {TOKEN}"})
        assert await call(guarded, method, path, headers=BEARER) not in (401, 500), path


async def test_the_dashboard_page_and_its_files_need_no_token(guarded: Client) -> None:
    for path in ("/", "/dashboard", "/dashboard/app.js", "/dashboard/dashboard.css"):
        response = await guarded.get(path)
        assert response.status == 200, path
        assert response.content_type in ("text/html", "text/javascript", "text/css"), path
        await response.read()
    missing = await guarded.get("/dashboard/missing.js")
    assert missing.status == 404
    assert await missing.json() == {"error": "No such dashboard file"}
    await assert_401(guarded, "POST", "/dashboard/app.js")
    for sneaky in ("/dashboard/../metrics", "/dashboard/%2e%2e/metrics", "/dashboard/..%2fjobs"):
        response = await guarded.get(sneaky)
        assert response.status in (401, 403, 404), sneaky
        assert "jobservice_" not in await response.text()


async def test_unknown_paths_need_the_token_too(guarded: Client) -> None:
    await assert_401(guarded, "GET", "/no/such/path")
    assert await call(guarded, "GET", "/no/such/path", headers=BEARER) == 404


async def test_the_bearer_scheme_is_case_insensitive(guarded: Client) -> None:
    headers = {"Authorization": f"bearer {TOKEN}"}
    assert await call(guarded, "GET", "/metrics", headers=headers) == 200


async def create_job_with_token(client: Client) -> dict[str, Any]:
    response = await client.post("/job", json={"data": 1}, headers=BEARER)
    assert response.status == 201
    job: dict[str, Any] = await response.json()
    return job


async def test_streams_also_take_the_token_in_the_query(guarded: Client) -> None:
    job = await create_job_with_token(guarded)
    async with guarded.get(f"/job/{job['id']}/stream?token={TOKEN}") as response:
        assert response.status == 200
        assert (await parse_stream(response))[-1].json["type"] == "completed"
    await assert_401(guarded, "GET", f"/job/{job['id']}/stream?token=wrong")
    await assert_401(guarded, "GET", f"/job/{job['id']}?token={TOKEN}")
    await assert_401(guarded, "POST", f"/job?token={TOKEN}")


async def test_without_api_token_no_auth_is_needed(client: Client) -> None:
    job = await create_job(client)
    assert (await client.get(f"/job/{job['id']}")).status == 200


ORIGIN = "https://dashboard.example.com"


async def test_a_preflight_from_an_allowed_origin_is_answered(start_app: StartApp) -> None:
    client = await start_app(api_token=TOKEN, cors_origins=f"https://other.test, {ORIGIN}/")
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, last-event-id",
    }
    response = await client.options("/job/some-id/stream", headers=headers)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "last-event-id", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers.getall("Vary")


async def test_a_preflight_from_another_origin_is_refused(start_app: StartApp) -> None:
    client = await start_app(cors_origins=ORIGIN)
    headers = {"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"}
    response = await client.options("/job", headers=headers)
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_to_an_allowed_origin_carry_cors_headers(start_app: StartApp) -> None:
    client = await start_app(api_token=TOKEN, cors_origins=ORIGIN)
    headers = {**BEARER, "Origin": ORIGIN}
    created = await client.post("/job", json={"data": 1}, headers=headers)
    assert created.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {name.strip() for name in created.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Location", "Retry-After", "X-Request-ID"} <= exposed
    job = await created.json()
    async with client.get(f"/job/{job['id']}/stream?token={TOKEN}", headers=headers) as stream:
        assert stream.headers["Access-Control-Allow-Origin"] == ORIGIN  # EventSource needs it
    refused = await client.get("/metrics", headers={"Origin": ORIGIN})
    assert refused.status == 401, "a browser must see the 401, not a CORS failure"
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = await client.get("/metrics", headers={**BEARER, "Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_a_wildcard_allows_any_origin(start_app: StartApp) -> None:
    client = await start_app(cors_origins="*")
    response = await client.get("/healthz", headers={"Origin": "https://anywhere.test"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
