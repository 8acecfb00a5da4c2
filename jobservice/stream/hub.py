"""One XREAD BLOCK for every watched stream, fanned out to the SSE responses that follow them.

A watcher per connection would hold a Redis connection (and a file descriptor) each; with the
hub, ten thousand watchers cost one. The reader keeps a position per stream and reads all of
them in one blocking call; a stream newly watched interrupts it (CLIENT UNBLOCK) so it is read
at once. A watcher that starts behind the reader's position reads that gap itself (XRANGE),
then takes the reader's entries after it: in order, with no gap and no repeat.

The read is shared, so no watcher's input may break it: ids are checked before they are
used, a position is never set past the stream's last entry, a reply is delivered only for
the positions it was read from, and a stream Redis refuses to read is dropped alone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ..core.events import Entry, Event
from ..core.models import StreamId, stream_id
from ..core.observer import Observer, Unobserved
from ..core.tasks import let_go

logger = logging.getLogger(__name__)

# Entries read per stream per call: enough for a burst, bounded for a long history.
READ_COUNT = 1_000
RETRY_SECONDS = 1.0
# A stream id as Redis takes it: "<ms>-<seq>", ASCII digits, each part below 2**64.
STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
MAX_ID_PART = 2**64 - 1
START: StreamId = (0, 0)


def is_stream_id(text: str) -> bool:
    """Whether Redis accepts `text` as a stream id (Python's \\d and int() take more)."""
    if not STREAM_ID.fullmatch(text):
        return False
    ms, seq = stream_id(text)
    return ms <= MAX_ID_PART and seq <= MAX_ID_PART


@dataclass(slots=True, eq=False)
class Delivery:
    """One entry as handed to every watcher of its stream: the same object for all of them."""

    id: str
    event: Event
    # The id as numbers, for comparing positions.
    position: StreamId
    # Whatever a watcher made of the entry for its client, kept for the next watcher.
    encoded: bytes | None = None


# A watcher's entries in order; None means the hub dropped the stream (Redis refused it).
Inbox = asyncio.Queue[Delivery | None]


class StreamHub:
    def __init__(
        self, reader: Redis, redis: Redis, block_ms: int, observer: Observer | None = None
    ) -> None:
        """`reader` must be a single-connection client: its blocked call is interrupted by id."""
        self._reader = reader
        self._redis = redis
        self._block_ms = block_ms
        self._observer = observer or Unobserved()
        self._inboxes: dict[str, set[Inbox]] = {}
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
            await let_go(self._task)

    @asynccontextmanager
    async def follow(self, key: str, after: str) -> AsyncIterator[Inbox]:
        """An inbox of the stream's entries after `after`, in order, until the block exits.
        A watcher may be sent entries up to `after` too (when it resumes from past the
        reader's position): it skips ids it has."""
        if not is_stream_id(after):
            raise ValueError(f"not a stream id: {after!r}")
        if key not in self._positions:
            await self._open(key, after)
        inbox: Inbox = asyncio.Queue()
        position = self._positions[key]
        self._inboxes[key].add(inbox)
        try:
            if stream_id(after) < stream_id(position):
                await self._catch_up(inbox, key, after, position)
            await self._wake_reader()
            yield inbox
        finally:
            self._leave(key, inbox)

    async def _open(self, key: str, after: str) -> None:
        """Start reading a stream from `after`, or from its last entry if `after` is past
        that: one watcher's later id must not hide the entries before it from the others."""
        start = after
        if stream_id(after) > START:
            top: Any = await self._redis.xrevrange(key, count=1)
            last = top[0][0] if top else "0-0"
            start = min(after, last, key=stream_id)
        if key not in self._positions:  # another watcher may have opened it meanwhile
            self._positions[key] = start
            self._inboxes[key] = set()
            self._version += 1

    def _leave(self, key: str, inbox: Inbox) -> None:
        inboxes = self._inboxes.get(key)
        if inboxes is None or inbox not in inboxes:
            return  # the stream was dropped
        inboxes.discard(inbox)
        if not inboxes:
            self._forget(key)

    def _forget(self, key: str) -> None:
        del self._inboxes[key]
        del self._positions[key]
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
        streams = dict(self._positions)
        try:
            reply = await self._read(streams)
        except ResponseError:
            if not await self._drop_refused(streams):
                raise
            self._observer.redis_failed("xread")
            return
        for key, entries in reply or ():
            # A stream left and watched again meanwhile may need entries from further back.
            if self._positions.get(key) == streams[key]:
                self._deliver(key, entries)

    async def _read(self, streams: dict[Any, Any]) -> Any:
        self._reading = self._version
        try:
            return await self._reader.xread(streams, count=READ_COUNT, block=self._block_ms)
        finally:
            self._reading = None

    def _deliver(self, key: str, entries: list[Entry]) -> None:
        if not entries:
            return
        self._positions[key] = entries[-1][0]
        deliveries = _deliveries(entries)
        for inbox in self._inboxes[key]:
            for delivery in deliveries:
                inbox.put_nowait(delivery)

    async def _drop_refused(self, streams: dict[str, str]) -> bool:
        """Redis refused the shared read: read each stream alone, and drop those it refuses
        while it reads others, so one stream cannot stop the rest. If it refuses every one,
        the trouble is Redis's, not a stream's: drop nothing (and the read is retried)."""
        pipe = self._redis.pipeline(transaction=False)
        for key, position in streams.items():
            pipe.xread({key: position}, count=1)
        results = await pipe.execute(raise_on_error=False)
        refused = {
            key: result
            for key, result in zip(streams, results, strict=True)
            if isinstance(result, ResponseError)
        }
        if not refused or len(refused) == len(streams):
            return False
        for key, error in refused.items():
            if self._positions.get(key) == streams[key]:
                logger.warning("stream hub: Redis refuses to read %s (%s); dropping it", key,
                               error)  # fmt: skip
                for inbox in self._inboxes[key]:
                    inbox.put_nowait(None)
                self._forget(key)
        return True


def _deliveries(entries: list[Entry]) -> list[Delivery]:
    return [Delivery(entry_id, fields, stream_id(entry_id)) for entry_id, fields in entries]
