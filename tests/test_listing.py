"""GET /jobs: newest first, filtered, paged with an opaque cursor, fast over 100,000 jobs."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from jobservice.core.settings import Settings

from .conftest import Client, StartApp, create_job, run_to_end

pytestmark = pytest.mark.stores


async def list_jobs(client: Client, **params: object) -> dict[str, Any]:
    response = await client.get("/jobs", params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def every_page(client: Client, **params: object) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = await list_jobs(client, **params, **({"cursor": cursor} if cursor else {}))
        jobs += body["jobs"]
        cursor = body["next_cursor"]
        if cursor is None:
            return jobs


async def test_pages_cover_every_job_once_newest_first(start_app: StartApp) -> None:
    client = await start_app(job_step_ms=60_000, worker_concurrency=1)
    created = [await create_job(client, n) for n in range(23)]
    first = await list_jobs(client, limit=10)
    assert [job["id"] for job in first["jobs"]] == [job["id"] for job in created[::-1][:10]]
    listed = await every_page(client, limit=10)
    assert [job["id"] for job in listed] == [job["id"] for job in created[::-1]]
    assert len(await every_page(client, limit=23)) == 23
    assert (await list_jobs(client, limit=23))["next_cursor"] is None


async def test_status_and_type_filters(client: Client) -> None:
    done = await client.post("/job", json={"data": 1, "type": "noop"})
    done_job = await done.json()
    await run_to_end(client, done_job["id"])
    demo = await create_job(client)
    await run_to_end(client, demo["id"])
    noops = await list_jobs(client, type="noop")
    assert [job["id"] for job in noops["jobs"]] == [done_job["id"]]
    succeeded = await every_page(client, status="succeeded", limit=1)
    assert [job["id"] for job in succeeded] == [demo["id"], done_job["id"]]
    assert (await list_jobs(client, status="failed"))["jobs"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=ten",
        "limit=-1",
        "status=done",
        "cursor=nonsense!",
        "cursor=Zm9v",
        "colour=blue",
    ],
)
async def test_bad_parameters_are_a_400(client: Client, query: str) -> None:
    response = await client.get(f"/jobs?{query}")
    assert response.status == 400
    assert query.partition("=")[0] in (await response.json())["error"]


def write_snapshot(data_dir: Path, count: int) -> None:
    start = 1_700_000_000_000
    jobs = {}
    for n in range(count):
        job_id = str(uuid.UUID(int=n))
        jobs[job_id] = {
            "id": job_id,
            "status": "succeeded" if n % 10 else "failed",
            "created": start + n,
            "updated": start + n,
            "data": n,
            "type": "demo",
        }
    data_dir.mkdir(parents=True)
    (data_dir / "jobs.json").write_text(json.dumps(jobs))


@pytest.mark.stores("files")
async def test_paging_stays_fast_with_100000_jobs(start_app: StartApp, settings: Settings) -> None:
    write_snapshot(settings.data_dir, 100_000)
    client = await start_app()
    cursor, seen, slowest = None, 0, 0.0
    while seen < 5_000:
        began = time.perf_counter()
        body = await list_jobs(client, limit=500, **({"cursor": cursor} if cursor else {}))
        slowest = max(slowest, time.perf_counter() - began)
        assert body["jobs"][0]["data"] == 99_999 - seen
        seen += len(body["jobs"])
        cursor = body["next_cursor"]
    failed = await list_jobs(client, status="failed", limit=20, cursor=cursor)
    assert [job["data"] for job in failed["jobs"]] == list(range(94_990, 94_790, -10))
    # A page reads its own jobs, not the 100,000: far below this bound even on a slow machine.
    assert slowest < 0.5
