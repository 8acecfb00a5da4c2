"""The names of jobs' streams: the original name without shards, and on a sharded Redis store
under the hash tag of the job's shard, on the slot of the job's record."""

from __future__ import annotations

from redis.crc import key_slot as redis_key_slot

from jobservice.core.models import JobIds, now_ms
from jobservice.core.shards import on_shard, shard_tag
from jobservice.store.redis_keys import ShardKeys
from jobservice.stream.eventlog import job_stream, job_streams


def slot(key: str) -> int:
    return int(redis_key_slot(key.encode()))


def test_without_shards_a_stream_keeps_the_original_name() -> None:
    job_id = JobIds().next(now_ms())
    assert job_streams(None)(job_id) == job_stream(job_id) == f"job:{job_id}:stream"


def test_a_sharded_stream_goes_under_its_shards_tag_on_its_records_slot() -> None:
    ids = JobIds()
    for shards in (1, 3, 4):
        name = job_streams(shards)
        for shard in range(shards):
            job_id = on_shard(ids.next(now_ms()), shard, shards)
            tag = shard_tag(shard, shards)
            assert name(job_id) == f"job:{{{tag}}}:{job_id}:stream"
            record = ShardKeys.of("jobs", shard, shards).job(job_id)
            assert slot(name(job_id)) == slot(record)


def test_one_shards_streams_share_a_slot_and_shards_spread_over_slots() -> None:
    ids = JobIds()
    name = job_streams(3)
    by_shard = [
        {slot(name(on_shard(ids.next(now_ms()), shard, 3))) for _ in range(20)}
        for shard in range(3)
    ]
    assert all(len(slots) == 1 for slots in by_shard)
    assert len(set.union(*by_shard)) == 3


def test_a_string_that_is_no_store_id_gets_the_plain_name() -> None:
    assert job_streams(4)("not-an-id") == job_stream("not-an-id")
