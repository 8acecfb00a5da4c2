"""Fixtures: the real app on a real Redis (embedded, or REDIS_URL when set), files in tmp_path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from jobservice.core.settings import Settings
from jobservice.http.app import create_app
from jobservice.stream.redis_server import EmbeddedRedis, find_redis_server

from .redis_servers import cluster
from .service import Service
from .sse import read_events

Client = TestClient[Any, Any]
StartApp = Callable[..., Awaitable[Client]]

STORES = ("files", "redis")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `stores` runs once per job store (`stores("files")`: on that one only)."""
    marker = metafunc.definition.get_closest_marker("stores")
    if marker is not None and "store" in metafunc.fixturenames:
        metafunc.parametrize("store", marker.args or STORES, indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """The job store of the test's app: "files", or each store for a test marked `stores`."""
    kind: str = getattr(request, "param", "files")
    return kind


@pytest.fixture(autouse=True)
def kill_leftovers() -> Iterator[None]:
    """Services a failed test did not stop are killed, so they cannot outlive the run."""
    yield
    while Service.started:
        Service.started.pop().kill()


@pytest.fixture
def settings(tmp_path: Path, store: str) -> Settings:
    """Fast demo jobs, files under tmp_path; REDIS_URL from the environment if it is set
    (the Redis store always gets a Redis of its own, embedded: its jobs are the test's)."""
    shared_redis = os.environ.get("REDIS_URL") or None
    return Settings(
        data_dir=tmp_path / "data",
        redis_url=shared_redis if store == "files" else None,
        store=store,
        job_step_ms=5,
        sse_ping_seconds=1.0,
        stop_grace_seconds=0.5,
    )


@pytest.fixture
def start_app(aiohttp_client: Any, settings: Settings) -> StartApp:
    """Start the real app (startup and cleanup included); keyword arguments override settings."""

    async def start(handler: Any = None, **overrides: Any) -> Client:
        app = create_app(replace(settings, **overrides), handler)
        client: Client = await aiohttp_client(app)
        return client

    return start


@pytest.fixture
async def client(start_app: StartApp) -> Client:
    return await start_app()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    """A redis-server of the test's own, so the test can stop it under the running app."""
    server = EmbeddedRedis(tmp_path / "redis", find_redis_server(None))
    server.data_dir.mkdir()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """A 3-master Redis Cluster for the whole session (tests flush it): its ports."""
    with cluster(tmp_path_factory.mktemp("cluster")) as ports:
        yield ports


SAMPLE_DATA = {"your": "job data", "goes": "here"}


async def create_job(client: Client, data: Any = SAMPLE_DATA) -> dict[str, Any]:
    response = await client.post("/job", json={"data": data})
    assert response.status == 201, await response.text()
    job: dict[str, Any] = await response.json()
    return job


async def run_to_end(client: Client, job_id: str) -> list[dict[str, Any]]:
    """Watch the job's stream until it ends; return every event's JSON."""
    return [event.json for event in await read_events(client, job_id)]
