"""A client cannot fill the log: a request aiohttp refuses is one INFO line, not a traceback,
and no token reaches the log, whatever its case or however long the URL around it."""

from __future__ import annotations

import gzip
import logging
import signal
from pathlib import Path

import aiohttp
import pytest

from jobservice.ops.logs import redact

from .conftest import Client
from .rawhttp import RawResponse, request, send
from .test_process import Service

SECRET = "s3cret-token-value"
LONG_URL = b"/events?token=" + SECRET.encode() + b"&pad=" + b"a" * 100_000
MANY_HEADERS = [b"X-Filler-%d: x" % number for number in range(10_000)]


def refused(response: RawResponse) -> None:
    """What aiohttp answers for a request it cannot parse: a 400 it writes itself."""
    assert response.status == 400, response.body
    assert response.headers.get("connection", "close").lower() == "close"


def protocol_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What was logged about the request besides its access-log line."""
    return [record for record in caplog.records if record.name != "aiohttp.access"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (request("GET", LONG_URL), "8190"),
        (request("GET", b"/jobs", MANY_HEADERS), "Too many headers"),
        (request("GET", b"/jobs", [b"X-Long: " + b"y" * 20_000]), "8190"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, "400"),
        (request("GET", b"/job/\xff"), "Invalid char in url path"),
    ],
)
async def test_a_request_aiohttp_refuses_is_one_info_line(
    client: Client, caplog: pytest.LogCaptureFixture, raw: bytes, words: str
) -> None:
    caplog.set_level(logging.DEBUG)
    port = client.server.port
    assert port is not None
    refused(await send(port, raw))
    lines = protocol_lines(caplog)
    assert len(lines) == 1, caplog.text
    assert lines[0].levelno <= logging.INFO and lines[0].exc_info is None
    assert words in lines[0].getMessage() and "\n" not in lines[0].getMessage()
    assert "Traceback" not in caplog.text
    assert SECRET not in caplog.text


async def test_a_body_that_breaks_mid_way_is_one_info_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = gzip.compress(b'{"data": "' + b"z" * 50_000 + b'"}')[:2000] + b"broken" * 1000
    response = await client.post("/job", data=body, headers={"Content-Encoding": "gzip"})
    assert response.status == 400
    assert "could not be read" in (await response.json())["error"]
    assert "Traceback" not in caplog.text
    assert all(record.levelno <= logging.INFO for record in protocol_lines(caplog))


@pytest.mark.parametrize("name", ["token", "TOKEN", "Token", "%74oken", "%54OKEN"])
async def test_a_token_in_any_case_is_redacted_from_the_access_log(
    client: Client, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.INFO)
    await client.get(f"/jobs?{name}={SECRET}&x=1")
    await client.get(f"/job/nope?a=1&{name}={SECRET}")
    access = [record for record in caplog.records if record.name == "aiohttp.access"]
    assert len(access) == 2, caplog.text
    assert SECRET not in caplog.text
    assert all("=REDACTED" in record.getMessage() for record in access)


async def test_the_service_logs_one_line_per_refused_request(tmp_path: Path) -> None:
    service = Service(tmp_path / "data", API_TOKEN=SECRET)
    await service.start()
    port = int(service.url.rsplit(":", 1)[1])
    for raw in (request("GET", LONG_URL), request("GET", LONG_URL.upper()),
                request("GET", b"/jobs", MANY_HEADERS)):  # fmt: skip
        refused(await send(port, raw))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{service.url}/jobs?TOKEN={SECRET}") as response,
    ):
        assert response.status == 401
    assert await service.stop(signal.SIGTERM) == 0
    output = await service.output()
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]
    assert SECRET not in output and SECRET.upper() not in output
    bad = [line for line in output.splitlines() if "bad request: 400" in line]
    assert len(bad) == 3 and all(" INFO " in line for line in bad), output[-3000:]


def test_redaction_covers_raw_request_lines_and_any_case() -> None:
    line = "Got more than 8190 bytes when reading: bytearray(b'/events?ToKeN=abc&pad=aaa...')"
    assert redact(line).endswith("bytearray(b'/events?ToKeN=REDACTED&pad=aaa...')")
    assert redact("/e?a=1;token=abc") == "/e?a=1;token=REDACTED"
    assert redact("/e?tokens=abc&my_token=x&token") == "/e?tokens=abc&my_token=x&token"
    assert redact("/e?token=&TOKEN=b") == "/e?token=REDACTED&TOKEN=REDACTED"
