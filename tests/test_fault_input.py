"""Hostile numbers and bytes: integers beyond 64 bits, Unicode digits, header bytes that are
not UTF-8. Each is a 400 (or a 401) that says what is wrong, never a 500, and nothing is
stored."""

from __future__ import annotations

import gzip

import pytest

from .conftest import Client, StartApp, create_job
from .rawhttp import RawResponse, request, send
from .test_errors import assert_nothing_stored, error_of

BIG = str(2**100).encode()
TOKEN = "s3cret-tøken"


def assert_json_error(response: RawResponse, status: int) -> str:
    assert response.status == status, response.body
    assert response.content_type == "application/json"
    assert "x-request-id" in response.headers
    message: str = response.json()["error"]
    return message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"data": 1, "priority": ' + BIG + b"}", '"priority" must be an integer'),
        (b'{"data": 1, "delay_ms": ' + BIG + b"}", '"delay_ms" must be an integer'),
        (b'{"data": 1, "max_attempts": -' + BIG + b"}", '"max_attempts" must be an integer'),
        (b'{"data": ' + BIG + b"}", "outside -2^63 to 2^64-1, which would not be kept exact"),
        (b'{"data": [' + BIG + b"]}", '"data" has the integer 1267650600228229401496703205376'),
        (b'{"data": {"deep": [1, 2, {"n": 18446744073709551616}]}}', "18446744073709551616"),
        (b'{"data": -9223372036854775809}', "-9223372036854775809"),
        (b'{"data": ' + b"7" * 300 + b"}", "(300 chars)"),
        (b'{"data": 1, "priority": 1e30}', '"priority" must be an integer'),
        (b'{"data": 1, "max_attempts": 1.5e300}', '"max_attempts" must be an integer'),
    ],
)
async def test_numbers_that_cannot_be_kept_exact_are_a_400(
    client: Client, body: bytes, words: str
) -> None:
    response = await client.post("/job", data=body)
    assert words in await error_of(response, 400)
    assert_nothing_stored(client)


async def test_integers_at_the_64_bit_edges_are_kept_exact(client: Client) -> None:
    edges = {"top": 2**64 - 1, "bottom": -(2**63), "digits": 10**18, "string": str(2**100)}
    job = await create_job(client, edges)
    stored = await (await client.get(f"/job/{job['id']}")).json()
    assert job["data"] == stored["data"] == edges


async def test_a_big_integer_outside_data_is_ignored_with_its_field(client: Client) -> None:
    body = b'{"data": "kept", "note": ' + BIG + b', "more": {"n": -' + BIG + b"}}"
    response = await client.post("/job", data=body)
    assert response.status == 201, await response.text()
    assert (await response.json())["data"] == "kept"


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "1" * 5000, "0" * 5000, "-1", "1e2", "+5"])
async def test_a_limit_that_is_not_ascii_digits_in_range_is_a_400(
    client: Client, limit: str
) -> None:
    response = await client.get(f"/jobs?limit={limit}")
    assert '"limit" must be an integer from 1 to 500' in await error_of(response, 400)
    assert (await client.get(f"/jobs?limit={'0' * 5000}500")).status == 200


async def test_an_idempotency_key_that_is_not_utf8_is_a_400(client: Client) -> None:
    port = client.server.port
    assert port is not None
    headers = [b"Idempotency-Key: order-\xff\xfe"]
    response = await send(port, request("POST", b"/job", headers, b'{"data": 1}'))
    assert "UTF-8" in assert_json_error(response, 400)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    "authorization", [b"Bearer \xff\xfe", b"Bearer s3cret-t\xf8ken", b"Bearer \xed\xa0\x80"]
)
async def test_a_token_that_is_not_utf8_is_a_401(start_app: StartApp, authorization: bytes) -> None:
    client = await start_app(api_token=TOKEN)
    port = client.server.port
    assert port is not None
    response = await send(port, request("GET", b"/jobs", [b"Authorization: " + authorization]))
    assert assert_json_error(response, 401) == "Missing or invalid API token"


async def test_a_token_with_non_ascii_characters_works(start_app: StartApp) -> None:
    client = await start_app(api_token=TOKEN)
    port = client.server.port
    assert port is not None
    header = b"Authorization: Bearer " + TOKEN.encode()
    response = await send(port, request("GET", b"/jobs", [header]))
    assert response.status == 200, response.body


async def test_a_body_that_cannot_be_decoded_is_a_400(client: Client) -> None:
    broken = gzip.compress(b'{"data": 1}')[:-6] + b"garbage!"
    for body in (b"not gzip at all", broken):
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        response = await client.post("/job", data=body, headers=headers)
        assert "could not be read" in await error_of(response, 400)
    assert_nothing_stored(client)
    response = await client.post(
        "/job", data=gzip.compress(b'{"data": "zipped"}'), headers={"Content-Encoding": "gzip"}
    )
    assert response.status == 201, await response.text()
