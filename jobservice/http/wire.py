"""The SSE wire format, in one place: frames with `id:` lines, the stream's response and its
pings, the open responses (ended together on shutdown), and what a Last-Event-ID may be."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from ..core import codec
from ..stream.hub import Delivery, is_stream_id

LAST_EVENT_ID = "Last-Event-ID"


def frame(event: object, entry_id: str | None = None) -> bytes:
    """One SSE message. Compact JSON has no newline, so one data line holds it; a stream id
    has no newline either (aiohttp-sse's send() checks both, at a cost per call)."""
    data = b"data: " + codec.dumps(event) + b"\r\n\r\n"
    return data if entry_id is None else b"id: " + entry_id.encode() + b"\r\n" + data


def delivery_frame(delivery: Delivery) -> bytes:
    """The entry's frame, encoded once for all the watchers it is delivered to."""
    if delivery.encoded is None:
        delivery.encoded = frame(delivery.event, delivery.id)
    return delivery.encoded


async def send(response: EventSourceResponse, event: Mapping[str, object],
               entry_id: str | None = None) -> None:  # fmt: skip
    await response.write(frame(event, entry_id))


@asynccontextmanager
async def open_stream(
    request: web.Request, ping_seconds: float
) -> AsyncIterator[EventSourceResponse]:
    """The event-stream response; aiohttp-sse sends a ping comment every `ping_seconds`."""
    if request.transport is None:
        # The client left while the stream was being looked up (aiohttp-sse would fail an
        # assert): as when a write finds it gone.
        raise ConnectionResetError("the client went away before the stream started")
    async with sse_response(request, ping_interval=ping_seconds) as response:
        yield response


class OpenStreams:
    """Every SSE response in flight, so shutdown can end them instead of waiting on them."""

    def __init__(self) -> None:
        self._responses: set[EventSourceResponse] = set()

    def __len__(self) -> int:
        return len(self._responses)

    @contextmanager
    def track(self, response: EventSourceResponse) -> Iterator[None]:
        self._responses.add(response)
        try:
            yield
        finally:
            self._responses.discard(response)

    def close_all(self) -> None:
        for response in list(self._responses):
            response.stop_streaming()


def resume_point(last_event_id: str | None) -> str | None:
    """The stream id to resume after, if the client sent one that Redis would take."""
    if last_event_id and is_stream_id(candidate := last_event_id.strip()):
        return candidate
    return None
