"""Relaying a Redis Stream (a job's, or the feed) to one SSE response; rebuilding a finished
job's events once its stream has expired; and ending all streams on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp_sse import EventSourceResponse
from redis.exceptions import RedisError, ResponseError

from ..core.events import Entry, Event, history
from ..core.models import TERMINAL_EVENTS, TERMINAL_STATUSES, EventType, Job, StreamId, stream_id
from ..core.tasks import let_go
from ..stream.eventlog import FEED_STREAM, FROM_START, EventLog
from ..stream.hub import Delivery, Inbox, StreamHub
from . import wire
from .errors import json_error
from .keys import BACKEND, EVENTS, OPEN_STREAMS, SETTINGS

logger = logging.getLogger(__name__)

# Given the last id sent: the entries still to send if the stream has gone, else None.
Idle = Callable[[str], Awaitable["list[Entry] | None"]]

# After a failed read, wait this long before trying Redis again.
RETRY_SECONDS = 1.0
# Entries written to a client in one write, at most.
BATCH = 256


def ends_job(event: Event) -> bool:
    return event.get("type") in TERMINAL_EVENTS


def never(event: Event) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Relay:
    """What to relay: stream `key` after entry `after`, until an event that `ends` it. After
    `idle_ms` with nothing new, `idle` may give the last entries and end the relay (a finished
    job's stream that expired or was deleted meanwhile)."""

    key: str
    after: str
    idle_ms: int
    ends: Callable[[Event], bool] = ends_job
    idle: Idle | None = None


async def stream_job(request: web.Request, job: Job) -> web.StreamResponse:
    """The original service's stream: `initial`, then the job's events until its last one."""
    events, settings = request.app[EVENTS], request.app[SETTINGS]
    key = events.stream(job.id)
    after = wire.resume_point(request.headers.get(wire.LAST_EVENT_ID))
    rebuilt = await _rebuilt_history(events, job, after)
    if after is not None and (rebuilt == [] or await has_all(events, key, after)):
        # The client has every event; 204 is what makes a browser's EventSource stop retrying.
        return web.Response(status=204)
    async with wire.open_stream(request, settings.sse_ping_seconds) as response:
        if after is None:
            await wire.send(response, {"type": EventType.INITIAL.value, "job": job.to_dict()})
        if rebuilt is not None:
            for entry_id, fields in rebuilt:
                await wire.send(response, fields, entry_id)
            return response

        async def finished_tail(after: str) -> list[Entry] | None:
            """Once the job has ended (as the store has it now: another process may have
            ended it): its last event if its stream went while we watched (a TTL,
            retention); nothing if the client is past the stream's end (it resumed from a
            later id) or the job was deleted. Else None: more may come."""
            found = await request.app[BACKEND].get(job.id)
            current = found or job
            if current.status not in TERMINAL_STATUSES:
                # Deleted (by a process whose last event we missed): nothing more will come.
                return [] if found is None else None
            if await events.expired(job.id):
                return history(current)[-1:]
            return [] if await has_all(events, key, after) else None

        relay = Relay(key, after or FROM_START, settings.stream_block_ms, idle=finished_tail)
        await follow(request, response, relay)
    return response


async def stream_feed(request: web.Request) -> web.StreamResponse:
    """Every job's events; without Last-Event-ID, only those published from now on."""
    events, settings = request.app[EVENTS], request.app[SETTINGS]
    after = wire.resume_point(request.headers.get(wire.LAST_EVENT_ID))
    if after is None:
        try:
            after = await events.last_id(FEED_STREAM)
        except RedisError as exc:
            raise json_error(web.HTTPServiceUnavailable, f"Event feed unavailable: {exc}") from None
    async with wire.open_stream(request, settings.sse_ping_seconds) as response:
        await follow(request, response, Relay(FEED_STREAM, after, settings.stream_block_ms, never))
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


async def follow(request: web.Request, response: EventSourceResponse, relay: Relay) -> None:
    """Relay the stream to the response until the relay ends, the client leaves or the
    service stops (which ends every open stream)."""
    hub = request.app[EVENTS].hub
    pump = asyncio.create_task(_relay(response, hub, relay), name=f"relay {relay.key}")
    try:
        with request.app[OPEN_STREAMS].track(response):
            await response.wait()
    finally:
        await let_go(pump)


async def has_all(events: EventLog, key: str, after: str) -> bool:
    """Whether the stream has ended (its last entry is a job's last event) at or before
    `after`: then nothing more will come after `after`."""
    try:
        last = await events.last_entry(key)
    except RedisError:
        return False  # Redis is away: follow the stream, whose reads are retried
    return last is not None and ends_job(last[1]) and stream_id(after) >= stream_id(last[0])


async def _relay(response: EventSourceResponse, hub: StreamHub, relay: Relay) -> None:
    """Send the stream's entries after `relay.after`; a failed Redis read is retried from
    the last entry sent."""
    sent = _Sent(relay.after, stream_id(relay.after))
    try:
        while True:
            try:
                async with hub.follow(relay.key, sent.id) as inbox:
                    await _send_from(inbox, response, relay, sent)
                    return
            except ResponseError as exc:
                # Redis refuses this stream (it is not a stream, say): no retry will help.
                logger.warning("stream %s: Redis refuses it (%s); ending", relay.key, exc)
                return
            except RedisError as exc:
                logger.warning("stream %s: read failed (%s); retrying", relay.key, exc)
                await asyncio.sleep(RETRY_SECONDS)
    except ConnectionResetError:
        logger.debug("stream %s: client went away", relay.key)
    finally:
        response.stop_streaming()


@dataclass(slots=True)
class _Sent:
    """The last entry sent to the client."""

    id: str
    position: StreamId


async def _send_from(
    inbox: Inbox, response: EventSourceResponse, relay: Relay, sent: _Sent
) -> None:
    while True:
        try:
            batch = await _next_deliveries(inbox, relay.idle_ms)
        except TimeoutError:
            if relay.idle is not None and (tail := await relay.idle(sent.id)) is not None:
                for tail_id, tail_event in tail:
                    await wire.send(response, tail_event, tail_id)
                return
            continue
        if await _send_batch(batch, response, relay, sent):
            return


async def _next_deliveries(inbox: Inbox, idle_ms: int) -> list[Delivery | None]:
    """What the inbox holds (at most BATCH), waiting up to `idle_ms` for the first: under
    load, one write to the client carries many events instead of one write each."""
    if inbox.empty():
        async with asyncio.timeout(idle_ms / 1000):
            batch = [await inbox.get()]
    else:
        batch = []
    while len(batch) < BATCH and not inbox.empty():
        batch.append(inbox.get_nowait())
    return batch


async def _send_batch(
    batch: list[Delivery | None], response: EventSourceResponse, relay: Relay, sent: _Sent
) -> bool:
    """Write the batch's new entries as one write; True once the relay has ended."""
    frames: list[bytes] = []
    ended = False
    for delivery in batch:
        if delivery is None:
            logger.warning("stream %s: Redis refuses it (the hub dropped it); ending", relay.key)
            ended = True
            break
        if delivery.position <= sent.position:
            continue  # sent already (a watcher catching up may see an entry twice)
        frames.append(wire.delivery_frame(delivery))
        sent.id, sent.position = delivery.id, delivery.position
        if relay.ends(delivery.event):
            ended = True
            break
    if frames:
        await response.write(b"".join(frames))
    return ended
