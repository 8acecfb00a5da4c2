"""Job events in Redis Streams: published through the outbox, followed with XREAD BLOCK.

Each event goes to its job's stream and to the feed stream of every job's events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from ..core import codec
from ..core.models import TERMINAL_EVENTS, EventType, Job, Status, now_ms
from ..http.keys import FEED_STREAM, job_stream
from .outbox import Outbox

if TYPE_CHECKING:
    from .hub import StreamHub

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
        self, redis: Redis, hub: StreamHub, outbox: Outbox, *, maxlen: int, feed_maxlen: int,
        ttl_seconds: int,
    ) -> None:  # fmt: skip
        self._redis = redis
        self.hub = hub
        self._outbox = outbox
        self._maxlen = maxlen
        self._feed_maxlen = feed_maxlen
        self._ttl = ttl_seconds

    def new_job(self, job_id: str) -> None:
        self._outbox.new_stream(job_stream(job_id))

    async def publish(self, job_id: str, event: Event) -> None:
        """Queue the event for the job's stream and the feed; a job's last event also starts
        its stream's time to live."""
        expire = self._ttl if event["type"] in TERMINAL_EVENTS else None
        await self._outbox.publish(job_stream(job_id), event, self._maxlen, expire)
        await self.announce(event)

    async def announce(self, event: Event) -> None:
        """Queue the event for the feed only (a job's own stream starts with `started`)."""
        await self._outbox.publish(FEED_STREAM, event, self._feed_maxlen)

    async def expired(self, job_id: str) -> bool:
        """Whether the job's stream is gone: not in Redis, and nothing waits to be written."""
        stream = job_stream(job_id)
        return not self._outbox.holds(stream) and not await self._redis.exists(stream)

    async def entry(self, key: str, entry_id: str) -> Event | None:
        """The event stored under `entry_id` in stream `key`, if the stream still has it."""
        found: Any = await self._redis.xrange(key, entry_id, entry_id)
        return found[0][1] if found else None

    async def last_id(self, key: str) -> str:
        """The id of the stream's newest entry: reading after it gets only what comes next."""
        found: Any = await self._redis.xrevrange(key, count=1)
        return str(found[0][0]) if found else FROM_START

    async def forget(self, job_ids: list[str]) -> None:
        """Delete these jobs' streams (their events stay in the feed until it is trimmed)."""
        if job_ids:
            await self._redis.delete(*(job_stream(job_id) for job_id in job_ids))


def history(job: Job) -> list[Entry]:
    """A finished job's events rebuilt from its record, for when its stream has expired."""
    started = job.started if job.started is not None else job.created
    events = []
    if job.started is not None:  # a job cancelled while pending never started
        events.append(event(EventType.STARTED, job.id, message="Job processing started",
                            timestamp=started))  # fmt: skip
    events += [event(EventType.PROGRESS, job.id, **step) for step in job.output or ()]
    elapsed = job.updated - started
    if job.status is Status.SUCCEEDED:
        kind, message = EventType.COMPLETED, "Job processing completed"
    elif job.status is Status.CANCELLED:
        kind, message = EventType.CANCELLED, job.error or "Job cancelled"
    else:
        kind, message = EventType.ERROR, job.error or "Job failed"
    ended = event(kind, job.id, timestamp=job.updated, processingTime=elapsed, message=message)
    return [(f"{fields['timestamp']}-{i}", fields) for i, fields in enumerate([*events, ended])]
