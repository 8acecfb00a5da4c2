"""Operations endpoints: /healthz (the process answers), /readyz (it can do its work) and
/metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress

import aiofiles
import aiofiles.os
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from redis.exceptions import RedisError

from ..core import codec
from .keys import BACKEND, METRICS, REDIS, SETTINGS, WORKER

# A readiness probe must answer before the orchestrator's own timeout (often 1-5 s).
CHECK_TIMEOUT = 2.0
OK = "ok"

Check = Callable[[web.Application], Awaitable[None]]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": OK}, dumps=codec.dumps_str)


async def readyz(request: web.Request) -> web.Response:
    checks = CHECKS if request.app[SETTINGS].keeps_files else NO_FILES
    results = {name: await _run(check, request.app) for name, check in checks.items()}
    failing = [name for name, result in results.items() if result != OK]
    if failing:
        body = {"error": f"not ready: {', '.join(failing)}", "checks": results}
        return web.json_response(body, status=503, dumps=codec.dumps_str)
    return web.json_response({"status": "ready", "checks": results}, dumps=codec.dumps_str)


async def metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    # Read here, not by the gauge: with the Redis store it is a call to Redis.
    with suppress(RedisError):
        metrics.queue_depth.set(await request.app[BACKEND].queue_length())
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


async def _run(check: Check, app: web.Application) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await check(app)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except (RedisError, OSError, RuntimeError) as exc:
        return str(exc) or type(exc).__name__
    return OK


async def check_redis(app: web.Application) -> None:
    await app[REDIS].ping()


async def check_data_dir(app: web.Application) -> None:
    """Write, sync and delete a small file: os.access alone misses a full or read-only disk."""
    probe = app[SETTINGS].data_dir / f".ready-{uuid.uuid4().hex}"
    try:
        async with aiofiles.open(probe, "wb") as file:
            await file.write(b"ready\n")
            await file.flush()
            await asyncio.to_thread(os.fsync, file.fileno())
    finally:
        await asyncio.to_thread(probe.unlink, missing_ok=True)


async def check_workers(app: web.Application) -> None:
    if not app[WORKER].alive:
        raise RuntimeError("worker tasks are not running")


CHECKS: dict[str, Check] = {
    "redis": check_redis,
    "data_dir": check_data_dir,
    "workers": check_workers,
}
# A process with no files of its own (the Redis store on a REDIS_URL).
NO_FILES = {name: check for name, check in CHECKS.items() if name != "data_dir"}
