"""Job events in Redis Streams: the worker appends with XADD, watchers follow with XREAD BLOCK."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from . import codec
from .keys import job_stream
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
    def __init__(self, redis: Redis, blocking: Redis, maxlen: int) -> None:
        self._redis = redis
        self._blocking = blocking
        self._maxlen = maxlen

    async def publish(self, job_id: str, event: Event) -> str:
        fields: dict[Any, Any] = event
        entry_id = await self._redis.xadd(
            job_stream(job_id), fields, maxlen=self._maxlen, approximate=True
        )
        return str(entry_id)

    async def entry(self, job_id: str, entry_id: str) -> Event | None:
        """The event stored under `entry_id`, if the stream still has it."""
        found: Any = await self._redis.xrange(job_stream(job_id), entry_id, entry_id)
        return found[0][1] if found else None

    async def read(self, job_id: str, after: str, block_ms: int) -> list[Entry]:
        """Entries after `after`, waiting up to `block_ms` for the first one to arrive."""
        reply: Any = await self._blocking.xread({job_stream(job_id): after}, block=block_ms)
        return [entry for _stream, entries in reply or () for entry in entries]
