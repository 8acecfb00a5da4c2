"""Request ids, access-log lines, LOG_FORMAT=json, and what start and stop say."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jobservice.ops.logs import redact

from .conftest import Client, create_job
from .service import HANG, post_job
from .sse import parse_stream
from .test_process import Service


async def test_a_request_id_is_generated_and_returned(client: Client) -> None:
    first, second = await client.get("/healthz"), await client.get("/healthz")
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)


async def test_an_incoming_request_id_is_passed_back_on_every_kind_of_response(
    client: Client,
) -> None:
    job = await create_job(client)
    for method, path in [
        ("GET", "/healthz"),
        ("GET", f"/job/{job['id']}"),
        ("GET", f"/job/{job['id']}/stream"),  # an SSE response, prepared in the view
        ("GET", "/job/nope"),  # a JSON error raised past the middleware
        ("GET", "/no/such/path"),
        ("DELETE", "/job"),
    ]:
        response = await client.request(method, path, headers={"X-Request-ID": "abc-123"})
        await response.read()
        assert response.headers["X-Request-ID"] == "abc-123", (method, path)


@pytest.mark.parametrize("bad", ["a" * 200, "with space", "new\\nline", "ünï"])
async def test_an_unsafe_incoming_request_id_is_replaced(client: Client, bad: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] != bad


def test_tokens_are_redacted_from_logged_paths() -> None:
    assert redact("/job/1/stream?token=s3cret") == "/job/1/stream?token=REDACTED"
    assert redact("/events?a=1&token=s3cret") == "/events?a=1&token=REDACTED"
    assert redact("/job/1?x=token") == "/job/1?x=token"


def json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


async def test_json_logs_parse_and_carry_the_request_id(tmp_path: Path) -> None:
    service = Service(tmp_path / "data", LOG_FORMAT="json", JOB_STEP_MS="0")
    await service.start()
    async with aiohttp.ClientSession() as session:
        headers = {"X-Request-ID": "req-42"}
        async with session.post(f"{service.url}/job", json={"data": 1}, headers=headers) as r:
            job = await r.json()
        async with session.get(f"{service.url}/job/{job['id']}/stream?token=s3cret") as r:
            stream_id = r.headers["X-Request-ID"]
            await parse_stream(r)
    assert await service.stop(signal.SIGTERM) == 0
    lines = json_lines(await service.output())  # every line parses, or this raises
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    posted = next(line for line in access if line["method"] == "POST")
    assert posted["request_id"] == "req-42" and "request_id=req-42" in posted["message"]
    assert posted["path"] == "/job" and posted["status"] == 201
    streamed = next(line for line in access if "/stream" in line["path"])
    assert streamed["request_id"] == stream_id
    assert "s3cret" not in json.dumps(lines)
    assert streamed["path"].endswith("?token=REDACTED")
    finished = [line for line in lines if "succeeded in" in line["message"]]
    assert finished and finished[0]["level"] == "INFO" and finished[0]["request_id"] is None


async def wait_for_status(session: aiohttp.ClientSession, url: str, status: str) -> None:
    async with asyncio.timeout(HANG):
        while True:
            async with session.get(url) as response:
                if (await response.json())["status"] == status:
                    return
            await asyncio.sleep(0.02)


async def test_start_and_stop_say_what_is_stored_queued_stopped_and_left(
    tmp_path: Path,
) -> None:
    service = Service(tmp_path / "data", JOB_STEP_MS="60000", STOP_GRACE_SECONDS="0.2")
    await service.start()
    async with aiohttp.ClientSession() as session:
        for body in ({"data": 1, "type": "noop"}, {"data": 2, "type": "noop"}):
            async with session.post(f"{service.url}/job", json=body) as response:
                done = await response.json()
        await wait_for_status(session, f"{service.url}/job/{done['id']}", "succeeded")
        delayed = {"data": 3, "delay_ms": 600_000}
        async with session.post(f"{service.url}/job", json=delayed) as response:
            assert response.status == 201
        running = await post_job(session, service.url, 4)  # a step takes a minute
        await wait_for_status(session, f"{service.url}/job/{running['id']}", "processing")
        async with session.get(f"{service.url}/events") as feed:
            assert feed.status == 200
            assert await service.stop(signal.SIGTERM) == 0
    first_run = await service.output()
    assert "jobs stored: 0; queued to run: 0; workers: 32" in first_run
    assert "stopping: ending 1 open event streams" in first_run
    assert (
        "workers stopped; jobs running: 1 (ended within the grace period: 0; cut off, to run "
        "again first on the next start: 1); jobs left queued for the next start: 1"
    ) in first_run
    assert f"saved to {service.env['DATA_DIR']}: 4 jobs" in first_run
    await service.start()
    assert await service.stop(signal.SIGTERM) == 0
    second_run = (await service.output())[len(first_run) :]
    assert f"loaded from {service.env['DATA_DIR']}: 4 jobs" in second_run
    assert "jobs stored: 4; queued to run: 2; workers: 32" in second_run
