"""Relaying a Redis Stream (a job's, or the feed) to one SSE response, and ending all of them
on shutdown."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from aiohttp_sse import EventSourceResponse
from redis.exceptions import RedisError

from . import codec
from .events import FROM_START, Event, EventLog
from .models import TERMINAL_EVENTS

logger = logging.getLogger(__name__)

STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
# After a failed read, wait this long before trying Redis again.
RETRY_SECONDS = 1.0


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
    """The stream id to resume after, if the client sent a valid Last-Event-ID."""
    if last_event_id and STREAM_ID.fullmatch(last_event_id.strip()):
        return last_event_id.strip()
    return None


def ends_job(event: Event) -> bool:
    return event.get("type") in TERMINAL_EVENTS


def never(event: Event) -> bool:
    return False


async def follow(
    response: EventSourceResponse,
    events: EventLog,
    key: str,
    after: str | None,
    block_ms: int,
    ends: Callable[[Event], bool] = ends_job,
) -> None:
    """Relay stream `key` to the response until an event that `ends` it, then end it."""
    relay = _relay(response, events, key, after or FROM_START, block_ms, ends)
    pump = asyncio.create_task(relay)
    try:
        await response.wait()
    finally:
        pump.cancel()
        with suppress(asyncio.CancelledError):
            await pump


async def is_terminal(events: EventLog, key: str, entry_id: str) -> bool:
    """Whether the event stored under `entry_id` is the job's last one."""
    try:
        event = await events.entry(key, entry_id)
    except RedisError:
        return False  # the relay retries the read until Redis answers
    return event is not None and event.get("type") in TERMINAL_EVENTS


async def _relay(
    response: EventSourceResponse,
    events: EventLog,
    key: str,
    after: str,
    block_ms: int,
    ends: Callable[[Event], bool],
) -> None:
    try:
        while True:
            try:
                entries = await events.read(key, after, block_ms)
            except RedisError as exc:
                logger.warning("stream %s: read failed (%s); retrying", key, exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for entry_id, fields in entries:
                await response.send(codec.dumps_str(fields), id=entry_id)
                after = entry_id
                if ends(fields):
                    return
    except ConnectionResetError:
        logger.debug("stream %s: client went away", key)
    finally:
        response.stop_streaming()
