"""The service as users run it: a real process, signals, kill -9, the console script."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .service import HANG, Service, post_job
from .sse import parse_stream

pytestmark = pytest.mark.slow


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HANG)) as session:
        yield session


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    service = Service(tmp_path / "data")
    await service.start()
    yield service
    await service.stop(signal.SIGKILL)


async def test_sigterm_ends_streams_and_exits_0_without_a_traceback(
    service: Service, session: aiohttp.ClientSession
) -> None:
    job = await post_job(session, service.url, {"n": 1})
    async with session.get(f"{service.url}/job/{job['id']}/stream") as response:
        await response.content.readline()
        assert await service.stop(signal.SIGTERM) == 0
        events = await parse_stream(response)
    log = await service.output()
    assert "Traceback" not in log
    assert "completed" not in [event.json["type"] for event in events]
    assert Path(service.env["DATA_DIR"], "jobs.json").exists()


async def test_kill_9_mid_job_then_restart_reruns_it_to_the_end(
    service: Service, session: aiohttp.ClientSession
) -> None:
    job = await post_job(session, service.url, {"n": 1})
    async with session.get(f"{service.url}/job/{job['id']}/stream") as response:
        async for line in response.content:  # the first step: "processing" is on disk
            if b'"type":"progress"' in line:
                break
    await service.stop(signal.SIGKILL)
    await service.start()
    async with session.get(f"{service.url}/job/{job['id']}/stream") as response:
        kinds = [event.json["type"] for event in await parse_stream(response)]
    assert "restarted" in kinds and kinds[-1] == "completed"
    assert kinds[kinds.index("restarted") + 1 :] == ["started"] + ["progress"] * 5 + ["completed"]
    async with session.get(f"{service.url}/job/{job['id']}") as response:
        done = await response.json()
    assert done["status"] == "succeeded" and done["attempts"] == 2


async def test_a_corrupt_snapshot_stops_startup_with_a_message(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "jobs.json").write_text("{oops")
    service = Service(data_dir)
    with pytest.raises(AssertionError, match=r"jobs\.json"):
        await service.start()
    assert await service.stop() == 1
    log = await service.output()
    assert "cannot start" in log and "Traceback" not in log
    assert (data_dir / "jobs.json").read_text() == "{oops"


async def test_a_bad_setting_exits_with_one_line_naming_it(tmp_path: Path) -> None:
    service = Service(tmp_path / "data", PORT="eighty")
    service.env["PORT"] = "eighty"
    with pytest.raises(AssertionError, match="PORT must be a number"):
        await service.start()
    assert await service.stop() == 1


async def serves_a_job_then_stops(service: Service, session: aiohttp.ClientSession) -> None:
    """Start the service, run one job to its end over SSE, stop it: exit status 0."""
    await service.start()
    try:
        job = await post_job(session, service.url, {"n": 1})
        async with session.get(f"{service.url}/job/{job['id']}/stream") as response:
            assert (await parse_stream(response))[-1].json["type"] == "completed"
    finally:
        assert await service.stop() == 0


async def test_the_console_script_serves(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    script = Path(sys.executable).parent / "jobservice"
    service = Service(tmp_path / "data", str(script), "serve", JOB_STEP_MS="0")
    await serves_a_job_then_stops(service, session)


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
async def test_the_event_loop_is_chosen_by_event_loop(
    tmp_path: Path, session: aiohttp.ClientSession, choice: str
) -> None:
    service = Service(tmp_path / "data", EVENT_LOOP=choice, JOB_STEP_MS="0")
    await serves_a_job_then_stops(service, session)
    assert ("event loop: uvloop" in await service.output()) == (choice == "uvloop")
