"""Publishing to Redis Streams in order, exactly once, through Redis outages.

Every XADD goes through one outbox, flushed by one task in pipelined batches. Each entry gets
an explicit stream id before its first attempt and keeps it, so a retry after an ambiguous
failure (the commands reached Redis, the replies did not reach us) is refused by Redis as
"equal or smaller than the top item" instead of being written twice; a refused entry is then
looked up by its id, and counts as written if Redis has it. While Redis is away the outbox
holds up to `limit` entries; past that, publishers wait for room (the worker slows down,
nothing is lost).

Explicit ids suit a stream with one writer at a time (a job's). A stream that several
processes write at once (the feed, with the Redis store) is published `shared`: Redis picks
the id (`XADD *`), so writers never collide, but a retry after an ambiguous failure may then
write the entry twice."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from ..core.models import StreamId, now_ms, stream_id
from ..core.observer import Observer, Unobserved
from ..core.tasks import let_go

logger = logging.getLogger(__name__)

BATCH = 500
RETRY_MIN_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0
ALREADY_WRITTEN = "equal or smaller than the target stream top item"


@dataclass(slots=True)
class Entry:
    stream: str
    fields: dict[str, str]
    maxlen: int
    expire: int | None
    id: StreamId | None = None
    # Not an entry: the stream's deletion, in order after the entries queued before it.
    drop: bool = False
    # Written with an id Redis picks (XADD *): a stream other processes write too.
    shared: bool = False


class Outbox:
    def __init__(
        self, redis: Redis | RedisCluster, limit: int, observer: Observer | None = None
    ) -> None:
        self._redis = redis
        self._observer = observer or Unobserved()
        self._limit = limit
        self._entries: deque[Entry] = deque()
        self._last: dict[str, StreamId] = {}
        # Streams this process will not end, whose last id is dropped once written.
        self._released: set[str] = set()
        self._waiting: Counter[str] = Counter()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="outbox")

    async def stop(self, grace: float) -> None:
        """Flush for up to `grace` seconds, then give up on what is left (and say so)."""
        with suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._empty.wait()
        if self._task is not None:
            await let_go(self._task)
        if self._entries:
            logger.warning("%d events not written: Redis unreachable at stop", len(self._entries))

    def holds(self, stream: str) -> bool:
        """Whether entries for `stream` still wait to be written."""
        return self._waiting[stream] > 0

    def new_stream(self, stream: str) -> None:
        """Note a stream that no earlier process wrote to, so its ids start fresh."""
        self._last.setdefault(stream, (0, 0))

    def release(self, stream: str) -> None:
        """Stop tracking a stream this process will not end (another may write it next), once
        the entries queued for it are written."""
        if self.holds(stream):
            self._released.add(stream)
        else:
            self._last.pop(stream, None)

    async def publish(
        self, stream: str, fields: dict[str, str], maxlen: int, expire: int | None = None,
        *, shared: bool = False, wait_for_room: bool = True,
    ) -> None:  # fmt: skip
        """Queue an entry for a stream capped at about `maxlen`; `expire` (seconds) sets the
        stream's time to live once the entry is written. `shared`: Redis picks its id.
        `wait_for_room=False` queues it past the limit: for callers bounded otherwise."""
        await self._queue(Entry(stream, fields, maxlen, expire, shared=shared), wait_for_room)

    async def delete(self, stream: str) -> None:
        """Queue the stream's deletion: entries queued for it before are written first, so
        none of them can bring the stream back afterwards."""
        await self._queue(Entry(stream, {}, 0, None, drop=True))

    async def _queue(self, entry: Entry, wait_for_room: bool = True) -> None:
        while wait_for_room and len(self._entries) >= self._limit:
            self._room.clear()
            await self._room.wait()
        self._entries.append(entry)
        self._waiting[entry.stream] += 1
        self._empty.clear()
        self._wakeup.set()

    async def _flush_forever(self) -> None:
        delay = RETRY_MIN_SECONDS
        while True:
            if not self._entries:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._flush_batch()
                delay = RETRY_MIN_SECONDS
            except Exception as exc:
                if isinstance(exc, RedisError):
                    self._observer.redis_failed("xadd")
                    logger.warning("Redis write failed (%s); %d events wait", exc, len(self))
                else:
                    logger.exception("outbox flush failed; %d events wait", len(self))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _flush_batch(self) -> None:
        batch = [self._entries[i] for i in range(min(BATCH, len(self._entries)))]
        for entry in batch:
            if entry.drop or entry.shared:
                continue
            if entry.stream not in self._last:
                await self._learn_last_id(entry.stream)
            if entry.id is None:
                entry.id = self._next_id(entry.stream)
        results = await self._send(batch)
        kept = await self._kept(batch, results)
        for entry, result in zip(batch, results, strict=True):
            if _refused(result) and (entry.stream, entry.id) not in kept:
                await self._move_past_top(entry)
            elif isinstance(result, Exception) and not _refused(result):
                raise result
            self._entries.popleft()
            self._written(entry)
        if len(self._entries) < self._limit:
            self._room.set()
        if not self._entries:
            self._empty.set()

    def _written(self, entry: Entry) -> None:
        stream = entry.stream
        self._waiting[stream] -= 1
        if not self._waiting[stream]:
            del self._waiting[stream]
            if stream in self._released:
                self._released.discard(stream)
                self._last.pop(stream, None)
        if entry.expire is not None or entry.drop:  # the stream's end: stop tracking it
            self._last.pop(stream, None)

    async def _send(self, batch: list[Entry]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for entry in batch:
            if entry.drop:
                pipe.delete(entry.stream)
                continue
            fields: dict[Any, Any] = entry.fields
            entry_id = "*"
            if not entry.shared:
                assert entry.id is not None
                entry_id = _text(entry.id)
            pipe.xadd(entry.stream, fields, id=entry_id, maxlen=entry.maxlen)
            if entry.expire is not None:
                pipe.expire(entry.stream, entry.expire)
        results = await pipe.execute(raise_on_error=False)
        # Drop EXPIRE replies so results line up with entries; their errors still count.
        replies: list[Any] = []
        position = iter(results)
        for entry in batch:
            replies.append(next(position))
            if entry.expire is not None and isinstance(expired := next(position), Exception):
                raise expired
        return replies

    async def _kept(self, batch: list[Entry], results: list[Any]) -> set[tuple[str, Any]]:
        """The entries Redis refused because it has them already, under their ids: written
        by an earlier attempt whose reply was lost (a timeout, a pause, a dropped connection),
        maybe with entries after them. Found by id, never by the stream's top."""
        refused = [entry for entry, result in zip(batch, results, strict=True) if _refused(result)]
        if not refused:
            return set()
        pipe = self._redis.pipeline(transaction=False)
        for entry in refused:
            assert entry.id is not None
            pipe.xrange(entry.stream, _text(entry.id), _text(entry.id))
        found = await pipe.execute()
        return {
            (entry.stream, entry.id)
            for entry, stored in zip(refused, found, strict=True)
            if stored and stored[0][1] == entry.fields
        }

    async def _move_past_top(self, entry: Entry) -> None:
        """Redis refused an id it does not have: the stream is ahead of this clock (written by
        a process whose clock ran ahead). The id was never written and never can be (it is
        below the top), so the entry can take a new one after the top."""
        logger.warning(
            "stream %s is ahead of this clock; continuing after its last entry", entry.stream
        )
        await self._learn_last_id(entry.stream)
        entry.id = self._next_id(entry.stream)
        raise ResponseError(f"stream {entry.stream}: id moved past the stream's top; retrying")

    async def _learn_last_id(self, stream: str) -> None:
        top: Any = await self._redis.xrevrange(stream, count=1)
        self._last[stream] = stream_id(top[0][0]) if top else (0, 0)

    def _next_id(self, stream: str) -> StreamId:
        last_ms, last_seq = self._last.get(stream, (0, 0))
        ms = now_ms()
        next_id = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        self._last[stream] = next_id
        return next_id


def _refused(result: Any) -> bool:
    """Whether an XADD reply is Redis refusing an id at or below the stream's top."""
    return isinstance(result, ResponseError) and ALREADY_WRITTEN in str(result)


def _text(entry_id: StreamId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"
