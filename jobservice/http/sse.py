"""Relaying a Redis Stream (a job's, or the feed) to one SSE response; rebuilding a finished
job's events once its stream has expired; and ending all streams on shutdown."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response
from redis.exceptions import RedisError

from ..core import codec
from ..core.models import TERMINAL_EVENTS, TERMINAL_STATUSES, EventType, Job, stream_id
from ..stream.eventlog import FROM_START, Entry, Event, EventLog, history
from ..stream.hub import Inbox
from .keys import job_stream

logger = logging.getLogger(__name__)

# Given the last id sent: the entries still to send if the stream has gone, else None.
Idle = Callable[[str], Awaitable["list[Entry] | None"]]

LAST_EVENT_ID = "Last-Event-ID"
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


async def stream_job(
    request: web.Request, job: Job, events: EventLog, streams: OpenStreams, block_ms: int,
    ping_seconds: float,
) -> web.StreamResponse:  # fmt: skip
    """The seed's stream: `initial`, then the job's events until its terminal one."""
    key = job_stream(job.id)
    after = resume_point(request.headers.get(LAST_EVENT_ID))
    rebuilt = await _rebuilt_history(events, job, after)
    if after is not None and (rebuilt == [] or await is_terminal(events, key, after)):
        # The client has every event; 204 is what makes a browser's EventSource stop retrying.
        return web.Response(status=204)
    async with sse_response(request, ping_interval=ping_seconds) as response:
        if after is None:
            initial = {"type": EventType.INITIAL.value, "job": job.to_dict()}
            await response.send(codec.dumps_str(initial))
        if rebuilt is not None:
            for entry_id, fields in rebuilt:
                await response.send(codec.dumps_str(fields), id=entry_id)
            return response
        with streams.track(response):

            async def expired_tail(after: str) -> list[Entry] | None:
                # The stream went while we watched (a TTL, retention): end with the job's end.
                gone = job.status in TERMINAL_STATUSES and await events.expired(job.id)
                return history(job)[-1:] if gone else None

            await follow(response, events, key, after, block_ms, idle=expired_tail)
    return response


async def _rebuilt_history(events: EventLog, job: Job, after: str | None) -> list[Entry] | None:
    """For a finished job whose stream is gone: its events after `after`. Otherwise None."""
    if job.status not in TERMINAL_STATUSES:
        return None
    try:
        if not await events.expired(job.id):
            return None
    except RedisError:
        pass  # Redis is away: the job's record has its whole story
    start = stream_id(after) if after else (-1, -1)
    return [entry for entry in history(job) if stream_id(entry[0]) > start]


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
    idle: Idle | None = None,
) -> None:
    """Relay stream `key` to the response until an event that `ends` it, then end it.
    After a read that found nothing, `idle` may give the last entries and end the relay
    (a finished job's stream that expired or was deleted meanwhile)."""
    relay = _relay(response, events, key, after or FROM_START, block_ms, ends, idle)
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
    idle: Idle | None,
) -> None:
    """Send the stream's entries after `after`; a failed Redis read is retried from there."""
    try:
        while True:
            try:
                async with events.hub.follow(key, after) as inbox:
                    await _send_from(inbox, response, after, block_ms, ends, idle)
                    return
            except RedisError as exc:
                logger.warning("stream %s: read failed (%s); retrying", key, exc)
                await asyncio.sleep(RETRY_SECONDS)
    except ConnectionResetError:
        logger.debug("stream %s: client went away", key)
    finally:
        response.stop_streaming()


async def _send_from(
    inbox: Inbox, response: EventSourceResponse, after: str, block_ms: int,
    ends: Callable[[Event], bool], idle: Idle | None,
) -> None:  # fmt: skip
    last = stream_id(after)
    while True:
        try:
            async with asyncio.timeout(block_ms / 1000):
                entry_id, fields, frame = await inbox.get()
        except TimeoutError:
            if idle is not None and (tail := await idle(after)) is not None:
                for tail_id, tail_fields in tail:
                    await response.send(codec.dumps_str(tail_fields), id=tail_id)
                return
            continue
        if stream_id(entry_id) <= last:
            continue  # sent already (a watcher catching up may see an entry twice)
        await response.write(frame)
        after, last = entry_id, stream_id(entry_id)
        if ends(fields):
            return
