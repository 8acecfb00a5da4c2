"""Job events in Redis Streams: published through the outbox, followed with XREAD BLOCK."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from . import codec
from .keys import job_stream
from .models import TERMINAL_EVENTS, EventType, Job, Status, now_ms
from .outbox import Outbox

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
    def __init__(self, redis: Redis, blocking: Redis, outbox: Outbox, ttl_seconds: int) -> None:
        self._redis = redis
        self._blocking = blocking
        self._outbox = outbox
        self._ttl = ttl_seconds

    def new_job(self, job_id: str) -> None:
        self._outbox.new_stream(job_stream(job_id))

    async def publish(self, job_id: str, event: Event) -> None:
        """Queue the event; a job's last event also starts its stream's time to live."""
        final = event["type"] in TERMINAL_EVENTS
        await self._outbox.publish(job_stream(job_id), event, self._ttl if final else None)

    async def exists(self, job_id: str) -> bool:
        return bool(await self._redis.exists(job_stream(job_id)))

    async def entry(self, job_id: str, entry_id: str) -> Event | None:
        """The event stored under `entry_id`, if the stream still has it."""
        found: Any = await self._redis.xrange(job_stream(job_id), entry_id, entry_id)
        return found[0][1] if found else None

    async def read(self, job_id: str, after: str, block_ms: int) -> list[Entry]:
        """Entries after `after`, waiting up to `block_ms` for the first one to arrive."""
        reply: Any = await self._blocking.xread({job_stream(job_id): after}, block=block_ms)
        return [entry for _stream, entries in reply or () for entry in entries]


def history(job: Job) -> list[Entry]:
    """A finished job's events rebuilt from its record, for when its stream has expired."""
    started = job.started if job.started is not None else job.created
    events = [event(EventType.STARTED, job.id, message="Job processing started", timestamp=started)]
    events += [event(EventType.PROGRESS, job.id, **step) for step in job.output or ()]
    if job.status is Status.SUCCEEDED:
        ended = event(
            EventType.COMPLETED,
            job.id,
            timestamp=job.updated,
            processingTime=job.updated - started,
            message="Job processing completed",
        )
    else:
        ended = event(
            EventType.ERROR,
            job.id,
            timestamp=job.updated,
            processingTime=job.updated - started,
            message=job.error or "Job failed",
        )
    events.append(ended)
    return [(f"{fields['timestamp']}-{index}", fields) for index, fields in enumerate(events)]
