"""Job events in Redis Streams: published through the outbox, followed through the stream hub.

Each event goes to its job's stream and to the feed stream of every job's events. The Redis
key names live here, and nowhere else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from ..core.events import Entry, Event
from ..core.models import TERMINAL_EVENTS
from ..core.observer import Observer, Unobserved
from ..core.shards import shard_of, shard_tag
from .hub import StreamHub
from .outbox import Outbox

# Every job's lifecycle events, for dashboards (GET /events).
FEED_STREAM = "jobs:events"
# XREAD ids: "0-0" reads a stream from its first entry.
FROM_START = "0-0"


def job_stream(job_id: str) -> str:
    """The Redis Stream holding one job's events (the original service's key name)."""
    return f"job:{job_id}:stream"


def job_streams(shards: int | None) -> Callable[[str], str]:
    """How jobs' streams are named. Without shards (the files store): `job_stream`. With the
    Redis store's shard count: `job:{<tag>}:<id>:stream`, under the hash tag of the shard the
    id names, so a job's stream shares its record's cluster slot."""
    if shards is None:
        return job_stream
    tags = [shard_tag(shard, shards) for shard in range(shards)]

    def name(job_id: str) -> str:
        shard = shard_of(job_id, shards)
        # Not an id the store gave out: no job has it, and its stream stays empty.
        return job_stream(job_id) if shard is None else f"job:{{{tags[shard]}}}:{job_id}:stream"

    return name


class EventLog:
    def __init__(
        self, redis: Redis | RedisCluster, hub: StreamHub, outbox: Outbox, *, maxlen: int,
        feed_maxlen: int, ttl_seconds: int, shards: int | None = None,
        observer: Observer | None = None, shared_feed: bool = False,
    ) -> None:  # fmt: skip
        """`shards`: the Redis job store's shard count (None with the files store)."""
        self._redis = redis
        # The name of a job's stream.
        self.stream = job_streams(shards)
        self.hub = hub
        self._outbox = outbox
        self._maxlen = maxlen
        self._feed_maxlen = feed_maxlen
        self._ttl = ttl_seconds
        self._observer = observer or Unobserved()
        # Other processes write the feed too (the Redis store): Redis picks its entries' ids.
        self._shared_feed = shared_feed

    def new_job(self, job_id: str) -> None:
        self._outbox.new_stream(self.stream(job_id))

    def release(self, job_id: str) -> None:
        """This process will not end the job's stream (another process runs the job next)."""
        self._outbox.release(self.stream(job_id))

    async def publish(self, job_id: str, event: Event) -> None:
        """Queue the event for the job's stream and the feed; a job's last event also starts
        its stream's time to live."""
        expire = self._ttl if event["type"] in TERMINAL_EVENTS else None
        await self._outbox.publish(self.stream(job_id), event, self._maxlen, expire)
        await self._outbox.publish(FEED_STREAM, event, self._feed_maxlen, shared=self._shared_feed)
        self._observer.event_published(event["type"])

    async def announce(self, event: Event, *, wait_for_room: bool = True) -> None:
        """Queue the event for the feed only (a job's own stream starts with `started`)."""
        await self._outbox.publish(
            FEED_STREAM, event, self._feed_maxlen, shared=self._shared_feed,
            wait_for_room=wait_for_room,
        )  # fmt: skip
        self._observer.event_published(event["type"])

    async def expired(self, job_id: str) -> bool:
        """Whether the job's stream is gone: not in Redis, and nothing waits to be written."""
        stream = self.stream(job_id)
        return not self._outbox.holds(stream) and not await self._redis.exists(stream)

    async def last_entry(self, key: str) -> Entry | None:
        """The stream's newest entry, if it has one."""
        try:
            found: Any = await self._redis.xrevrange(key, count=1)
        except RedisError:
            self._observer.redis_failed("xrange")
            raise
        return (found[0][0], found[0][1]) if found else None

    async def last_id(self, key: str) -> str:
        """The id of the stream's newest entry: reading after it gets only what comes next."""
        found: Any = await self._redis.xrevrange(key, count=1)
        return str(found[0][0]) if found else FROM_START

    async def forget(self, job_id: str, announcement: Event) -> None:
        """Delete the job's stream once the events queued for it are written, then announce
        it on the feed (where the job's events stay until the feed is trimmed)."""
        await self._outbox.delete(self.stream(job_id))
        await self.announce(announcement)
