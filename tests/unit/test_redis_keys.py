"""The Redis store's key names: slots as Redis computes them, shard tags spread over the
slot space, and ids that name their shard."""

from __future__ import annotations

from redis.crc import key_slot as redis_key_slot

from jobservice.core.models import JobIds, now_ms
from jobservice.core.shards import SLOTS, key_slot, on_shard, shard_of, shard_tag
from jobservice.store.redis_keys import ShardKeys


def test_slots_are_computed_as_redis_computes_them() -> None:
    for key in ["job", "jobs:{q1.0}:ready", "{}x", "a{b}c{d}", "{", "héllo", "x{}{y}"]:
        assert key_slot(key) == redis_key_slot(key.encode()), key


def test_each_shard_tag_lies_in_its_own_part_of_the_slot_space() -> None:
    for shards in (1, 3, 4, 16):
        parts = [key_slot(shard_tag(shard, shards)) * shards // SLOTS for shard in range(shards)]
        assert parts == list(range(shards))


def test_one_shards_keys_share_a_slot() -> None:
    keys = ShardKeys.of("jobs", 2, 4)
    names = [keys.ready, keys.delayed, keys.leases, keys.created, keys.ended]
    names += [keys.job("some-id"), keys.out("some-id"), keys.idem("a {key} with braces")]
    assert len({key_slot(name) for name in names}) == 1


def test_an_id_moved_to_a_shard_names_it_and_keeps_its_order() -> None:
    ids = JobIds()
    originals = [ids.next(now_ms()) for _ in range(50)]
    for shards in (1, 3, 7):
        for shard in range(shards):
            moved = [on_shard(job_id, shard, shards) for job_id in originals]
            assert all(shard_of(job_id, shards) == shard for job_id in moved)
            assert moved == sorted(moved)
            assert [m[:-4] for m in moved] == [o[:-4] for o in originals]


def test_strings_that_are_not_ids_name_no_shard() -> None:
    assert shard_of("short", 4) is None
    assert shard_of("0" * 32 + "zzzz", 4) is None
    assert shard_of("x" * 32 + "00ff", 4) == 0xFF % 4
