"""The Redis job store against real Redis: one server (one shard, four shards) and a real
local 3-master Redis Cluster. Several backends on one Redis stand for several processes."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from jobservice.core.errors import QueueFullError, StartupError
from jobservice.core.models import Job, JobIds, Status, now_ms
from jobservice.store.backend import CancelOutcome, Lease
from jobservice.store.redis_backend import NotReplicatedError, RedisBackend
from jobservice.store.redis_keys import ShardKeys
from jobservice.stream.redis_server import EmbeddedRedis, find_redis_server

from .redis_servers import servers

KINDS = ["single", "sharded", pytest.param("cluster", marks=pytest.mark.slow)]
SHARDS = {"single": 1, "sharded": 4, "cluster": 3}
LEASE_MS = 30_000
SHORT_LEASE_MS = 300
# Long enough for the steps before a delayed job comes due, even on a busy machine.
DELAY_MS = 2000
WAIT_SECONDS = 10.0
WAIT_MS = 10_000

Connect = Callable[..., Awaitable[RedisBackend]]


@dataclass
class Target:
    kind: str
    url: str | None = None
    port: int | None = None


@pytest.fixture(params=KINDS)
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    """The test's own Redis: an embedded redis-server, or the cluster flushed for it."""
    if request.param == "cluster":
        ports: list[int] = request.getfixturevalue("redis_cluster")
        for port in ports:
            with sync_redis.Redis(port=port) as node:
                node.flushall()
        yield Target("cluster", port=ports[0])
        return
    server = EmbeddedRedis(tmp_path / "redis", find_redis_server(None))
    server.data_dir.mkdir()
    await server.start()
    yield Target(request.param, url=server.url)
    await server.stop()


@pytest.fixture
async def connect(target: Target) -> AsyncIterator[Connect]:
    """Factory: another process's backend (its own client and owner), opened."""
    opened: list[tuple[RedisBackend, Redis | RedisCluster]] = []

    async def make(**options: Any) -> RedisBackend:
        client: Redis | RedisCluster
        if target.url is not None:
            client = Redis.from_url(target.url, decode_responses=True)
        else:
            client = RedisCluster(host="127.0.0.1", port=target.port, decode_responses=True)
        options.setdefault("shards", SHARDS[target.kind])
        backend = RedisBackend(client, **options)
        opened.append((backend, client))
        await backend.open()
        return backend

    yield make
    for backend, client in opened:
        await backend.close()
        await client.aclose()


@pytest.fixture
async def store(connect: Connect) -> RedisBackend:
    return await connect()


@pytest.fixture
def ids() -> JobIds:
    return JobIds()


async def add(store: RedisBackend, ids: JobIds, data: Any = None, **options: Any) -> Job:
    job, created = await store.create(Job.new(data, ids, **options), 10_000)
    assert created
    return job


async def claim(store: RedisBackend, lease_ms: int = LEASE_MS) -> tuple[Job, Lease]:
    claimed = await store.claim(lease_ms)
    assert claimed is not None
    return claimed


async def drain(store: RedisBackend) -> list[Any]:
    """Claim every due job, finishing each; their data in the order they came."""
    order = []
    while (claimed := await store.claim(LEASE_MS)) is not None:
        job, lease = claimed
        job.move_to(Status.SUCCEEDED)
        assert await store.save(job, lease)
        order.append(job.data)
    return order


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll until `check` returns something truthy (bounded; no timing is asserted)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while not (result := await check()):
            await asyncio.sleep(0.05)
    assert result, what
    return result


async def test_a_stored_job_reads_back_as_it_was_created(store: RedisBackend, ids: JobIds) -> None:
    data = {"text": "héllo", "big": 2**63, "nested": [{"a": []}, {}], "float": 0.1}
    job = await add(store, ids, data, type="demo", priority=3, max_attempts=2, timeout=1.5,
                    idempotency_key="key {with} braces")  # fmt: skip
    found = await store.get(job.id)
    assert found is not None and found.to_dict() == job.to_dict()
    assert await store.get("no-such-job") is None
    assert await store.get("00000000-0000-7000-8000-00000000000g") is None


async def test_priority_first_then_arrival_and_delayed_jobs_wait(
    store: RedisBackend, ids: JobIds
) -> None:
    later = await add(store, ids, "later", priority=9, run_at=now_ms() + DELAY_MS)
    for name, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)]:
        await add(store, ids, name, priority=priority)
    assert await store.queue_length() == 6
    assert await drain(store) == ["b", "d", "a", "c", "e"]
    due_in = await store.next_due_in()
    assert due_in is not None and due_in > 0
    assert await store.claim(LEASE_MS) is None
    job, _lease = await eventually(lambda: store.claim(LEASE_MS), "the delayed job came due")
    assert job.id == later.id and job.status is Status.PROCESSING and job.attempts == 1
    assert await store.next_due_in() is None


async def test_one_idempotency_key_makes_one_job_across_processes(
    connect: Connect, ids: JobIds
) -> None:
    first, second = await connect(), await connect()

    async def post(store: RedisBackend, n: int) -> tuple[Job, bool]:
        return await store.create(Job.new(n, ids, idempotency_key="once"), 10_000)

    results = await asyncio.gather(*(post((first, second)[n % 2], n) for n in range(20)))
    assert sum(created for _job, created in results) == 1
    assert len({job.id for job, _created in results}) == 1
    assert len(await first.newest_first(None, None, None, 100)) == 1
    assert await second.queue_length() == 1


async def test_the_queue_limit_holds_under_concurrent_creates(
    connect: Connect, ids: JobIds
) -> None:
    first, second = await connect(), await connect()
    limit = 12

    async def post(store: RedisBackend, n: int) -> bool:
        try:
            await store.create(Job.new(n, ids), limit)
        except QueueFullError:
            return False
        return True

    accepted = await asyncio.gather(*(post((first, second)[n % 2], n) for n in range(36)))
    assert sum(accepted) == limit
    assert await first.queue_length() == limit
    with pytest.raises(QueueFullError):
        await second.create(Job.new("one more", ids), limit)
    await claim(first)
    await second.create(Job.new("room again", ids), limit)


@pytest.mark.parametrize("strict_order", [True, False])
async def test_competing_owners_never_get_the_same_job(
    connect: Connect, ids: JobIds, strict_order: bool
) -> None:
    owners = [await connect(strict_order=strict_order) for _ in range(2)]
    created = {(await add(owners[0], ids, n)).id for n in range(40)}

    async def take(store: RedisBackend) -> list[str]:
        taken = []
        while (claimed := await store.claim(LEASE_MS)) is not None:
            taken.append(claimed[0].id)
            await asyncio.sleep(0)
        return taken

    runs = await asyncio.gather(*(take(owners[n % 2]) for n in range(8)))
    everything = [job_id for run in runs for job_id in run]
    assert sorted(everything) == sorted(created)


async def test_a_renewed_lease_outlives_its_first_term(store: RedisBackend, ids: JobIds) -> None:
    await add(store, ids)
    job, lease = await claim(store, SHORT_LEASE_MS)
    assert await store.renew(lease, LEASE_MS)
    await asyncio.sleep(3 * SHORT_LEASE_MS / 1000)
    assert await store.reclaim_expired() == []
    job.output = [{"step": 1}]
    job.move_to(Status.SUCCEEDED)
    assert await store.save(job, lease)
    assert not await store.renew(lease, LEASE_MS)


async def test_a_lapsed_lease_is_reclaimed_once_and_the_old_owner_is_fenced_off(
    connect: Connect, ids: JobIds
) -> None:
    old, *others = [await connect() for _ in range(4)]
    job = await add(old, ids, "work")
    running, lease = await claim(old, SHORT_LEASE_MS)
    await add(old, ids, "urgent", priority=100)
    reclaimed: list[Job] = []

    async def reclaim_together() -> list[Job]:
        rounds = await asyncio.gather(*(store.reclaim_expired() for store in [old, *others]))
        reclaimed.extend(found for found_round in rounds for found in found_round)
        return reclaimed

    await eventually(reclaim_together, "the lapsed lease was reclaimed")
    assert [found.id for found in reclaimed] == [job.id]
    assert reclaimed[0].status is Status.PENDING
    running.output = [{"step": "late"}]
    running.move_to(Status.SUCCEEDED)
    assert not await old.save(running, lease)
    assert not await old.renew(lease, LEASE_MS)
    again, new_lease = await claim(others[0])
    assert again.id == job.id, "a reclaimed job runs first, whatever the others' priority"
    assert new_lease.token > lease.token and again.attempts == 2
    again.move_to(Status.SUCCEEDED)
    assert await others[0].save(again, new_lease)
    assert not await old.save(running, lease)
    stored = await others[1].get(job.id)
    assert stored is not None and stored.status is Status.SUCCEEDED and stored.output == []


async def test_progress_saves_append_steps_and_a_retry_waits_its_backoff(
    store: RedisBackend, ids: JobIds
) -> None:
    await add(store, ids, max_attempts=2)
    job, lease = await claim(store)
    assert job.output == [] and job.started is not None
    for step in range(1, 4):
        assert job.output is not None
        job.output.append({"step": step})
        assert await store.save(job, lease)
    found = await store.get(job.id)
    assert found is not None and found.output == [{"step": n} for n in range(1, 4)]
    job.error = "boom"
    job.run_at = now_ms() + DELAY_MS
    job.move_to(Status.PENDING)
    assert await store.save(job, lease)
    assert await store.queue_length() == 1
    assert await store.claim(LEASE_MS) is None
    retried, second = await eventually(lambda: store.claim(LEASE_MS), "the retry came due")
    assert retried.id == job.id and retried.attempts == 2 and second.token > lease.token
    assert retried.output == [] and retried.error is None and retried.run_at == 0


async def test_a_save_whose_reply_never_came_is_counted_not_repeated(
    store: RedisBackend, ids: JobIds
) -> None:
    """A progress save that Redis ran but whose reply was lost (a dropped connection, or
    the handler cancelled while it waited): the lease does not count its step, and the next
    save must neither fail nor store the step twice."""
    await add(store, ids)
    job, lease = await claim(store)
    unaware = replace(lease)  # the worker's lease, had the reply of the next save been lost
    assert job.output is not None
    job.output.append({"step": 1})
    assert await store.save(job, lease)
    job.output.append({"step": 2})
    job.move_to(Status.SUCCEEDED)
    assert await store.save(job, unaware)
    assert unaware.steps == 2
    stored = await store.get(job.id)
    assert stored is not None and stored.status is Status.SUCCEEDED
    assert stored.output == [{"step": 1}, {"step": 2}]


async def test_cancel_a_pending_job_takes_it_out_of_the_queue(
    store: RedisBackend, ids: JobIds
) -> None:
    job = await add(store, ids)
    delayed = await add(store, ids, run_at=now_ms() + 60_000)
    for target in (job, delayed):
        result = await store.cancel(target.id)
        assert result.outcome is CancelOutcome.CANCELLED
        assert result.job is not None and result.job.status is Status.CANCELLED
    assert await store.queue_length() == 0
    assert await store.claim(LEASE_MS) is None
    assert (await store.cancel(job.id)).outcome is CancelOutcome.FINISHED
    assert (await store.cancel("no-such-job")).outcome is CancelOutcome.NOT_FOUND


async def test_cancel_a_running_job_reaches_its_owner(connect: Connect, ids: JobIds) -> None:
    owner, other = await connect(), await connect()
    asked: asyncio.Queue[str] = asyncio.Queue()
    owner.on_cancel = asked.put_nowait
    await asyncio.wait_for(owner.listening.wait(), WAIT_SECONDS)
    job = await add(other, ids)
    running, lease = await claim(owner)
    result = await other.cancel(job.id)
    assert result.outcome is CancelOutcome.REQUESTED
    assert await asyncio.wait_for(asked.get(), WAIT_SECONDS) == job.id
    running.move_to(Status.CANCELLED)
    assert await owner.save(running, lease)
    stored = await other.get(job.id)
    assert stored is not None and stored.status is Status.CANCELLED
    assert (await other.cancel(job.id)).outcome is CancelOutcome.FINISHED


async def test_a_cancel_request_comes_back_with_the_lease_renewal(
    connect: Connect, ids: JobIds
) -> None:
    owner, other = await connect(), await connect()
    await add(owner, ids)
    _job, lease = await claim(owner)
    assert (await other.cancel(lease.job_id)).outcome is CancelOutcome.REQUESTED
    asked: list[str] = []
    owner.on_cancel = asked.append
    assert await owner.renew(lease, LEASE_MS)
    assert lease.job_id in asked


async def test_a_retry_after_a_cancel_request_ends_cancelled(connect: Connect, ids: JobIds) -> None:
    owner, other = await connect(), await connect()
    await add(owner, ids, max_attempts=3)
    job, lease = await claim(owner)
    assert (await other.cancel(job.id)).outcome is CancelOutcome.REQUESTED
    job.error = "failed just as the cancel came"
    job.run_at = now_ms() + 60_000
    job.move_to(Status.PENDING)
    assert await owner.save(job, lease)
    assert job.status is Status.CANCELLED
    stored = await other.get(job.id)
    assert stored is not None and stored.status is Status.CANCELLED
    assert await other.queue_length() == 0


async def test_a_cancel_requested_job_whose_owner_died_ends_cancelled(
    connect: Connect, ids: JobIds
) -> None:
    owner, other = await connect(), await connect()
    await add(owner, ids)
    job, _lease = await claim(owner, SHORT_LEASE_MS)
    assert (await other.cancel(job.id)).outcome is CancelOutcome.REQUESTED
    (found,) = await eventually(other.reclaim_expired, "the lease lapsed")
    assert found.id == job.id and found.status is Status.CANCELLED
    assert await other.claim(LEASE_MS) is None


async def test_new_work_wakes_an_idle_process(connect: Connect, ids: JobIds) -> None:
    idle, busy = await connect(), await connect()
    await asyncio.wait_for(idle.listening.wait(), WAIT_SECONDS)
    since = idle.work_seq
    assert await idle.claim(LEASE_MS) is None
    waiting = asyncio.create_task(idle.wait_for_work(since))
    try:
        await add(busy, ids, "wake up")
        await asyncio.wait_for(asyncio.shield(waiting), WAIT_SECONDS)
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    claimed = await idle.claim(LEASE_MS)
    assert claimed is not None and claimed[0].data == "wake up"


async def test_retention_finds_and_deletes_old_ended_jobs(store: RedisBackend, ids: JobIds) -> None:
    old = await add(store, ids, "old", idempotency_key="reused")
    recent = await add(store, ids, "recent")
    waiting = await add(store, ids, "waiting", run_at=now_ms() + 60_000)
    for ended_at in (1_000, now_ms()):
        job, lease = await claim(store)
        job.move_to(Status.SUCCEEDED, at=ended_at)
        assert await store.save(job, lease)
    (found,) = await store.ended_before(10_000, 100)
    assert found.id == old.id and found.status is Status.SUCCEEDED and found.updated == 1_000
    assert await store.delete([old.id, waiting.id, "no-such-job"]) == [old.id]
    assert await store.delete([old.id]) == []
    assert await store.get(old.id) is None
    assert await store.get(waiting.id) is not None
    assert [job.id for job in await store.newest_first(None, None, None, 10)] == [
        waiting.id, recent.id
    ]  # fmt: skip
    assert [job.id for job in await store.ended_before(now_ms() + 1, 100)] == [recent.id]
    again, created = await store.create(Job.new("new", ids, idempotency_key="reused"), 100)
    assert created and again.id != old.id


async def test_listing_pages_newest_first_with_cursors_and_filters(
    store: RedisBackend, ids: JobIds
) -> None:
    jobs = [await add(store, ids, n, type="even" if n % 2 == 0 else "odd") for n in range(23)]
    for job in jobs[:5]:
        assert (await store.cancel(job.id)).outcome is CancelOutcome.CANCELLED
    newest = sorted(jobs, key=lambda job: (job.created, job.id), reverse=True)
    assert await pages(store, None, None) == [job.id for job in newest]
    assert await pages(store, None, "odd") == [job.id for job in newest if job.type == "odd"]
    cancelled = [job.id for job in newest if job in jobs[:5]]
    assert await pages(store, Status.CANCELLED, None) == cancelled
    assert await pages(store, Status.PENDING, "even") == [
        job.id for job in newest if job.type == "even" and job not in jobs[:5]
    ]


async def pages(store: RedisBackend, status: Status | None, type: str | None) -> list[str]:
    """Every matching id, a page of 4 at a time, each page starting below the last."""
    seen: list[str] = []
    before = None
    while page := await store.newest_first(before, status, type, 4):
        assert len(page) <= 4
        seen += [job.id for job in page]
        before = (page[-1].created, page[-1].id)
    return seen


async def test_the_shard_count_is_fixed_for_the_data(connect: Connect, target: Target) -> None:
    await connect()
    count = SHARDS[target.kind]
    with pytest.raises(StartupError, match=f"{count} shards"):
        await connect(shards=count + 1)


@pytest.mark.slow
async def test_with_replicas_a_create_returns_once_they_have_it(tmp_path: Path) -> None:
    replica = ("--replicaof", "127.0.0.1")
    with (
        servers(tmp_path, 1) as (primary,),
        servers(tmp_path / "replica", 1, *replica, str(primary)),
    ):
        client = Redis(port=primary, decode_responses=True)
        one = RedisBackend(client, replicas=1, replica_timeout_ms=WAIT_MS)
        two = RedisBackend(client, replicas=2, replica_timeout_ms=200)
        try:
            _job, created = await one.create(Job.new("kept", JobIds()), 100)
            assert created
            with pytest.raises(NotReplicatedError, match="1 of 2"):
                await two.create(Job.new("on the primary only", JobIds()), 100)
            assert len(await one.newest_first(None, None, None, 10)) == 2
        finally:
            await client.aclose()


@pytest.mark.slow
async def test_a_cluster_create_waits_on_the_node_that_has_the_job(
    redis_cluster: list[int],
) -> None:
    client = RedisCluster(host="127.0.0.1", port=redis_cluster[0], decode_responses=True)
    backend = RedisBackend(client, shards=3, prefix="replicated", replicas=1,
                           replica_timeout_ms=100)  # fmt: skip
    try:
        with pytest.raises(NotReplicatedError, match="0 of 1"):
            await backend.create(Job.new("no replicas here", JobIds()), 100)
        assert len(await backend.newest_first(None, None, None, 10)) == 1
    finally:
        await client.aclose()


async def test_acknowledged_jobs_and_wake_ups_survive_a_redis_kill(
    own_redis: EmbeddedRedis, ids: JobIds
) -> None:
    """kill -9 of redis-server: what create acknowledged is in the AOF and comes back, the
    scripts are loaded again, and an idle process's subscription returns and wakes it."""
    clients = [Redis.from_url(own_redis.url, decode_responses=True) for _ in range(2)]
    idle, busy = (RedisBackend(client) for client in clients)
    try:
        await idle.open()
        await busy.open()
        kept = await add(busy, ids, "acknowledged before the crash")
        os.kill(int(own_redis.pidfile.read_text()), signal.SIGKILL)
        await eventually(lambda: _restarted(own_redis), "the embedded Redis was restarted")
        await eventually(lambda: _listening(idle), "the subscription came back")
        since = idle.work_seq
        await eventually(lambda: _created(busy, ids), "a create after the restart")
        await asyncio.wait_for(idle.wait_for_work(since), WAIT_SECONDS)
        claimed = await idle.claim(LEASE_MS)
        assert claimed is not None and claimed[0].id == kept.id
    finally:
        for store, client in zip((idle, busy), clients, strict=True):
            await store.close()
            await client.aclose()


async def _restarted(server: EmbeddedRedis) -> bool:
    return server.restarts > 0


async def _listening(store: RedisBackend) -> bool:
    return store.listening.is_set()


async def _created(store: RedisBackend, ids: JobIds) -> bool:
    try:
        await store.create(Job.new("after", ids), 100)
    except (sync_redis.RedisError, OSError):
        return False
    return True


@pytest.mark.slow
async def test_three_shards_land_on_three_masters(redis_cluster: list[int]) -> None:
    client = RedisCluster(host="127.0.0.1", port=redis_cluster[0], decode_responses=True)
    try:
        await client.initialize()
        nodes = {client.get_node_from_key(ShardKeys.of("jobs", shard, 3).ready).name
                 for shard in range(3)}  # fmt: skip
        assert len(nodes) == 3
    finally:
        await client.aclose()
