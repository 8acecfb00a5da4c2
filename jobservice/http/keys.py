"""App keys: the typed names under which the app holds its shared objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    from ..core.registry import Registry
    from ..core.settings import Settings
    from ..ops.metrics import Metrics
    from ..service.retention import Retention
    from ..service.worker import Worker
    from ..store.backend import JobBackend
    from ..store.jobstore import JobStore
    from ..stream.eventlog import EventLog
    from ..stream.readers import Readers
    from .wire import OpenStreams

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
REDIS_URL: web.AppKey[str] = web.AppKey("redis_url")
# One Redis, or a Redis Cluster (found at REDIS_URL when the service starts).
REDIS: web.AppKey[Redis | RedisCluster] = web.AppKey("redis")
# What the stream hub blocks on: on one Redis a client with one connection and no read
# timeout, for its one XREAD BLOCK; on a cluster, ClusterReaders (a connection per slot).
STREAM_READERS: web.AppKey[Redis | Readers] = web.AppKey("stream_readers")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
# Where jobs live, as the worker and the views use it: the files store or the Redis store.
BACKEND: web.AppKey[JobBackend] = web.AppKey("backend")
# The files store's JobStore (with STORE=files only).
STORE: web.AppKey[JobStore] = web.AppKey("store")
EVENTS: web.AppKey[EventLog] = web.AppKey("events")
WORKER: web.AppKey[Worker] = web.AppKey("worker")
RETENTION: web.AppKey[Retention] = web.AppKey("retention")
OPEN_STREAMS: web.AppKey[OpenStreams] = web.AppKey("open_streams")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
