"""Bad input: a clear JSON error with the right status, never a 500, and nothing stored."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse

from jobservice.core.settings import MiB
from jobservice.http.keys import EVENTS, REDIS, SETTINGS, STORE

from .conftest import Client, StartApp, create_job
from .sse import read_events

MISSING_UUID = "4f0c7a52-1b1e-4c2f-9d8e-0a1b2c3d4e5f"
# "..%2Fetc" reaches the route as the id "../etc"; a bare "../" is resolved away by the client.
BAD_IDS = ["nope", "..%2Fetc", MISSING_UUID, "x" * 4000, "%00", "job%20id"]


async def error_of(response: ClientResponse, status: int) -> str:
    """Assert a JSON error with this status; return its message."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert set(body) == {"error"}
    message: str = body["error"]
    assert message.strip()
    return message


def assert_nothing_stored(client: Client) -> None:
    data_dir = client.app[SETTINGS].data_dir
    journals = sorted(data_dir.glob("journal-*.jsonl"))
    assert journals, "the store keeps an open journal while the app runs"
    assert [path.read_bytes() for path in journals] == [b""] * len(journals)
    assert len(client.app[STORE]) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"   \r\n\t ", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"data": 1', "not valid JSON"),
        (b'{"data": "\xff\xfe"}', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"42", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", '"data"'),
        (b'{"date": {"your": "job data"}}', '"data"'),
    ],
)
async def test_a_bad_body_is_a_400_that_says_what_is_wrong(
    client: Client, body: bytes, words: str
) -> None:
    response = await client.post("/job", data=body, headers={"Content-Type": "application/json"})
    message = await error_of(response, 400)
    assert words in message
    assert '{"data"' in message, "the message shows what to send instead"
    assert_nothing_stored(client)


async def test_a_body_over_the_limit_is_a_413_json_error(start_app: StartApp) -> None:
    client = await start_app(max_body_bytes=1024)
    body = b'{"data": "' + b"x" * 1024 + b'"}'
    response = await client.post("/job", data=body, headers={"Content-Type": "application/json"})
    message = await error_of(response, 413)
    assert "1024" in message
    assert_nothing_stored(client)


async def test_a_body_exactly_at_the_limit_is_accepted(start_app: StartApp) -> None:
    client = await start_app(max_body_bytes=1024)
    prefix, suffix = b'{"data": "', b'"}'
    body = prefix + b"x" * (1024 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 1024
    response = await client.post("/job", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 201, await response.text()


async def test_a_chunked_body_over_the_limit_is_a_413_json_error(start_app: StartApp) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"data": "'
        for _ in range(4):
            yield b"x" * 512
        yield b'"}'

    client = await start_app(max_body_bytes=1024)
    response = await client.post("/job", data=chunks())
    assert "1024" in await error_of(response, 413)
    assert_nothing_stored(client)


async def test_the_default_limit_is_one_mib(client: Client) -> None:
    # A BytesIO, since aiohttp warns about a raw bytes body this large.
    body = io.BytesIO(b'{"data": "' + b"x" * MiB + b'"}')
    response = await client.post("/job", data=body, headers={"Content-Type": "application/json"})
    message = await error_of(response, 413)
    assert str(MiB) in message
    assert_nothing_stored(client)


async def test_data_nested_too_deep_to_store_is_a_400(client: Client) -> None:
    # orjson reads 1024 levels but writes only 254: such a job could never be journaled.
    depth = 500
    body = b'{"data": ' + b"[" * depth + b"]" * depth + b"}"
    response = await client.post("/job", data=body, headers={"Content-Type": "application/json"})
    assert "nested" in await error_of(response, 400)
    assert_nothing_stored(client)
    await create_job(client)


@pytest.mark.parametrize("job_id", BAD_IDS)
async def test_an_unknown_or_malformed_id_is_a_404(client: Client, job_id: str) -> None:
    for path in (f"/job/{job_id}", f"/job/{job_id}/stream"):
        response = await client.get(path, headers={"Accept": "text/event-stream"})
        assert await error_of(response, 404) == "Job not found", path


async def test_looking_up_unknown_ids_creates_nothing(client: Client) -> None:
    for job_id in ("nope", MISSING_UUID):
        await client.get(f"/job/{job_id}")
        await client.get(f"/job/{job_id}/stream")
        assert await client.app[REDIS].exists(client.app[EVENTS].stream(job_id)) == 0
        assert (await client.get(f"/job/{job_id}")).status == 404
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/job", {"POST"}),
        ("DELETE", "/job", {"POST"}),
        ("PATCH", "/job", {"POST"}),
        ("GET", "/job", {"POST"}),
        ("POST", f"/job/{MISSING_UUID}", {"GET", "HEAD", "DELETE"}),
        ("PUT", f"/job/{MISSING_UUID}", {"GET", "HEAD", "DELETE"}),
        ("GET", f"/job/{MISSING_UUID}/cancel", {"POST"}),
        ("POST", f"/job/{MISSING_UUID}/stream", {"GET", "HEAD"}),
    ],
)
async def test_a_wrong_method_is_a_405_with_allow(
    client: Client, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path, json={"data": 1})
    await error_of(response, 405)
    assert {name.strip() for name in response.headers["Allow"].split(",")} == allowed
    assert_nothing_stored(client)


async def test_a_wrong_method_on_an_existing_job_changes_nothing(client: Client) -> None:
    job = await create_job(client)
    for method in ("POST", "PUT", "PATCH"):
        response = await client.request(method, f"/job/{job['id']}", json={"data": "other"})
        await error_of(response, 405)
    assert (await (await client.get(f"/job/{job['id']}")).json())["data"] == job["data"]
    assert len(client.app[STORE]) == 1


@pytest.mark.parametrize("path", ["/jobz", "/job/a/b", "/job/x/stream/more", "/etc/passwd"])
async def test_an_unknown_path_is_a_404_json_error(client: Client, path: str) -> None:
    for method in ("GET", "POST"):
        response = await client.request(method, path, json={"data": 1})
        await error_of(response, 404)
    assert_nothing_stored(client)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_json_body_is_accepted_whatever_its_content_type(
    client: Client, content_type: str
) -> None:
    body = b'{"data": {"your": "job data"}}'
    response = await client.post("/job", data=body, headers={"Content-Type": content_type})
    assert response.status == 201, await response.text()
    job = await response.json()
    assert job["data"] == {"your": "job data"}
    assert (await client.get(f"/job/{job['id']}")).status == 200


async def test_data_nested_within_the_limit_is_stored_and_streamed(client: Client) -> None:
    depth = 150
    data: object = []
    for _ in range(depth - 1):
        data = [data]
    job = await create_job(client, data)
    events = await read_events(client, job["id"])
    assert events[-1].json["type"] == "completed"
    assert (await (await client.get(f"/job/{job['id']}")).json())["data"] == data
