"""Raw HTTP/1.1 over a socket, for requests no well-behaved client sends (bytes that are not
UTF-8 in headers, lines past the parser's limits)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

# A bound on waits, so a hang fails the test instead of stalling the run.
HANG = 30.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)


async def send(port: int, request: bytes) -> RawResponse:
    """Send `request` as it is on a new connection; read the answer until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(HANG):
            answer = await reader.read()
    finally:
        writer.close()
    return parse(answer)


def request(
    method: str, target: bytes, headers: list[bytes] | None = None, body: bytes = b""
) -> bytes:
    """One request that asks the server to close the connection after answering."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += headers or []
    if body or method == "POST":
        lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def parse(answer: bytes) -> RawResponse:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, body)
