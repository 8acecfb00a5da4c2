"""Generated requests against a live server (Hypothesis): whatever the body, the query string
or the header bytes, the answer is never a 5xx, and every error the service gives is JSON.

Each request goes over a raw socket, so header values can hold any bytes. A request aiohttp's
parser refuses never reaches the service: it is a plain-text 400 without X-Request-ID
(docs/api.md, Errors), which is all these tests ask of it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import StartApp
from .rawhttp import request, send

TOKEN = "fuzz-token"
BEARER = b"Authorization: Bearer " + TOKEN.encode()
# Bounded, so the suite stays quick; each example is one request to a live server.
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

EDGES = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 2**100]
NUMBERS = st.one_of(
    st.integers(), st.sampled_from(EDGES), st.floats(), st.integers(min_value=10**17)
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELD = st.one_of(NUMBERS, JSON)
JOB_BODY = st.fixed_dictionaries(
    {},
    optional={
        "data": JSON,
        "type": st.one_of(st.sampled_from(["demo", "nope", ""]), JSON),
        "priority": FIELD,
        "delay_ms": FIELD,
        "max_attempts": FIELD,
        "timeout": FIELD,
    },
)
# JSON text as the standard library writes it: exact big integers, NaN and Infinity included.
BODY = st.one_of(
    JOB_BODY.map(lambda body: json.dumps(body).encode()),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
)

QUERY_NAMES = st.one_of(st.sampled_from(["status", "type", "limit", "cursor"]), st.text(max_size=6))
QUERY_VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["²", "٣", "1" * 5000, "0", "500", "501", "-1", "pending", "bogus"]),
    st.binary(max_size=12),
)
# Header bytes as a client could send them, except the line breaks that end a header.
HEADER_BYTES = st.binary(max_size=48).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))
HEADER_NAMES = [
    "Idempotency-Key", "Authorization", "X-Request-ID", "Content-Type", "Content-Encoding",
    "Origin", "Accept", "Last-Event-ID", "Access-Control-Request-Method",
]  # fmt: skip
HEADERS = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES), st.one_of(HEADER_BYTES, st.just(b"Bearer \xff"))),
    max_size=4,
)


def as_query_part(value: str | bytes) -> str:
    return quote_from_bytes(value.encode() if isinstance(value, str) else value, safe="")


async def check(port: int, raw: bytes) -> None:
    """Send the request; the answer is no 5xx, and JSON if it is the service's error."""
    response = await send(port, raw)
    sent = f"request {raw[:400]!r} got {response.status} {response.body[:300]!r}"
    assert response.status < 500, sent
    if "x-request-id" not in response.headers:
        assert response.status == 400, f"only aiohttp's parser answers without an id: {sent}"
        return
    if response.status >= 400:
        assert response.content_type == "application/json", sent
        error: Any = response.json()
        assert set(error) == {"error"} and isinstance(error["error"], str), sent


@pytest.fixture
async def port(start_app: StartApp) -> int:
    client = await start_app(api_token=TOKEN, cors_origins="https://app.example.com")
    assert client.server.port is not None
    return client.server.port


@BOUNDED
@given(body=BODY)
@example(body=b'{"data": 1, "priority": 1267650600228229401496703205376}')
@example(body=b'{"data": 1, "max_attempts": 1e300}')
async def test_no_body_makes_a_server_error(port: int, body: bytes) -> None:
    await check(port, request("POST", b"/job", [BEARER], body))


@BOUNDED
@given(params=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=4))
@example(params=[("limit", "²")])
@example(params=[("limit", "9" * 5000)])
async def test_no_query_string_makes_a_server_error(
    port: int, params: list[tuple[str, str | bytes]]
) -> None:
    query = "&".join(f"{as_query_part(name)}={as_query_part(value)}" for name, value in params)
    await check(port, request("GET", b"/jobs?" + query.encode(), [BEARER]))


@BOUNDED
@given(headers=HEADERS, with_token=st.booleans(), post=st.booleans())
@example(headers=[("Idempotency-Key", b"\xff\xfe")], with_token=True, post=True)
@example(headers=[("Authorization", b"Bearer \xff")], with_token=False, post=False)
async def test_no_header_bytes_make_a_server_error(
    port: int, headers: list[tuple[str, bytes]], with_token: bool, post: bool
) -> None:
    lines = [name.encode() + b": " + value for name, value in headers]
    if with_token and not any(name == "Authorization" for name, _ in headers):
        lines.append(BEARER)
    raw = (
        request("POST", b"/job", lines, b'{"data": 1}') if post else request("GET", b"/jobs", lines)
    )
    await check(port, raw)


@BOUNDED
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    template=st.sampled_from(["/job/{}", "/job/{}/cancel", "/job/{}/stream", "/{}", "/jobs/{}"]),
    segment=st.one_of(st.text(max_size=40), st.binary(max_size=40)),
)
async def test_no_path_or_method_makes_a_server_error(
    method: str, template: str, segment: str | bytes, port: int
) -> None:
    # Ids are never ones the service gave out: a stream of a real job would not end here.
    path = template.format(as_query_part(segment)).encode()
    await check(port, request(method, path, [BEARER], b'{"data": 1}' if method == "POST" else b""))
