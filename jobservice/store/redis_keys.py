"""Redis key names of the Redis job store: which shard a job lives on, and each shard's keys.

Everything about a job lives on its shard, under the shard's hash tag, so every change to a
job (record, queue, lease, indexes, idempotency key) is one script on one cluster slot:

    <prefix>:{<tag>}:job:<id>    hash: the job's fields and its lease
    <prefix>:{<tag>}:out:<id>    list: the job's output steps (JSON)
    <prefix>:{<tag>}:idem:<key>  string: the id of the job made with this Idempotency-Key
    <prefix>:{<tag>}:ready       zset: due jobs, score -priority, member "<arrival ms>:<id>"
    <prefix>:{<tag>}:delayed     zset: jobs waiting for run_at, score run_at, member id
    <prefix>:{<tag>}:leases      zset: running jobs, score lease deadline (Redis clock), id
    <prefix>:{<tag>}:created     zset: every job, score created, member id (for listing)
    <prefix>:{<tag>}:ended       zset: ended jobs, score updated, member id (for retention)
    <prefix>:meta                hash: the shard count the data was written with

A job's shard is written into its id (core/shards.py), so the id alone finds the job. A job
with an Idempotency-Key goes to the key's shard, so the key and the job are claimed together.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# Which shard an id names is in core, shared with the event log's stream names; the
# store's modules still import these two from here.
from ..core.shards import on_shard as on_shard
from ..core.shards import shard_of as shard_of
from ..core.shards import shard_tag


def key_shard(idempotency_key: str, shards: int) -> int:
    return zlib.crc32(idempotency_key.encode()) % shards


@dataclass(frozen=True, slots=True)
class ShardKeys:
    base: str  # "<prefix>:{<tag>}:": scripts build per-job keys from it
    ready: str
    delayed: str
    leases: str
    created: str
    ended: str

    @classmethod
    def of(cls, prefix: str, shard: int, shards: int) -> ShardKeys:
        base = f"{prefix}:{{{shard_tag(shard, shards)}}}:"
        return cls(
            base, *(base + name for name in ("ready", "delayed", "leases", "created", "ended"))
        )

    def job(self, job_id: str) -> str:
        return f"{self.base}job:{job_id}"

    def out(self, job_id: str) -> str:
        return f"{self.base}out:{job_id}"

    def idem(self, idempotency_key: str) -> str:
        return f"{self.base}idem:{idempotency_key}"


def meta_key(prefix: str) -> str:
    return f"{prefix}:meta"


def work_channel(prefix: str) -> str:
    """Pub/sub: a message whenever a job is queued (or requeued), to wake idle workers."""
    return f"{prefix}:work"


def cancel_channel(prefix: str, owner: str) -> str:
    """Pub/sub: the ids of jobs this owner holds whose cancel was requested."""
    return f"{prefix}:cancel:{owner}"
