"""One XREAD BLOCK for every watched stream, fanned out to the SSE responses that follow them.

A watcher per connection would hold a Redis connection (and a file descriptor) each; with the
hub, ten thousand watchers cost one. The reader keeps a position per stream and reads all of
them in one blocking call; a stream newly watched interrupts it (CLIENT UNBLOCK) so it is read
at once. A watcher that starts behind the reader's position reads that gap itself (XRANGE),
then takes the reader's entries after it: in order, with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..core.events import Entry, Event
from ..core.models import StreamId, stream_id
from ..core.observer import Observer, Unobserved

logger = logging.getLogger(__name__)

# Entries read per stream per call: enough for a burst, bounded for a long history.
READ_COUNT = 1_000
RETRY_SECONDS = 1.0


@dataclass(slots=True, eq=False)
class Delivery:
    """One entry as handed to every watcher of its stream: the same object for all of them."""

    id: str
    event: Event
    # The id as numbers, for comparing positions.
    position: StreamId
    # Whatever a watcher made of the entry for its client, kept for the next watcher.
    encoded: bytes | None = None


Inbox = asyncio.Queue[Delivery]


class StreamHub:
    def __init__(
        self, reader: Redis, redis: Redis, block_ms: int, observer: Observer | None = None
    ) -> None:
        """`reader` must be a single-connection client: its blocked call is interrupted by id."""
        self._reader = reader
        self._redis = redis
        self._block_ms = block_ms
        self._observer = observer or Unobserved()
        self._inboxes: defaultdict[str, set[Inbox]] = defaultdict(set)
        self._positions: dict[str, str] = {}
        self._reader_id: int | None = None
        # Bumped when the set of streams changes; the reader notes the one its XREAD uses.
        self._version = 0
        self._reading: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read_forever(), name="stream-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @asynccontextmanager
    async def follow(self, key: str, after: str) -> AsyncIterator[Inbox]:
        """An inbox of the stream's entries after `after`, in order, until the block exits."""
        inbox: Inbox = asyncio.Queue()
        if key not in self._positions:
            self._positions[key] = after
            self._version += 1
        position = self._positions[key]
        self._inboxes[key].add(inbox)
        try:
            if stream_id(after) < stream_id(position):
                await self._catch_up(inbox, key, after, position)
            await self._wake_reader()
            yield inbox
        finally:
            self._leave(key, inbox)

    def _leave(self, key: str, inbox: Inbox) -> None:
        inboxes = self._inboxes[key]
        inboxes.discard(inbox)
        if not inboxes:
            del self._inboxes[key]
            self._positions.pop(key, None)
            self._version += 1

    async def _catch_up(self, inbox: Inbox, key: str, after: str, upto: str) -> None:
        """The entries between `after` and the reader's position, read by this watcher; the
        reader may deliver some of them too, so the follower drops ids it has sent."""
        entries: Any = await self._redis.xrange(key, f"({after}", upto)
        delivered = [inbox.get_nowait() for _ in range(inbox.qsize())]
        for delivery in [*_deliveries(entries), *delivered]:
            inbox.put_nowait(delivery)

    async def _wake_reader(self) -> None:
        """Interrupt the reader's XREAD if it does not cover the streams watched now. The
        UNBLOCK may arrive before the XREAD does; then try again, briefly."""
        while self._reading is not None and self._reading != self._version:
            if self._reader_id is None:
                return
            with suppress(RedisError):
                if await self._redis.client_unblock(self._reader_id):
                    return
            await asyncio.sleep(0.002)

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read_once()
            except RedisError as exc:
                self._observer.redis_failed("xread")
                self._reader_id = None
                logger.warning("stream hub: read failed (%s); retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                logger.exception("stream hub: read failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)

    async def _read_once(self) -> None:
        if not self._positions:
            await asyncio.sleep(0.01)  # nothing watched: a new watcher is along soon
            return
        if self._reader_id is None:
            self._reader_id = int(await self._reader.client_id())
        self._reading = self._version
        streams: dict[Any, Any] = dict(self._positions)
        try:
            reply: Any = await self._reader.xread(streams, count=READ_COUNT, block=self._block_ms)
        finally:
            self._reading = None
        for key, entries in reply or ():
            self._deliver(key, entries)

    def _deliver(self, key: str, entries: list[Entry]) -> None:
        if key not in self._positions or not entries:
            return  # nobody watches it any more
        self._positions[key] = entries[-1][0]
        deliveries = _deliveries(entries)
        for inbox in self._inboxes[key]:
            for delivery in deliveries:
                inbox.put_nowait(delivery)


def _deliveries(entries: list[Entry]) -> list[Delivery]:
    return [Delivery(entry_id, fields, stream_id(entry_id)) for entry_id, fields in entries]
