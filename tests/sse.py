"""A small SSE client for tests: parses the wire format as a browser's EventSource does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient


@dataclass
class ServerEvent:
    data: str
    id: str | None = None
    event: str | None = None
    fields: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


async def parse_stream(response: ClientResponse) -> list[ServerEvent]:
    """Read until the server ends the response; comments (pings) are skipped."""
    return [event async for event in iter_events(response)]


async def iter_events(response: ClientResponse) -> AsyncIterator[ServerEvent]:
    """Each event as it arrives, for streams that do not end by themselves."""
    current: dict[str, str] = {}
    names: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if "data" in current:
                yield ServerEvent(current["data"], current.get("id"), current.get("event"), names)
            current, names = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        names.append(name)
        current[name] = value.removeprefix(" ")


async def read_events(
    client: TestClient[Any, Any], job_id: str, last_event_id: str | None = None
) -> list[ServerEvent]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with client.get(f"/job/{job_id}/stream", headers=headers) as response:
        if response.status == 204:  # nothing left to send: the client has the last event
            return []
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return await parse_stream(response)
