"""The app factory: each resource opened and closed in one cleanup_ctx entry, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from ..core.handlers import Handler
from ..core.models import Status
from ..core.registry import build_registry
from ..core.settings import Settings
from ..ops.metrics import Metrics
from ..service.retention import Retention
from ..service.worker import Worker
from ..store.files_backend import FilesBackend
from ..store.jobstore import JobStore
from ..store.lock import DataDirLock
from ..store.redis_backend import RedisBackend
from ..stream.eventlog import EventLog
from ..stream.hub import StreamHub
from ..stream.outbox import Outbox
from ..stream.readers import ClusterReaders, Readers
from ..stream.redis_server import EmbeddedRedis, find_redis_server
from .auth import require_token
from .cors import parse_origins, setup_cors
from .errors import json_errors
from .keys import (
    BACKEND,
    EVENTS,
    METRICS,
    OPEN_STREAMS,
    REDIS,
    REDIS_URL,
    REGISTRY,
    RETENTION,
    SETTINGS,
    STORE,
    STREAM_READERS,
    WORKER,
)
from .requestlog import AccessLogger, protocol_logger, request_ids, send_request_id
from .routes import setup_routes
from .security import security_headers
from .wire import OpenStreams

logger = logging.getLogger(__name__)

# Redis connections for commands (writes, reads, catch-ups); the stream hub has its own.
COMMANDS = 64
# On a cluster, per node. Its client cannot wait for a free connection (it fails instead),
# so it gets more: enough for every watcher of a large burst catching up at once.
CLUSTER_CONNECTIONS = 1024


def create_app(settings: Settings, handler: Handler | None = None) -> web.Application:
    """`handler`, if given, runs the default job type instead of the built-in demo."""
    # Given to aiohttp's connection handler, so the test server logs as run() does.
    handler_args = {"logger": protocol_logger(), "access_log_class": AccessLogger}
    app = web.Application(client_max_size=settings.max_body_bytes, handler_args=handler_args)
    app.middlewares.extend(middlewares(app, settings))
    app[SETTINGS] = settings
    app[REGISTRY] = build_registry(settings, handler)
    app[OPEN_STREAMS] = OpenStreams()
    app[METRICS] = Metrics()
    if settings.keeps_files:
        app.cleanup_ctx.append(data_dir_lock)
    app.cleanup_ctx.extend([
        embedded_redis,
        redis_clients,
        redis_store if settings.store == "redis" else files_store,
        event_log,
        worker,
        retention,
    ])  # fmt: skip
    app.on_response_prepare.extend([send_request_id, security_headers])
    app.on_shutdown.append(close_streams)
    setup_routes(app)
    return app


def middlewares(app: web.Application, settings: Settings) -> list[Middleware]:
    """Outermost first: request ids, JSON errors (so that an error in any middleware below is
    JSON too), CORS preflights, then auth."""
    chain: list[Middleware] = [request_ids, json_errors]
    if settings.cors_origins:
        chain.append(setup_cors(app, parse_origins(settings.cors_origins)))
    if settings.api_token:
        chain.append(require_token(settings.api_token))
    return chain


async def data_dir_lock(app: web.Application) -> AsyncIterator[None]:
    """First of all: a second service on the same files would stop this one's Redis and
    overwrite its snapshots. (The Redis store on a REDIS_URL keeps no files: processes that
    share it may share a working directory.)"""
    lock = DataDirLock(app[SETTINGS].data_dir)
    lock.acquire("jobservice serve", "Stop the other one, or give this one its own DATA_DIR.")
    yield
    lock.release()


async def embedded_redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.redis_url:
        app[REDIS_URL] = settings.redis_url
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedRedis(settings.data_dir, find_redis_server(settings.redis_server))
    await server.start()
    app[REDIS_URL] = server.url
    yield
    await server.stop()


async def redis_clients(app: web.Application) -> AsyncIterator[None]:
    url = app[REDIS_URL]
    if await is_cluster(url):
        cluster = RedisCluster.from_url(
            url, decode_responses=True, max_connections=CLUSTER_CONNECTIONS
        )
        await cluster.initialize()
        logger.info("Redis at %s is a cluster of %d nodes", url, len(cluster.get_nodes()))
        app[REDIS] = cluster
        readers: Readers = ClusterReaders(cluster)
        app[STREAM_READERS] = readers
        yield
        await cluster.aclose()
        return
    # Many watchers may catch up (XRANGE) at once: wait for a free connection, don't fail.
    pool = BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=COMMANDS)
    app[REDIS] = redis = Redis.from_pool(pool)
    # The stream hub's one XREAD BLOCK waits on purpose: no read timeout, one connection.
    app[STREAM_READERS] = reader = Redis.from_url(
        url, decode_responses=True, socket_timeout=None, single_connection_client=True
    )
    yield
    await reader.aclose()
    await redis.aclose()


async def is_cluster(url: str) -> bool:
    """Whether the Redis at `url` is a node of a Redis Cluster (INFO cluster says so)."""
    async with Redis.from_url(url, decode_responses=True) as probe:
        info: dict[str, Any] = await probe.info("cluster")
    return bool(info.get("cluster_enabled"))


async def files_store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = JobStore(settings.data_dir, settings.compact_every, observer=app[METRICS])
    await store.open()
    backend = FilesBackend(store)
    backend.open()
    app[STORE], app[BACKEND] = store, backend
    yield
    await store.close()


async def redis_store(app: web.Application) -> AsyncIterator[None]:
    """Jobs in the Redis at REDIS_URL (or the embedded one), shared with every process on it."""
    settings = app[SETTINGS]
    backend = RedisBackend(
        app[REDIS],
        shards=settings.redis_store_shards,
        strict_order=settings.redis_strict_order,
        replicas=settings.redis_wait_replicas,
    )
    await backend.open()
    app[BACKEND] = backend
    yield
    await backend.close()


async def event_log(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    outbox = Outbox(app[REDIS], settings.outbox_limit, observer=app[METRICS])
    outbox.start()
    hub = StreamHub(
        app[STREAM_READERS], app[REDIS], settings.stream_block_ms, observer=app[METRICS]
    )
    hub.start()
    app[METRICS].watch(outbox_pending=outbox.__len__)
    app[EVENTS] = EventLog(
        app[REDIS],
        hub,
        outbox,
        maxlen=settings.stream_maxlen,
        feed_maxlen=settings.feed_maxlen,
        ttl_seconds=settings.stream_ttl_seconds,
        observer=app[METRICS],
        shards=settings.redis_store_shards if settings.store == "redis" else None,
        shared_feed=settings.store == "redis",
    )
    yield
    await hub.stop()
    await outbox.stop(grace=settings.shutdown_timeout / 2)


async def worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[WORKER] = Worker(app[BACKEND], app[EVENTS], app[REGISTRY], settings, app[METRICS])
    await app[WORKER].start()
    watch_gauges(app)
    queued, workers = await app[BACKEND].queue_length(), max(1, settings.worker_concurrency)
    if STORE in app:
        logger.info("jobs stored: %d; queued to run: %d; workers: %d",
                    len(app[STORE]), queued, workers)  # fmt: skip
    else:
        logger.info("Redis store: jobs queued to run (by every process): %d; workers here: %d",
                    queued, workers)  # fmt: skip
    yield
    running = app[WORKER].running
    cut_off = await app[WORKER].stop(settings.stop_grace_seconds)
    if STORE in app:
        log_left(app[STORE], running)
    else:
        logger.info(
            "workers stopped; jobs running: %d (ended within the grace period: %d; cut off, "
            "given back to the queue: %d)", running, running - cut_off, cut_off,
        )  # fmt: skip


def log_left(store: JobStore, running: int) -> None:
    """What the stop did to running jobs, and what waits for the next start."""
    cut_off = sum(1 for _ in store.with_status(Status.PROCESSING))
    pending = sum(1 for _ in store.with_status(Status.PENDING))
    logger.info(
        "workers stopped; jobs running: %d (ended within the grace period: %d; cut off, to run "
        "again first on the next start: %d); jobs left queued for the next start: %d",
        running, running - cut_off, cut_off, pending,
    )  # fmt: skip


async def retention(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[RETENTION] = Retention(app[BACKEND], app[EVENTS], settings.retention_seconds)
    stop = asyncio.Event()
    sweeping = asyncio.create_task(
        app[RETENTION].run(settings.retention_sweep_seconds, stop), name="retention"
    )
    yield
    stop.set()
    # A sweep waiting for room in the outbox (Redis away, events piling up) must not hold
    # up the stop. The jobs it removed are gone from disk; streams it had not yet deleted
    # expire by their time to live.
    finished, _ = await asyncio.wait({sweeping}, timeout=settings.shutdown_timeout)
    if not finished:
        sweeping.cancel()
    await asyncio.gather(sweeping, return_exceptions=True)


def watch_gauges(app: web.Application) -> None:
    worker, streams = app[WORKER], app[OPEN_STREAMS]
    # queue_depth is read by the metrics view (with the Redis store it asks Redis).
    app[METRICS].watch(
        jobs_in_progress=lambda: worker.running,
        sse_open=streams.__len__,
    )


async def close_streams(app: web.Application) -> None:
    if count := len(app[OPEN_STREAMS]):
        logger.info("stopping: ending %d open event streams", count)
    app[OPEN_STREAMS].close_all()
