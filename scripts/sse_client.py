"""A minimal SSE reader for the load tests: yields (id, event) pairs from a jobservice stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson


@dataclass
class Received:
    id: str | None
    event: dict[str, object]
    at_ms: float  # wall clock when the message's blank line arrived


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[Received]:
    """Parse `id:` and `data:` lines; a blank line ends a message; comments (pings) are skipped."""
    event_id: str | None = None
    data: list[bytes] = []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield Received(event_id, orjson.loads(b"\n".join(data)), time.time() * 1000)
            event_id, data = None, []
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
        elif line.startswith(b"id:"):
            event_id = line[3:].strip().decode()


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def latency_ms(received: Received) -> float | None:
    """Publish -> receive: the event's `timestamp` (set by the service when it made the event,
    in ms since the epoch) against the receive time. Same machine, so the same clock."""
    stamp = received.event.get("timestamp")
    try:
        return received.at_ms - float(stamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
