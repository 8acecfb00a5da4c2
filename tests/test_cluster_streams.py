"""Job event streams on a real 3-master Redis Cluster: the event log names a job's stream on
its shard's slot, the outbox writes through the cluster's pipelines, and the stream hub reads
each slot with an XREAD of its own, on a connection to the node that holds the slot. And on
one Redis, the same streams still share one XREAD."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from jobservice.core.events import Event, event
from jobservice.core.models import EventType, JobIds, now_ms, stream_id
from jobservice.core.observer import Observer, Unobserved
from jobservice.core.shards import on_shard
from jobservice.stream.eventlog import FEED_STREAM, FROM_START, EventLog
from jobservice.stream.hub import Delivery, Inbox, StreamHub
from jobservice.stream.outbox import Outbox
from jobservice.stream.readers import ClusterReaders
from jobservice.stream.redis_server import EmbeddedRedis

from .service import HANG

SHARDS = 3
# Longer than any test waits: only a new entry or a CLIENT UNBLOCK ends a read.
BLOCK_MS = 600_000
TTL_SECONDS = 3600
# A job's life: started, three progress steps, completed.
PER_JOB = 5


class Failures(Unobserved):
    """Counts the Redis calls that failed, by operation."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    def redis_failed(self, operation: str) -> None:
        self.count[operation] += 1


@asynccontextmanager
async def event_log(
    reader: Any, redis: Any, observer: Observer | None = None
) -> AsyncIterator[EventLog]:
    """An event log as the app builds one, for the Redis store's SHARDS shards."""
    outbox = Outbox(redis, limit=10_000, observer=observer)
    hub = StreamHub(reader, redis, block_ms=BLOCK_MS)
    events = EventLog(redis, hub, outbox, maxlen=1_000, feed_maxlen=10_000,
                      ttl_seconds=TTL_SECONDS, shards=SHARDS)  # fmt: skip
    outbox.start()
    hub.start()
    try:
        yield events
    finally:
        await hub.stop()
        await outbox.stop(grace=HANG)


async def cluster_client(ports: list[int], **options: Any) -> RedisCluster:
    """A client of the flushed cluster."""
    for port in ports:
        with sync_redis.Redis(port=port) as node:
            node.flushall()
    client = RedisCluster(host="127.0.0.1", port=ports[0], decode_responses=True, **options)
    await client.initialize()
    return client


@pytest.fixture
async def cluster(redis_cluster: list[int]) -> AsyncIterator[RedisCluster]:
    client = await cluster_client(redis_cluster)
    yield client
    await client.aclose()


@pytest.fixture
async def nodes(redis_cluster: list[int]) -> AsyncIterator[list[Redis]]:
    """A plain client of each node, to ask it about its own clients."""
    clients = [Redis(port=port, decode_responses=True) for port in redis_cluster]
    yield clients
    for client in clients:
        await client.aclose()


@pytest.fixture
async def on_cluster(cluster: RedisCluster) -> AsyncIterator[EventLog]:
    async with event_log(ClusterReaders(cluster), cluster) as events:
        yield events


def jobs_on_every_shard(per_shard: int) -> list[str]:
    ids = JobIds()
    return [on_shard(ids.next(now_ms()), shard, SHARDS)
            for shard in range(SHARDS) for _ in range(per_shard)]  # fmt: skip


def life(job_id: str) -> list[Event]:
    steps = [event(EventType.PROGRESS, job_id, step=n) for n in (1, 2, 3)]
    return [event(EventType.STARTED, job_id), *steps, event(EventType.COMPLETED, job_id)]


def interleaved(job_ids: list[str]) -> list[Event]:
    """Every job's life, the jobs' events interleaved, as several workers publish them."""
    return [fields for step in zip(*map(life, job_ids), strict=True) for fields in step]


async def publish(events: EventLog, published: list[Event]) -> None:
    for fields in published:
        await events.publish(fields["jobId"], fields)


async def publish_lives(events: EventLog, job_ids: list[str]) -> list[Event]:
    """Every job's life, interleaved; all of them, in publish order."""
    published = interleaved(job_ids)
    await publish(events, published)
    return published


async def take(inbox: Inbox, count: int, after: str = FROM_START) -> list[Delivery]:
    """The next `count` entries after `after` (a watcher that resumed skips ids up to it)."""
    taken: list[Delivery] = []
    async with asyncio.timeout(HANG):
        while len(taken) < count:
            delivery = await inbox.get()
            assert delivery is not None, "the hub dropped the stream"
            if delivery.position > stream_id(after):
                taken.append(delivery)
    return taken


async def reads_blocked(servers: list[Redis], count: int) -> None:
    """Until exactly `count` XREADs are blocked in these Redis servers (the hub has taken
    every watcher)."""
    async with asyncio.timeout(HANG):
        while sum([await blocked_reads(server) for server in servers]) != count:
            await asyncio.sleep(0.01)


async def blocked_reads(server: Redis) -> int:
    clients = await server.client_list()
    return sum(1 for c in clients if c["cmd"] == "xread" and "b" in c["flags"])


async def written(redis: Any, lengths: dict[str, int]) -> None:
    """Until each stream holds as many entries as given."""
    async with asyncio.timeout(HANG):
        for key, length in lengths.items():
            while await redis.xlen(key) != length:
                await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_watchers_of_jobs_on_every_shard_get_their_events_in_order(
    on_cluster: EventLog, cluster: RedisCluster, nodes: list[Redis]
) -> None:
    events, hub = on_cluster, on_cluster.hub
    job_ids = jobs_on_every_shard(2)
    masters = {cluster.get_node_from_key(events.stream(job_id)).name for job_id in job_ids}
    assert len(masters) == 3
    async with AsyncExitStack() as stack:
        feed = await stack.enter_async_context(hub.follow(FEED_STREAM, FROM_START))
        inboxes = {job_id: await stack.enter_async_context(hub.follow(events.stream(job_id),
                                                                      FROM_START))
                   for job_id in job_ids}  # fmt: skip
        # One XREAD per shard's slot and one for the feed's, each blocked on its node.
        await reads_blocked(nodes, SHARDS + 1)
        published = await publish_lives(events, job_ids)
        for job_id, inbox in inboxes.items():
            taken = await take(inbox, PER_JOB)
            assert [d.event for d in taken] == life_of(published, job_id)
            stored = await cluster.xrange(events.stream(job_id))
            assert [d.id for d in taken] == [entry_id for entry_id, _ in stored]
        assert [d.event for d in await take(feed, len(published))] == published


def life_of(published: list[Event], job_id: str) -> list[Event]:
    return [fields for fields in published if fields["jobId"] == job_id]


@pytest.mark.slow
async def test_a_watcher_joining_a_blocked_read_is_read_at_once(
    on_cluster: EventLog, cluster: RedisCluster, nodes: list[Redis]
) -> None:
    """The XREAD blocks for ten minutes: only a CLIENT UNBLOCK sent to the reader's own node
    makes it take a stream newly watched on its slot."""
    events, hub = on_cluster, on_cluster.hub
    first, second = jobs_on_every_shard(2)[:2]
    assert cluster.keyslot(events.stream(first)) == cluster.keyslot(events.stream(second))
    async with hub.follow(events.stream(first), FROM_START):
        await reads_blocked(nodes, 1)
        async with asyncio.timeout(HANG), hub.follow(events.stream(second), FROM_START) as inbox:
            published = await publish_lives(events, [second])
            assert [d.event for d in await take(inbox, PER_JOB)] == published


@pytest.mark.slow
async def test_watchers_replay_from_an_id_and_late_watchers_get_the_history(
    on_cluster: EventLog, cluster: RedisCluster
) -> None:
    events, hub = on_cluster, on_cluster.hub
    job_ids = jobs_on_every_shard(1)
    published = await publish_lives(events, job_ids)
    await written(cluster, {events.stream(job_id): PER_JOB for job_id in job_ids})
    for job_id in job_ids:
        key = events.stream(job_id)
        ids = [entry_id for entry_id, _ in await cluster.xrange(key)]
        async with hub.follow(key, FROM_START) as late:
            assert [d.id for d in await take(late, 5)] == ids
            # Behind the reader's position: it reads the gap itself, then follows.
            async with hub.follow(key, ids[1]) as resumed:
                assert [d.id for d in await take(resumed, 3, after=ids[1])] == ids[2:]
        async with hub.follow(key, ids[2]) as fresh:  # the stream opened from an id
            assert [d.id for d in await take(fresh, 2, after=ids[2])] == ids[3:]
    async with hub.follow(FEED_STREAM, FROM_START) as feed:
        assert [d.event for d in await take(feed, len(published))] == published


@pytest.mark.slow
async def test_a_stream_the_cluster_refuses_is_dropped_alone(
    on_cluster: EventLog, cluster: RedisCluster
) -> None:
    events, hub = on_cluster, on_cluster.hub
    good, bad = jobs_on_every_shard(2)[:2]  # one shard: one slot, one XREAD
    await cluster.set(events.stream(bad), "not a stream")  # XREAD refuses it: WRONGTYPE
    async with (
        hub.follow(events.stream(bad), FROM_START) as refused,
        hub.follow(events.stream(good), FROM_START) as fine,
    ):
        published = await publish_lives(events, [good])
        async with asyncio.timeout(HANG):
            assert await refused.get() is None
        assert [d.event for d in await take(fine, PER_JOB)] == published


@pytest.mark.slow
async def test_the_outbox_writes_ends_and_deletions_through_the_clusters_pipelines(
    on_cluster: EventLog, cluster: RedisCluster
) -> None:
    events = on_cluster
    gone, *kept = job_ids = jobs_on_every_shard(2)
    published = await publish_lives(events, job_ids)
    deleted = event(EventType.DELETED, gone)
    await events.forget(gone, deleted)
    await written(cluster, {FEED_STREAM: len(published) + 1})
    await written(cluster, {events.stream(job_id): PER_JOB for job_id in kept})
    assert await events.expired(gone)
    for job_id in kept:
        stored = await cluster.xrange(events.stream(job_id))
        assert [fields for _, fields in stored] == life_of(published, job_id)
        assert 0 < await cluster.ttl(events.stream(job_id)) <= TTL_SECONDS
    assert [fields for _, fields in await cluster.xrange(FEED_STREAM)] == [*published, deleted]


@pytest.mark.slow
async def test_a_stream_ahead_of_this_clock_is_written_after_its_top(
    on_cluster: EventLog, cluster: RedisCluster
) -> None:
    """The outbox's XADD is refused, looked up by id (XRANGE) through the cluster, and
    written again after the stream's top."""
    events = on_cluster
    job_id = jobs_on_every_shard(1)[0]
    key = events.stream(job_id)
    future = f"{now_ms() + 3_600_000}-0"
    await cluster.xadd(key, {"type": "from a clock ahead"}, id=future)
    events.new_job(job_id)  # as for a new job: the outbox does not ask Redis for its top
    started = event(EventType.STARTED, job_id)
    await events.publish(job_id, started)
    await written(cluster, {key: 2})
    (first, _), (second, fields) = await cluster.xrange(key)
    assert first == future and stream_id(second) > stream_id(future) and fields == started


@pytest.mark.slow
async def test_a_paused_node_repeats_and_reorders_nothing(redis_cluster: list[int]) -> None:
    """A node stopped past the client's read timeout while events are written to it: the
    writes in flight are retried, refused as written, found by id, and counted once."""
    cluster = await cluster_client(redis_cluster, socket_timeout=0.5)
    failures = Failures()
    try:
        async with event_log(ClusterReaders(cluster), cluster, failures) as events:
            job_ids = jobs_on_every_shard(2)
            node = cluster.get_node_from_key(events.stream(job_ids[0]))
            info = await cluster.info("server", target_nodes=node)
            pid = int(info["process_id"])
            published = interleaved(job_ids)
            half = len(published) // 2
            for job_id in job_ids:
                events.new_job(job_id)  # the outbox goes straight to its XADDs
            await publish(events, published[:half])
            await written(cluster, {FEED_STREAM: half})
            os.kill(pid, signal.SIGSTOP)
            try:
                await publish(events, published[half:])
                await asyncio.sleep(1.5)  # the pause: three read timeouts
            finally:
                os.kill(pid, signal.SIGCONT)
            await written(cluster, {FEED_STREAM: len(published)})
            await written(cluster, {events.stream(job_id): PER_JOB for job_id in job_ids})
            for job_id in job_ids:
                stored = await cluster.xrange(events.stream(job_id))
                assert [fields for _, fields in stored] == life_of(published, job_id)
            assert [fields for _, fields in await cluster.xrange(FEED_STREAM)] == published
    finally:
        await cluster.aclose()
    assert failures.count["xadd"] > 0  # the pause did catch writes


async def test_on_one_redis_every_stream_shares_one_xread(own_redis: EmbeddedRedis) -> None:
    """The same sharded stream names on one Redis: one XREAD reads them all, as always."""
    reader = Redis.from_url(
        own_redis.url, decode_responses=True, socket_timeout=None, single_connection_client=True
    )
    commands = Redis.from_url(own_redis.url, decode_responses=True)
    try:
        async with event_log(reader, commands) as events, AsyncExitStack() as stack:
            hub, job_ids = events.hub, jobs_on_every_shard(1)
            feed = await stack.enter_async_context(hub.follow(FEED_STREAM, FROM_START))
            inboxes = [await stack.enter_async_context(hub.follow(events.stream(job_id),
                                                                  FROM_START))
                       for job_id in job_ids]  # fmt: skip
            await reads_blocked([commands], 1)
            published = await publish_lives(events, job_ids)
            for job_id, inbox in zip(job_ids, inboxes, strict=True):
                taken = await take(inbox, PER_JOB)
                assert [d.event for d in taken] == life_of(published, job_id)
            assert [d.event for d in await take(feed, len(published))] == published
    finally:
        await reader.aclose()
        await commands.aclose()


@pytest.mark.slow
async def test_a_watched_stream_whose_slot_moves_is_followed_to_its_new_node(
    on_cluster: EventLog, cluster: RedisCluster, redis_cluster: list[int], nodes: list[Redis]
) -> None:
    """The slot is migrated while the hub's XREAD blocks on it: Redis answers MOVED, and the
    hub reads the slot again from the node that has it now."""
    events, hub = on_cluster, on_cluster.hub
    job_id = jobs_on_every_shard(1)[0]
    key = events.stream(job_id)
    slot = cluster.keyslot(key)
    home = cluster.get_node_from_key(key).port
    away = next(port for port in redis_cluster if port != home)
    published = life(job_id)
    async with hub.follow(key, FROM_START) as inbox:
        await publish(events, published[:2])
        before = await take(inbox, 2)
        await reads_blocked(nodes, 1)
        move_slot(slot, home, away, redis_cluster)
        try:
            await publish(events, published[2:])
            after = await take(inbox, 3, after=before[-1].id)
            stored = await cluster.xrange(key)
        finally:
            move_slot(slot, away, home, redis_cluster)
    assert [d.event for d in before + after] == published
    assert [d.id for d in before + after] == [entry_id for entry_id, _ in stored]


def move_slot(slot: int, source: int, target: int, ports: list[int]) -> None:
    """Migrate a slot and its keys from one master to another, as redis-cli reshard does."""
    with sync_redis.Redis(port=source) as old, sync_redis.Redis(port=target) as new:
        old_id, new_id = (node.execute_command("CLUSTER", "MYID") for node in (old, new))
        new.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", old_id)
        old.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", new_id)
        while keys := old.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            old.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    for port in ports:
        with sync_redis.Redis(port=port) as node:
            node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", new_id)


@pytest.mark.slow
async def test_a_slot_nobody_watches_lets_its_connection_go(
    cluster: RedisCluster, nodes: list[Redis]
) -> None:
    hub = StreamHub(ClusterReaders(cluster), cluster, block_ms=50, idle_seconds=0.1)
    hub.start()
    try:
        key = "job:{q0.0}:a-stream"
        async with hub.follow(key, FROM_START):
            await reads_blocked(nodes, 1)
        await readers_gone(nodes)
        async with hub.follow(key, FROM_START) as inbox:  # a new reader for the slot
            entry_id = await cluster.xadd(key, {"type": "started"})
            assert [d.id for d in await take(inbox, 1)] == [entry_id]
    finally:
        await hub.stop()
    await readers_gone(nodes)


async def readers_gone(servers: list[Redis]) -> None:
    """Until no connection on these servers has XREAD as its last command."""
    async with asyncio.timeout(HANG):
        while sum([await xread_clients(server) for server in servers]):
            await asyncio.sleep(0.01)


async def xread_clients(server: Redis) -> int:
    return sum(1 for c in await server.client_list() if c["cmd"] == "xread")
