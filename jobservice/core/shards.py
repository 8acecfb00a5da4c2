"""Shards of the Redis store: which shard a job id names, and each shard's cluster hash tag.

The Redis job store keeps everything about a job under its shard's tag, and the event log
puts the job's stream there too, so a job's record, queue entries and events share one
cluster slot. A job's shard is written into the last four hex digits of its id (the low
random bits of a UUIDv7), so the id alone finds it."""

from __future__ import annotations

import binascii
import itertools
from string import hexdigits

SLOTS = 16384
ID_LENGTH = 36
SHARD_DIGITS = 4


def key_slot(key: str) -> int:
    """The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the key."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key.encode(), 0) % SLOTS


def shard_tag(shard: int, shards: int) -> str:
    """A hash tag for the shard whose slot falls in the shard's own 1/shards of the slot
    space: a cluster with its slots split evenly over its masters gets the shards evenly."""
    for n in itertools.count():
        tag = f"q{shard}.{n}"
        if key_slot(tag) * shards // SLOTS == shard:
            return tag
    raise AssertionError("unreachable")


def shard_of(job_id: str, shards: int) -> int | None:
    """The shard a job id names; None if it is not an id the Redis store gave out."""
    tail = job_id[-SHARD_DIGITS:]
    if len(job_id) != ID_LENGTH or not all(c in hexdigits for c in tail):
        return None
    return int(tail, 16) % shards


def on_shard(job_id: str, shard: int, shards: int) -> str:
    """The id with its last random bits changed so that it names `shard`."""
    value = int(job_id[-SHARD_DIGITS:], 16)
    value = value - value % shards + shard
    if value >= 16**SHARD_DIGITS:
        value -= shards
    return f"{job_id[:-SHARD_DIGITS]}{value:0{SHARD_DIGITS}x}"
