"""The stream hub driven directly on a real Redis, where a race needs the loop held still."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
from redis.asyncio import Redis

from jobservice.stream.hub import Delivery, Inbox, StreamHub
from jobservice.stream.redis_server import EmbeddedRedis

from .service import HANG
from .test_faults_stream import hub_reading

KEY = "stream"


@pytest.fixture
async def commands(own_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(own_redis.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def hub(own_redis: EmbeddedRedis, commands: Redis) -> AsyncIterator[StreamHub]:
    """A hub as the app builds it, whose XREAD blocks longer than any test waits."""
    reader = Redis.from_url(
        own_redis.url, decode_responses=True, socket_timeout=None, single_connection_client=True
    )
    hub = StreamHub(reader, commands, block_ms=600_000)
    hub.start()
    yield hub
    await hub.stop()
    await reader.aclose()


async def take(inbox: Inbox, count: int) -> list[Delivery | None]:
    async with asyncio.timeout(HANG):
        return [await inbox.get() for _ in range(count)]


async def ids_upto(inbox: Inbox, last: str) -> list[str]:
    """The ids delivered, up to and including `last`."""
    ids: list[str] = []
    async with asyncio.timeout(HANG):
        while not ids or ids[-1] != last:
            delivery = await inbox.get()
            assert delivery is not None
            ids.append(delivery.id)
    return ids


async def test_a_reply_for_a_stream_left_meanwhile_goes_only_to_watchers_it_fits(
    hub: StreamHub, commands: Redis, own_redis: EmbeddedRedis
) -> None:
    first = await commands.xadd(KEY, {"n": "1"})
    async with hub.follow(KEY, first):
        await hub_reading(commands)  # the reader waits for entries after `first`
    # Its only watcher has left; the reader still waits. An entry comes, and Redis answers
    # the reader, but this loop is held (a blocking client), so the hub has not seen the
    # answer when a new watcher asks for the stream from its start.
    with redis.Redis(unix_socket_path=str(own_redis.socket), decode_responses=True) as held:
        second = held.xadd(KEY, {"n": "2"})
    async with hub.follow(KEY, "0-0") as inbox:
        assert await ids_upto(inbox, second) == [first, second]


async def test_a_watcher_that_resumes_past_the_end_does_not_move_the_reader_past_it(
    hub: StreamHub, commands: Redis
) -> None:
    first = await commands.xadd(KEY, {"n": "1"})
    async with hub.follow(KEY, "18446744073709551615-0") as ahead:
        await hub_reading(commands)
        async with hub.follow(KEY, "0-0") as behind:
            second = await commands.xadd(KEY, {"n": "2"})
            assert await ids_upto(behind, second) == [first, second]
        # The one ahead is sent what comes after the stream's end (its relay skips ids
        # up to its own).
        assert await ids_upto(ahead, second) == [second]


@pytest.mark.parametrize("bad", ["99999999999999999999-0", "1-2-3", "$", "\u0661-0", " 1-0"])
async def test_the_hub_takes_only_ids_redis_takes(hub: StreamHub, bad: str) -> None:
    with pytest.raises(ValueError, match="not a stream id"):
        async with hub.follow(KEY, bad):
            pass


async def test_a_stream_redis_refuses_is_dropped_and_its_watchers_told(
    hub: StreamHub, commands: Redis
) -> None:
    await commands.set("not-a-stream", "x")
    good = await commands.xadd(KEY, {"n": "1"})
    async with hub.follow("not-a-stream", "0-0") as refused, hub.follow(KEY, "0-0") as fine:
        assert await take(refused, 1) == [None]
        assert await ids_upto(fine, good) == [good]
        later = await commands.xadd(KEY, {"n": "2"})
        assert await ids_upto(fine, later) == [later]
