"""Intake under concurrency and faults: QUEUE_LIMIT holds against a burst of POSTs, and an
Idempotency-Key never acknowledges a job that is not on disk.

The service's file writes run in the event loop's thread pool (aiofiles, to_thread). Keeping
that pool busy holds every write back, as a slow disk would, so that requests are sure to meet
while one is still being stored.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jobservice.http.keys import BACKEND, SETTINGS, STORE

from .conftest import Client, StartApp, create_job
from .test_cancel import Gate
from .test_disk_full import fill, small_disk  # noqa: F401 (a fixture)

# More than the thread pool's largest size (32), so every one of its threads is taken.
POOL_HOLDERS = 64
# How long requests get to reach the service while writes are held (a bound, not a target).
MEET = 2.0
KEY = {"Idempotency-Key": "order-17"}


@asynccontextmanager
async def disk_writes_held() -> AsyncIterator[None]:
    release = threading.Event()
    loop = asyncio.get_running_loop()
    holders = [loop.run_in_executor(None, release.wait) for _ in range(POOL_HOLDERS)]
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*holders)


def journaled(client: Client) -> str:
    data_dir: Path = client.app[SETTINGS].data_dir
    return "".join(path.read_text() for path in sorted(data_dir.glob("journal-*.jsonl")))


async def test_a_burst_of_posts_never_overfills_the_queue(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate, worker_concurrency=1, queue_limit=10)
    running = await create_job(client, "running")
    await gate.started.wait()
    async with disk_writes_held():
        posts = [asyncio.ensure_future(client.post("/job", json={"data": n})) for n in range(60)]
        # The 429s need no disk: they come back while the accepted jobs are still being written.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MEET * 5
        while sum(post.done() for post in posts) < 50 and loop.time() < deadline:
            await asyncio.sleep(0.01)
    statuses = Counter(response.status for response in await asyncio.gather(*posts))
    assert statuses == {201: 10, 429: 50}
    assert len(client.app[BACKEND].queue) == 10
    assert len(client.app[STORE]) == 11
    refused = await client.post("/job", json={"data": "still full"})
    assert refused.status == 429
    gate.open.set()
    assert (await client.get(f"/job/{running['id']}")).status == 200


async def test_duplicates_are_answered_only_once_the_first_is_on_disk(
    start_app: StartApp,
) -> None:
    client = await start_app()

    async def post() -> tuple[int, str, bool]:
        response = await client.post("/job", json={"data": 1}, headers=KEY)
        job: dict[str, Any] = await response.json()
        return response.status, job["id"], job["id"] in journaled(client)

    async with disk_writes_held():
        posts = [asyncio.ensure_future(post()) for _ in range(20)]
        await asyncio.wait(posts, timeout=MEET)
    answers = await asyncio.gather(*posts)
    assert Counter(status for status, _, _ in answers) == {201: 1, 200: 19}
    assert len({job_id for _, job_id, _ in answers}) == 1
    assert all(on_disk for _, _, on_disk in answers), "acknowledged before it was on disk"
    assert len(client.app[STORE]) == 1


async def test_with_a_full_disk_duplicates_share_the_503(
    small_disk: Path,  # noqa: F811 (the fixture)
    start_app: StartApp,
) -> None:
    client = await start_app(data_dir=small_disk / "data")
    filler = fill(small_disk)
    # The journal's last page may still have room: jobs are accepted until it is full.
    for attempt in range(1000):
        response = await client.post("/job", json={"data": f"filling {attempt}"})
        if response.status != 201:
            break
    assert response.status == 503
    stored = len(client.app[STORE])

    async with disk_writes_held():
        posts = [asyncio.ensure_future(client.post("/job", json={"data": 1}, headers=KEY))
                 for _ in range(8)]  # fmt: skip
        await asyncio.wait(posts, timeout=MEET)
    for response in await asyncio.gather(*posts):
        assert response.status == 503, await response.text()
        assert "could not be stored" in (await response.json())["error"]
    assert len(client.app[STORE]) == stored
    assert client.app[STORE].by_idempotency_key(KEY["Idempotency-Key"]) is None

    filler.unlink()
    response = await client.post("/job", json={"data": 1}, headers=KEY)
    assert response.status == 201, "the key was never taken by the refused job"
    job = await response.json()
    assert (await client.get(f"/job/{job['id']}")).status == 200
