"""Job events in Redis Streams: the worker appends with XADD, watchers follow with XREAD BLOCK.

Each event goes to its job's stream and to the feed stream of every job's events."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from . import codec
from .keys import FEED_STREAM, job_stream
from .models import EventType, now_ms

Event = dict[str, str]
Entry = tuple[str, Event]

# XREAD ids: "0-0" reads a stream from its first entry.
FROM_START = "0-0"


def event(kind: EventType, job_id: str, **fields: object) -> Event:
    """An event as the seed sends it: every value a string, as Redis Streams store them."""
    fields.setdefault("timestamp", now_ms())
    return {"type": kind.value, "jobId": job_id, **{k: _text(v) for k, v in fields.items()}}


def _text(value: object) -> str:
    return value if isinstance(value, str) else codec.dumps_str(value)


class EventLog:
    def __init__(
        self, redis: Redis, blocking: Redis, maxlen: int, feed_maxlen: int = 100_000
    ) -> None:
        self._redis = redis
        self._blocking = blocking
        self._maxlen = maxlen
        self._feed_maxlen = feed_maxlen

    async def publish(self, job_id: str, event: Event) -> str:
        """Append to the job's stream and the feed, in one round trip; the job stream's id."""
        fields: dict[Any, Any] = event
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(job_stream(job_id), fields, maxlen=self._maxlen, approximate=True)
        pipe.xadd(FEED_STREAM, fields, maxlen=self._feed_maxlen, approximate=True)
        entry_id, _feed_id = await pipe.execute()
        return str(entry_id)

    async def announce(self, event: Event) -> str:
        """Append to the feed only (a job's own stream starts with its `started`)."""
        fields: dict[Any, Any] = event
        entry_id = await self._redis.xadd(
            FEED_STREAM, fields, maxlen=self._feed_maxlen, approximate=True
        )
        return str(entry_id)

    async def entry(self, key: str, entry_id: str) -> Event | None:
        """The event stored under `entry_id` in stream `key`, if the stream still has it."""
        found: Any = await self._redis.xrange(key, entry_id, entry_id)
        return found[0][1] if found else None

    async def last_id(self, key: str) -> str:
        """The id of the stream's newest entry: reading after it gets only what comes next."""
        found: Any = await self._redis.xrevrange(key, count=1)
        return str(found[0][0]) if found else FROM_START

    async def read(self, key: str, after: str, block_ms: int) -> list[Entry]:
        """Entries of stream `key` after `after`, waiting up to `block_ms` for the first."""
        reply: Any = await self._blocking.xread({key: after}, block=block_ms)
        return [entry for _stream, entries in reply or () for entry in entries]

    async def forget(self, job_ids: list[str]) -> None:
        """Delete these jobs' streams (their events stay in the feed until it is trimmed)."""
        if job_ids:
            await self._redis.delete(*(job_stream(job_id) for job_id in job_ids))
