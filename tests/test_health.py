"""GET /healthz and GET /readyz: the process answers; Redis, the data dir and workers work."""

from __future__ import annotations

import shutil
from typing import Any

from jobservice.http.keys import SETTINGS, WORKER
from jobservice.stream.redis_server import EmbeddedRedis

from .conftest import Client, StartApp


async def ready(client: Client) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_healthz_answers_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_reports_each_check_when_all_pass(client: Client) -> None:
    status, body = await ready(client)
    assert status == 200
    assert body == {"status": "ready", "checks": {"redis": "ok", "data_dir": "ok", "workers": "ok"}}
    assert [p.name for p in client.app[SETTINGS].data_dir.iterdir() if ".ready" in p.name] == []


async def test_readyz_is_503_naming_redis_when_redis_is_down(
    start_app: StartApp, own_redis: EmbeddedRedis
) -> None:
    client = await start_app(redis_url=own_redis.url)
    assert (await ready(client))[0] == 200
    await own_redis.stop()
    status, body = await ready(client)
    assert status == 503
    assert body["error"] == "not ready: redis"
    assert body["checks"]["redis"] != "ok"
    assert body["checks"]["data_dir"] == body["checks"]["workers"] == "ok"
    health = await client.get("/healthz")
    assert health.status == 200, "liveness does not depend on Redis"


async def test_readyz_is_503_naming_the_data_dir_when_it_is_gone(
    start_app: StartApp, own_redis: EmbeddedRedis
) -> None:
    client = await start_app(redis_url=own_redis.url)
    data_dir = client.app[SETTINGS].data_dir
    shutil.rmtree(data_dir)
    status, body = await ready(client)
    assert status == 503
    assert body["error"] == "not ready: data_dir"
    assert "No such file" in body["checks"]["data_dir"]
    data_dir.mkdir()  # back again: ready, and the store can write its snapshot on stop
    assert (await ready(client))[0] == 200


async def test_readyz_is_503_naming_the_workers_once_they_stopped(client: Client) -> None:
    await client.app[WORKER].stop(0)
    status, body = await ready(client)
    assert status == 503
    assert body["error"] == "not ready: workers"
    assert body["checks"]["redis"] == "ok"
