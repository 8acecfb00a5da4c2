"""The read side of the Redis job store, and retention: a job by id, pages of jobs newest
first over every shard, ended jobs by age, and their deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from ..core.models import Job, Status
from ..core.shards import shard_of
from . import redis_scripts as lua
from .index import Key
from .redis_keys import ShardKeys
from .redis_listing import Scanned, newest_keys
from .redis_records import from_record, text

# Index entries one listing step examines at most (one script call, a bounded time in Redis).
LIST_BUDGET = 1000
DELETE_CHUNK = 500


class RedisReads:
    def __init__(self, redis: Redis | RedisCluster, shards: list[ShardKeys]) -> None:
        self._redis = redis
        self._shards = shards
        self._get = redis.register_script(lua.GET)
        self._list = redis.register_script(lua.LIST)
        self._delete = redis.register_script(lua.DELETE)

    async def get(self, job_id: str) -> Job | None:
        shard = shard_of(job_id, len(self._shards))
        if shard is None:
            return None
        keys = self._shards[shard]
        (found,) = await self._get(keys=[keys.job(job_id)], args=[keys.base, job_id])
        return from_record(found) if found else None

    async def _get_many(self, shard: int, job_ids: list[str]) -> list[Job]:
        keys = self._shards[shard]
        found = await self._get(keys=[keys.created], args=[keys.base, *job_ids])
        return [from_record(record) for record in found if record]

    async def ended_before(self, cutoff_ms: int, limit: int) -> list[Job]:
        pipe: Any = self._redis.pipeline(transaction=False)
        for keys in self._shards:
            pipe.zrangebyscore(keys.ended, "-inf", f"({cutoff_ms}", 0, limit, withscores=True)
        replies = enumerate(await pipe.execute())
        found = sorted(
            (score, text(job_id), shard) for shard, got in replies for job_id, score in got
        )
        return await self._get_in_order([(shard, job_id) for _s, job_id, shard in found[:limit]])

    async def delete(self, job_ids: Sequence[str]) -> list[str]:
        shards = ((shard_of(job_id, len(self._shards)), job_id) for job_id in job_ids)
        by_shard = _by_shard((shard, job_id) for shard, job_id in shards if shard is not None)
        calls = [
            self._delete(keys=[self._shards[shard].created, self._shards[shard].ended],
                         args=[self._shards[shard].base, *ids[start : start + DELETE_CHUNK]])
            for shard, ids in by_shard.items()
            for start in range(0, len(ids), DELETE_CHUNK)
        ]  # fmt: skip
        return [text(job_id) for gone in await asyncio.gather(*calls) for job_id in gone]

    async def newest_first(
        self, before: Key | None, status: Status | None, type: str | None, limit: int
    ) -> list[Job]:
        async def scan(shard: int, below: Key | None, want: int) -> Scanned:
            keys = self._shards[shard]
            top, under = ("+inf", "") if below is None else (str(below[0]), below[1])
            reply = await self._list(
                keys=[keys.created],
                args=[keys.base, top, under, status or "", type or "", want, LIST_BUDGET],
            )
            return _scanned(reply)

        page = await newest_keys(scan, len(self._shards), before, limit)
        return await self._get_in_order([(shard, job_id) for shard, (_created, job_id) in page])

    async def _get_in_order(self, wanted: list[tuple[int, str]]) -> list[Job]:
        """These (shard, id) jobs, one call per shard, in the order given; gone ones left out."""
        by_shard = _by_shard(wanted)
        found = await asyncio.gather(*(self._get_many(s, ids) for s, ids in by_shard.items()))
        jobs = {job.id: job for shard_jobs in found for job in shard_jobs}
        return [jobs[job_id] for _shard, job_id in wanted if job_id in jobs]


def _by_shard(pairs: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for shard, job_id in pairs:
        grouped.setdefault(shard, []).append(job_id)
    return grouped


def _scanned(reply: list[Any]) -> Scanned:
    exhausted, last_score, last_id, *flat = reply
    matches = [(int(float(text(flat[i]))), text(flat[i + 1])) for i in range(0, len(flat), 2)]
    last = None if last_score is None else (int(float(text(last_score))), text(last_id))
    return Scanned(matches, last, bool(int(exhausted)))
