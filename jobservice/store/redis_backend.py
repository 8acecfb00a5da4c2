"""The Redis job store: job records, the run queue, leases and idempotency keys in Redis (one
server or a cluster), shared by any number of processes. See docs/redis-store.md."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from ..core import codec
from ..core.errors import QueueFullError, StartupError
from ..core.models import Job, Status, now_ms
from . import redis_scripts as lua
from .backend import RERUN_PRIORITY, CancelOutcome, CancelResult, JobBackend, Lease
from .index import Key
from .redis_keys import (
    ShardKeys,
    cancel_channel,
    key_shard,
    meta_key,
    on_shard,
    shard_of,
    work_channel,
)
from .redis_reads import RedisReads
from .redis_records import from_record, mutable_fields, new_fields, text
from .redis_signals import Signals

# Claims retried when another process took the job this one picked first.
CLAIM_TRIES = 3
# The SAVE script's refusal when the output steps stored differ from the lease's count.
OUT_OF_STEP = "output steps out of step with the lease"
CANCEL_OUTCOMES = {
    "missing": CancelOutcome.NOT_FOUND,
    "finished": CancelOutcome.FINISHED,
    "cancelled": CancelOutcome.CANCELLED,
    "requested": CancelOutcome.REQUESTED,
}


class NotReplicatedError(Exception):
    """Redis stored the write, but fewer replicas than asked confirmed it in time."""


def default_owner() -> str:
    """This process among all the store's processes: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class RedisBackend:
    """A JobBackend (store/backend.py) in Redis.

    `shards` splits the queue and the jobs over that many hash tags (cluster slots); it is
    fixed for the data (checked on open). With more than one shard, a claim first looks at
    every shard's next job so jobs run in priority order across shards (`strict_order`);
    without it, claims go round the shards and priority holds within each shard only, which
    costs one call per claim instead of one per shard. `replicas` > 0 makes each create wait
    (WAIT) until that many replicas have it."""

    # A claim is a round trip: a few at once keep workers busy without a call per idle
    # worker on each wake-up.
    claimers = 4

    def __init__(
        self, redis: Redis | RedisCluster, *, shards: int = 1, prefix: str = "jobs",
        owner: str | None = None, strict_order: bool = True, replicas: int = 0,
        replica_timeout_ms: int = 1000,
    ) -> None:  # fmt: skip
        self.owner = owner or default_owner()
        self._redis = redis
        self._prefix = prefix
        self._shards = [ShardKeys.of(prefix, shard, shards) for shard in range(shards)]
        self._reads = RedisReads(redis, self._shards)
        self._strict_order = strict_order
        self._rotation = random.randrange(shards)
        self._replicas = replicas
        self._replica_timeout_ms = replica_timeout_ms
        self._work = work_channel(prefix)
        self._cancels = cancel_channel(prefix, "")
        self._signals = Signals(redis, self._work, cancel_channel(prefix, self.owner))
        script = redis.register_script
        self._create, self._head = script(lua.CREATE), script(lua.HEAD)
        self._claim, self._renew = script(lua.CLAIM), script(lua.RENEW)
        self._save, self._cancel = script(lua.SAVE), script(lua.CANCEL)
        self._reclaim = script(lua.RECLAIM)

    @property
    def on_cancel(self) -> Callable[[str], None]:
        return self._signals.on_cancel

    @on_cancel.setter
    def on_cancel(self, handler: Callable[[str], None]) -> None:
        self._signals.on_cancel = handler

    @property
    def work_seq(self) -> int:
        return self._signals.work_seq

    @property
    def listening(self) -> asyncio.Event:
        """Set while this process is subscribed to wake-ups and cancel requests."""
        return self._signals.subscribed

    async def open(self) -> None:
        """Check the shard count the data was written with, and start listening."""
        key = meta_key(self._prefix)
        await self._redis.hsetnx(key, "shards", str(len(self._shards)))
        stored = int(text(await self._redis.hget(key, "shards") or "0"))
        if stored != len(self._shards):
            raise StartupError(
                f"The Redis store at prefix {self._prefix!r} holds jobs written with {stored} "
                f"shards, not {len(self._shards)}: set the shard count back to {stored}."
            )
        await self._signals.start()

    async def close(self) -> None:
        await self._signals.stop()

    def _shard(self, job_id: str) -> ShardKeys | None:
        shard = shard_of(job_id, len(self._shards))
        return None if shard is None else self._shards[shard]

    async def create(self, job: Job, queue_limit: int) -> tuple[Job, bool]:
        count = len(self._shards)
        per_shard = -(-queue_limit // count)
        if job.idempotency_key is not None:
            order = [key_shard(job.idempotency_key, count)]
        else:
            first = shard_of(job.id, count) or 0
            order = [(first + step) % count for step in range(count)]
        for shard in order:
            job.id = on_shard(job.id, shard, count)
            reply = await self._create_on(self._shards[shard], job, per_shard)
            if reply[0] == 1:
                return job, True
            if reply[0] == 0:
                return from_record(reply[1]), False
            if reply[0] == -2:
                raise RuntimeError(f"job id {job.id} is taken")
        raise QueueFullError(queue_limit)

    async def _create_on(self, keys: ShardKeys, job: Job, limit: int) -> Any:
        fields = [part for pair in new_fields(job).items() for part in pair]
        names = [keys.job(job.id), keys.ready, keys.delayed, keys.created]
        if job.idempotency_key is not None:
            names.append(keys.idem(job.idempotency_key))
        args = [keys.base, job.id, limit, job.created, job.run_at, now_ms(), -job.priority,
                _member(job.created, job.id), self._work, *fields]  # fmt: skip
        return await self._write(self._create, names, args)

    async def _write(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """Run the script; with `replicas`, WAIT on its connection until replicas have it."""
        if not self._replicas:
            return await script(keys=keys, args=args)
        for _attempt in range(2):
            pipe: Any = self._redis.pipeline(transaction=False)
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            if isinstance(self._redis, RedisCluster):
                await self._redis.initialize()  # a no-op once it knows the slots
                node = self._redis.get_node_from_key(keys[0])
                pipe.execute_command("WAIT", self._replicas, self._replica_timeout_ms,
                                     target_nodes=node)  # fmt: skip
            else:
                pipe.wait(self._replicas, self._replica_timeout_ms)
            try:
                reply, acked = await pipe.execute()
            except NoScriptError:  # not run: load it (a restarted Redis) and go again
                await self._redis.script_load(script.script)
                continue
            if int(acked) < self._replicas:
                raise NotReplicatedError(f"{acked} of {self._replicas} replicas have the write")
            return reply
        raise NoScriptError("the script could not be loaded")

    async def get(self, job_id: str) -> Job | None:
        return await self._reads.get(job_id)

    async def newest_first(
        self, before: Key | None, status: Status | None, type: str | None, limit: int
    ) -> list[Job]:
        return await self._reads.newest_first(before, status, type, limit)

    async def ended_before(self, cutoff_ms: int, limit: int) -> list[Job]:
        return await self._reads.ended_before(cutoff_ms, limit)

    async def delete(self, job_ids: Sequence[str]) -> list[str]:
        return await self._reads.delete(job_ids)

    async def claim(self, lease_ms: int) -> tuple[Job, Lease] | None:
        count = len(self._shards)
        if count == 1:
            return await self._claim_on(0, lease_ms)
        if not self._strict_order:
            self._rotation = start = (self._rotation + 1) % count
            for step in range(count):
                if claimed := await self._claim_on((start + step) % count, lease_ms):
                    return claimed
            return None
        for _attempt in range(CLAIM_TRIES):
            shard = await self._best_shard()
            if shard is None:
                return None
            if claimed := await self._claim_on(shard, lease_ms):
                return claimed
        return None

    async def _claim_on(self, shard: int, lease_ms: int) -> tuple[Job, Lease] | None:
        keys = self._shards[shard]
        reply = await self._claim(
            keys=[keys.ready, keys.delayed, keys.leases],
            args=[keys.base, self.owner, lease_ms, now_ms()],
        )
        if not reply:
            return None
        job = from_record(reply[1])
        return job, Lease(job.id, int(reply[0]), self.owner)

    async def _heads(self) -> list[Any]:
        now = now_ms()
        return await asyncio.gather(*(
            self._head(keys=[keys.ready, keys.delayed], args=[keys.base, now])
            for keys in self._shards
        ))  # fmt: skip

    async def _best_shard(self) -> int | None:
        """The shard whose next due job comes first (by priority, then arrival)."""
        best: tuple[float, str, int] | None = None
        for shard, (ready, _delayed) in enumerate(await self._heads()):
            if ready:
                head = (float(ready[1]), text(ready[0]), shard)
                best = head if best is None or head < best else best
        return None if best is None else best[2]

    async def next_due_in(self) -> float | None:
        heads = await self._heads()
        if any(ready for ready, _delayed in heads):
            return 0.0
        run_at = min((float(delayed[1]) for _ready, delayed in heads if delayed), default=None)
        return None if run_at is None else max(0.0, (run_at - now_ms()) / 1000)

    async def wait_for_work(self, since: int) -> None:
        await self._signals.wait(since)

    async def renew(self, lease: Lease, lease_ms: int) -> bool:
        keys = self._shard(lease.job_id)
        assert keys is not None
        held = int(await self._renew(
            keys=[keys.job(lease.job_id), keys.leases],
            args=[lease.token, lease_ms, lease.job_id],
        ))  # fmt: skip
        if held == 1:  # a cancel request whose message this process may have missed
            self._signals.on_cancel(lease.job_id)
        return held >= 0

    async def save(self, job: Job, lease: Lease) -> bool:
        return await self._save_queued_at(job, lease, -job.priority)

    async def release(self, job: Job, lease: Lease) -> bool:
        job.move_to(Status.PENDING)
        job.run_at = 0
        return await self._save_queued_at(job, lease, -RERUN_PRIORITY)

    async def _save_queued_at(self, job: Job, lease: Lease, score: int) -> bool:
        """The fenced save; a pending job is queued with this ready-queue score.

        A save Redis ran whose reply never came back (a lost connection, or the handler's
        task cancelled while it waited: a timeout, a cancel) stored steps `lease.steps` does
        not count; the script then refuses the next save as out of step. The lease is still
        this one (the script checks it first), so the stored steps are its own: count them
        and save again."""
        try:
            return await self._save_once(job, lease, score)
        except ResponseError as exc:
            if OUT_OF_STEP not in str(exc):
                raise
        keys = self._shard(job.id)
        assert keys is not None
        lease.steps = int(await self._redis.llen(keys.out(job.id)))
        return await self._save_once(job, lease, score)

    async def _save_once(self, job: Job, lease: Lease, score: int) -> bool:
        keys = self._shard(job.id)
        assert keys is not None and lease.job_id == job.id
        present, absent = mutable_fields(job)
        steps = [codec.dumps_str(step) for step in (job.output or [])[lease.steps :]]
        now = now_ms()
        stored = int(await self._save(
            keys=[keys.job(job.id), keys.out(job.id), keys.ready, keys.delayed, keys.leases,
                  keys.ended],
            args=[job.id, lease.token, job.status.value, job.updated, job.run_at, now,
                  score, _member(now, job.id), self._work, lease.steps, len(present),
                  len(absent), *(part for pair in present.items() for part in pair), *absent,
                  *steps],
        ))  # fmt: skip
        if stored == 0:
            return False
        lease.steps += len(steps)
        if stored == 2:
            job.status = Status.CANCELLED
        return True

    async def cancel(self, job_id: str) -> CancelResult:
        keys = self._shard(job_id)
        if keys is None:
            return CancelResult(CancelOutcome.NOT_FOUND, None)
        outcome, record = await self._cancel(
            keys=[keys.job(job_id), keys.ready, keys.delayed, keys.ended],
            args=[keys.base, job_id, now_ms(), self._cancels],
        )
        return CancelResult(CANCEL_OUTCOMES[text(outcome)], from_record(record) if record else None)

    async def reclaim_expired(self) -> list[Job]:
        now = now_ms()
        replies = await asyncio.gather(*(
            self._reclaim(keys=[keys.ready, keys.leases, keys.ended],
                          args=[keys.base, f"{now:013d}", -RERUN_PRIORITY, self._work])
            for keys in self._shards
        ))  # fmt: skip
        return [from_record(record) for reply in replies for record in reply]

    async def queue_length(self) -> int:
        pipe: Any = self._redis.pipeline(transaction=False)
        for keys in self._shards:
            pipe.zcard(keys.ready)
            pipe.zcard(keys.delayed)
        return sum(int(count) for count in await pipe.execute())


def _member(arrival_ms: int, job_id: str) -> str:
    """A ready-queue entry: within a priority, ordered by arrival, then id."""
    return f"{arrival_ms:013d}:{job_id}"


def _is_a_job_backend(backend: RedisBackend) -> JobBackend:
    """mypy checks here that RedisBackend has every member of the JobBackend interface."""
    return backend
