"""One XREAD BLOCK for every group of watched streams, fanned out to the SSE responses that
follow them.

A watcher per connection would hold a Redis connection (and a file descriptor) each; with the
hub, ten thousand watchers cost one connection per group. On one Redis every stream is in one
group; on a Redis Cluster a group is a slot (readers.py), and a job's stream lies on its
shard's slot, so the groups are at most the shards and the feed. A group's reader keeps a
position per stream and reads all of them in one blocking call; a stream newly watched
interrupts it (CLIENT UNBLOCK) so it is read at once. On a cluster, a group left without
streams ends once its read returns and nobody watches it for IDLE_SECONDS, and lets its
connection go. A watcher that starts behind the reader's
position reads that gap itself (XRANGE), then takes the reader's entries after it: in
order, with no gap and no repeat.

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
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from ..core.events import Entry, Event
from ..core.models import StreamId, stream_id
from ..core.observer import Observer, Unobserved
from ..core.tasks import let_go
from .readers import OneRedis, Readers

logger = logging.getLogger(__name__)

# Entries read per stream per call: enough for a burst, bounded for a long history.
READ_COUNT = 1_000
RETRY_SECONDS = 1.0
# How long a group with nothing to read keeps its connection for the next watcher.
IDLE_SECONDS = 30.0
# A cluster client may fail outside RedisError (a slot no node holds).
REDIS_TROUBLE = (RedisError, RedisClusterException)
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


@dataclass(slots=True, eq=False)
class _Group:
    """Streams read by one XREAD, and the connection it blocks on."""

    keys: set[str] = field(default_factory=set)
    # Bumped when `keys` changes; `reading` is the version the XREAD in flight covers.
    version: int = 0
    reading: int | None = None
    reader: Redis | None = None
    reader_id: int | None = None
    # Set when a stream joins: a group with no streams waits for it.
    joined: asyncio.Event = field(default_factory=asyncio.Event)


class StreamHub:
    def __init__(
        self, reader: Redis | Readers, redis: Redis | RedisCluster, block_ms: int,
        observer: Observer | None = None, *, idle_seconds: float = IDLE_SECONDS,
    ) -> None:  # fmt: skip
        """`reader`: on one Redis, a single-connection client (its blocked call is
        interrupted by id); on a cluster, `ClusterReaders`. `redis` takes the other calls."""
        self._readers = OneRedis(reader, redis) if isinstance(reader, Redis) else reader
        self._redis = redis
        self._block_ms = block_ms
        self._idle_seconds = idle_seconds
        self._observer = observer or Unobserved()
        self._inboxes: dict[str, set[Inbox]] = {}
        self._positions: dict[str, str] = {}
        self._groups: dict[int, _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False

    def start(self) -> None:
        self._running = True
        for group_id in self._readers.standing:
            self._groups.setdefault(group_id, _Group())
        for group_id, group in self._groups.items():
            self._spawn(group_id, group)

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*(let_go(task) for task in list(self._tasks)))
        await self._readers.close()

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
            await self._wake_reader(key)
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
            self._join(key)

    def _join(self, key: str) -> None:
        group_id = self._readers.group(key)
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = _Group()
            if self._running:
                self._spawn(group_id, group)
        group.keys.add(key)
        group.version += 1
        group.joined.set()

    def _spawn(self, group_id: int, group: _Group) -> None:
        task = asyncio.create_task(self._read_forever(group_id, group), name="stream-hub")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        if group := self._groups.get(self._readers.group(key)):
            group.keys.discard(key)
            group.version += 1

    async def _catch_up(self, inbox: Inbox, key: str, after: str, upto: str) -> None:
        """The entries between `after` and the reader's position, read by this watcher; the
        reader may deliver some of them too, so the follower drops ids it has sent."""
        entries: Any = await self._redis.xrange(key, f"({after}", upto)
        delivered = [inbox.get_nowait() for _ in range(inbox.qsize())]
        for delivery in [*_deliveries(entries), *delivered]:
            inbox.put_nowait(delivery)

    async def _wake_reader(self, key: str) -> None:
        """Interrupt the XREAD of the key's group if it does not cover the streams watched
        now. The UNBLOCK may arrive before the XREAD does; then try again, briefly."""
        group = self._groups.get(self._readers.group(key))
        while group is not None and group.reading is not None and group.reading != group.version:
            reader, reader_id = group.reader, group.reader_id
            if reader is None or reader_id is None:
                return
            with suppress(*REDIS_TROUBLE):
                if await self._readers.unblock(reader, reader_id):
                    return
            await asyncio.sleep(0.002)

    async def _read_forever(self, group_id: int, group: _Group) -> None:
        while group.keys or await self._wanted(group_id, group):
            try:
                await self._read_once(group)
            except REDIS_TROUBLE as exc:
                self._observer.redis_failed("xread")
                logger.warning("stream hub: read failed (%r); retrying", exc)
                await self._hang_up(group)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                logger.exception("stream hub: read failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)

    async def _wanted(self, group_id: int, group: _Group) -> bool:
        """Wait for a stream to join the group; after `idle_seconds` without one, a group
        that is not standing ends (a stream watched later starts a new one)."""
        group.joined.clear()
        idle = None if group_id in self._readers.standing else self._idle_seconds
        with suppress(TimeoutError):
            async with asyncio.timeout(idle):
                await group.joined.wait()
        if group.keys or group_id in self._readers.standing:
            return True
        del self._groups[group_id]
        await self._hang_up(group)
        return False

    async def _hang_up(self, group: _Group) -> None:
        """Let the group's connection go; its next read opens another (or the same, on one
        Redis), maybe to another node, and asks its id anew."""
        reader, group.reader, group.reader_id = group.reader, None, None
        if reader is not None:
            with suppress(*REDIS_TROUBLE, OSError):
                await self._readers.release(reader)

    async def _read_once(self, group: _Group) -> None:
        if group.reader is None:
            group.reader = await self._readers.connect(next(iter(group.keys)))
        if group.reader_id is None:
            group.reader_id = int(await group.reader.client_id())
        streams = {key: self._positions[key] for key in group.keys}
        if not streams:
            return  # every stream left while the connection opened
        try:
            reply = await self._read(group, group.reader, streams)
        except ResponseError:
            if not await self._drop_refused(streams):
                raise
            self._observer.redis_failed("xread")
            return
        for key, entries in reply or ():
            # A stream left and watched again meanwhile may need entries from further back.
            if self._positions.get(key) == streams[key]:
                self._deliver(key, entries)

    async def _read(self, group: _Group, reader: Redis, streams: dict[Any, Any]) -> Any:
        group.reading = group.version
        try:
            return await reader.xread(streams, count=READ_COUNT, block=self._block_ms)
        finally:
            group.reading = None

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
