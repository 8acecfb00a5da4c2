"""Where the stream hub's blocking reads go: which streams share one XREAD, and on what
connection it blocks.

On one Redis, every stream is read by one XREAD on one connection. A Redis Cluster refuses
an XREAD of streams on different slots (CROSSSLOT), so there the hub reads each slot with
an XREAD of its own, on a connection of its own to the node that holds the slot: opened
with the cluster client's settings for that node (address, credentials, TLS) but with no
read timeout, since it blocks on purpose."""

from __future__ import annotations

from typing import Any, Protocol

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import SlotNotCoveredError


class Readers(Protocol):
    # Groups read from the hub's start to its stop, watched or not; others end when idle.
    standing: tuple[int, ...]

    def group(self, key: str) -> int:
        """The streams of one group are read by one XREAD."""

    async def connect(self, key: str) -> Redis:
        """A single-connection client with no read timeout that reads the key's group."""

    async def unblock(self, reader: Redis, client_id: int) -> bool:
        """Interrupt the reader's blocked call; its connection's id is `client_id`."""

    async def release(self, reader: Redis) -> None:
        """Done with a reader (it failed, or its group has no streams left)."""

    async def close(self) -> None:
        """Release every reader still open."""


class OneRedis:
    """One Redis: one group, read on the single-connection client given (its owner closes
    it) and interrupted through the commands client."""

    standing: tuple[int, ...] = (0,)

    def __init__(self, reader: Redis, redis: Redis | RedisCluster) -> None:
        self._reader = reader
        self._redis = redis

    def group(self, key: str) -> int:
        return 0

    async def connect(self, key: str) -> Redis:
        return self._reader

    async def unblock(self, reader: Redis, client_id: int) -> bool:
        return bool(await self._redis.client_unblock(client_id))

    async def release(self, reader: Redis) -> None:
        pass  # the same client serves the next read: redis-py reconnects it

    async def close(self) -> None:
        pass


class ClusterReaders:
    """A Redis Cluster: a group per slot, each read on its own connection to the slot's
    node; a reader that fails is released, and the next one goes where the cluster client
    then places the slot (it follows MOVED replies and refreshes its map of slots)."""

    standing: tuple[int, ...] = ()

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        # Each open reader's node: CLIENT UNBLOCK must reach the node its id belongs to.
        self._nodes: dict[Redis, ClusterNode] = {}

    def group(self, key: str) -> int:
        return self._cluster.keyslot(key)

    async def connect(self, key: str) -> Redis:
        await self._cluster.initialize()
        node = self._cluster.get_node_from_key(key)
        if node is None:  # only asked of replicas; kept for the type
            raise SlotNotCoveredError(f"no node holds {key!r}")
        options: dict[str, Any] = {**node.connection_kwargs, "socket_timeout": None}
        pool = ConnectionPool(connection_class=node.connection_class, **options)
        reader = Redis(connection_pool=pool, single_connection_client=True)
        self._nodes[reader] = node
        return reader

    async def unblock(self, reader: Redis, client_id: int) -> bool:
        node = self._nodes.get(reader)
        if node is None:
            return False
        return bool(await self._cluster.client_unblock(client_id, target_nodes=node))

    async def release(self, reader: Redis) -> None:
        await reader.aclose(close_connection_pool=True)
        # Forgotten only once closed: a release cut short is finished by close().
        self._nodes.pop(reader, None)

    async def close(self) -> None:
        for reader in list(self._nodes):
            await self.release(reader)
