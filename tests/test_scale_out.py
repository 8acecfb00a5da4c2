"""`serve --processes N`: real processes on one port over one embedded Redis; one killed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as sync_redis

from .service import HANG, RedisProcess, Service, post_job
from .sse import parse_stream

pytestmark = pytest.mark.slow

PROCESSES = 3
SERVE = (sys.executable, "-m", "jobservice", "serve", "--processes", str(PROCESSES))
PROCESS_INFO = re.compile(r'jobservice_process_info\{[^}]*pid="(\d+)"')
IN_PROGRESS = re.compile(r"^jobservice_jobs_in_progress (\S+)$", re.MULTILINE)


def scaled(tmp_path: Path, **env: str) -> Service:
    return Service(tmp_path / "data", *SERVE, JOB_LEASE_SECONDS="2", **env)


def fresh() -> aiohttp.ClientSession:
    """A connection per request, so the kernel spreads requests over the processes."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def who_answers(session: aiohttp.ClientSession, url: str) -> tuple[int, float]:
    """The pid of the process that answered /metrics, and how many jobs it runs."""
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    pid = PROCESS_INFO.search(text)
    running = IN_PROGRESS.search(text)
    assert pid is not None and running is not None, text
    return int(pid.group(1)), float(running.group(1))


async def all_processes(session: aiohttp.ClientSession, url: str) -> set[int]:
    """Ask until every process has answered once (each binds the port itself)."""
    seen: set[int] = set()
    async with asyncio.timeout(HANG):
        while len(seen) < PROCESSES:
            seen.add((await who_answers(session, url))[0])
    return seen


async def events_of(session: aiohttp.ClientSession, url: str, job_id: str) -> list[str]:
    async with session.get(f"{url}/job/{job_id}/stream") as response:
        return [event.json["type"] for event in await parse_stream(response)]


async def create(session: aiohttp.ClientSession, url: str, count: int) -> list[str]:
    async def one(number: int) -> str:
        async with session.post(f"{url}/job", json={"data": {"n": number}}) as response:
            assert response.status == 201, await response.text()
            return str((await response.json())["id"])

    return list(await asyncio.gather(*(one(number) for number in range(count))))


async def wait_until_succeeded(session: aiohttp.ClientSession, url: str, ids: list[str]) -> None:
    async with asyncio.timeout(HANG * 2):
        for job_id in ids:
            while True:
                async with session.get(f"{url}/job/{job_id}") as response:
                    assert response.status == 200, f"acknowledged job {job_id} is missing"
                    if (await response.json())["status"] == "succeeded":
                        break
                await asyncio.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


async def test_processes_share_one_port_and_one_state(tmp_path: Path) -> None:
    service = scaled(tmp_path, JOB_STEP_MS="20")
    await service.start()
    async with fresh() as session:
        pids = await all_processes(session, service.url)
        ids = await create(session, service.url, 30)
        await wait_until_succeeded(session, service.url, ids)
        for job_id in ids:  # each read and stream served by whichever process takes it
            assert await events_of(session, service.url, job_id) == [
                "initial",
                "started",
                *["progress"] * 5,
                "completed",
            ]
        async with session.get(f"{service.url}/jobs?limit=500") as response:
            assert {job["id"] for job in (await response.json())["jobs"]} == set(ids)
    assert await service.stop() == 0
    assert not any(alive(pid) for pid in pids), "a child outlived the stop"
    assert "starting 3 processes" in await service.output()


async def test_a_process_killed_while_running_jobs_loses_none_of_them(tmp_path: Path) -> None:
    service = scaled(tmp_path, JOB_STEP_MS="300")
    await service.start()
    async with fresh() as session:
        before = await all_processes(session, service.url)
        ids = await create(session, service.url, 60)
        async with asyncio.timeout(HANG):
            while True:  # a process that is running jobs, to kill
                pid, running = await who_answers(session, service.url)
                if running > 0:
                    break
        os.kill(pid, signal.SIGKILL)
        await wait_until_succeeded(session, service.url, ids)
        histories = [await events_of(session, service.url, job_id) for job_id in ids]
        assert all(history.count("completed") == 1 for history in histories)
        assert all(history[-1] == "completed" for history in histories)
        assert any("restarted" in history for history in histories), "none was rerun"
        after = await all_processes(session, service.url)  # the killed one was replaced
    assert pid in before and pid not in after and len(after) == PROCESSES
    assert await service.stop() == 0
    assert "exited with -9; starting it again" in await service.output()


async def test_processes_that_cannot_start_are_given_up_on(tmp_path: Path) -> None:
    service = scaled(tmp_path)
    with socket.socket() as taken:  # bound without SO_REUSEPORT: no child can share it
        taken.bind(("127.0.0.1", service.port))
        taken.listen()
        with service.log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *SERVE, env=service.env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        assert await asyncio.wait_for(process.wait(), HANG * 2) == 1
    assert "failed to start 3 times; stopping" in await service.output()


@pytest.mark.parametrize(("env", "says"), [({"STORE": "files"}, "STORE=redis"),
                                           ({"PORT": "0"}, "PORT=0")])  # fmt: skip
async def test_settings_that_cannot_scale_are_refused(
    tmp_path: Path, env: dict[str, Any], says: str
) -> None:
    service = scaled(tmp_path, **env)
    with service.log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *SERVE, env=service.env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    assert await asyncio.wait_for(process.wait(), HANG) == 1
    assert says in await service.output()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_process_paused_past_its_lease_cannot_overwrite_the_outcome(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    redis = RedisProcess(tmp_path / "redis")
    if kind == "cluster":
        url, shards = f"redis://127.0.0.1:{flushed_cluster(request)[0]}", "3"
    else:
        await redis.start()
        url, shards = redis.url, "1"
    shared = {"STORE": "redis", "REDIS_URL": url, "REDIS_STORE_SHARDS": shards,
              "JOB_LEASE_SECONDS": "1", "JOB_STEP_MS": "400"}  # fmt: skip
    paused, other = Service(tmp_path / "a", **shared), Service(tmp_path / "b", **shared)
    await paused.start()
    async with aiohttp.ClientSession() as session:
        job_id = (await post_job(session, paused.url))["id"]
        async with asyncio.timeout(HANG):
            while (await (await session.get(f"{paused.url}/job/{job_id}")).json())[
                "status"
            ] != "processing":
                await asyncio.sleep(0.02)
        assert paused.process is not None
        os.killpg(paused.process.pid, signal.SIGSTOP)
        await other.start()  # takes the job once the paused one's lease lapses
        await wait_until_succeeded(session, other.url, [job_id])
        os.killpg(paused.process.pid, signal.SIGCONT)
        async with asyncio.timeout(HANG):
            while "lease is lost" not in (log := await paused.output()) and (
                "lease was lost" not in log
            ):
                await asyncio.sleep(0.05)
        for service in (paused, other):
            record = await (await session.get(f"{service.url}/job/{job_id}")).json()
            assert record["status"] == "succeeded" and record["attempts"] == 2
            history = await events_of(session, service.url, job_id)
            assert history.count("completed") == 1 and history[-1] == "completed"
            assert history.count("restarted") == 1
    assert await other.stop() == 0 and await paused.stop() == 0
    await redis.stop()


def flushed_cluster(request: pytest.FixtureRequest) -> list[int]:
    """The session's 3-master cluster, emptied for this test: its ports."""
    ports: list[int] = request.getfixturevalue("redis_cluster")
    for port in ports:
        with sync_redis.Redis(port=port) as node:
            node.flushall()
    return ports


async def test_processes_on_a_redis_cluster_share_jobs_and_survive_a_kill(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"redis://127.0.0.1:{flushed_cluster(request)[0]}"
    shared = {"STORE": "redis", "REDIS_URL": url, "REDIS_STORE_SHARDS": "3",
              "JOB_LEASE_SECONDS": "2", "JOB_STEP_MS": "200"}  # fmt: skip
    killed, other = Service(tmp_path / "a", **shared), Service(tmp_path / "b", **shared)
    await killed.start()
    async with aiohttp.ClientSession() as session:
        ids = await create(session, killed.url, 30)
        async with asyncio.timeout(HANG):  # the killed one holds running jobs
            while (await who_answers(session, killed.url))[1] == 0:
                await asyncio.sleep(0.02)
        await killed.stop(signal.SIGKILL)
        await other.start()  # takes the killed one's jobs once their leases lapse
        assert "is a cluster of 3 nodes" in await other.output()
        await wait_until_succeeded(session, other.url, ids)
        histories = [await events_of(session, other.url, job_id) for job_id in ids]
        assert all(history.count("completed") == 1 for history in histories)
        assert all(history[-1] == "completed" for history in histories)
        assert any("restarted" in history for history in histories)
        async with session.get(f"{other.url}/jobs?limit=500") as response:
            assert {job["id"] for job in (await response.json())["jobs"]} == set(ids)
    assert await other.stop() == 0
