"""Job types: the built-in demo and noop, a handler module named by JOB_HANDLERS, unknown types."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from jobservice.core.errors import StartupError
from jobservice.core.settings import Settings
from jobservice.http.app import create_app

from .conftest import Client, StartApp, run_to_end


async def post(client: Client, body: object) -> dict[str, object]:
    response = await client.post("/job", json=body)
    assert response.status == 201, await response.text()
    job: dict[str, object] = await response.json()
    return job


async def test_a_job_without_a_type_is_a_demo_job(client: Client) -> None:
    job = await post(client, {"data": 1})
    assert job["type"] == "demo"
    events = await run_to_end(client, str(job["id"]))
    assert [event["type"] for event in events].count("progress") == 5


async def test_a_noop_job_succeeds_at_once_without_steps(client: Client) -> None:
    job = await post(client, {"data": None, "type": "noop"})
    events = await run_to_end(client, str(job["id"]))
    assert [event["type"] for event in events] == ["initial", "started", "completed"]
    done = await (await client.get(f"/job/{job['id']}")).json()
    assert done["status"] == "succeeded" and done["type"] == "noop" and done["output"] == []


@pytest.mark.stores
async def test_a_step_that_is_not_json_fails_the_attempt_not_the_service(
    start_app: StartApp, store: str
) -> None:
    async def reports_a_set(job: Any, ctx: Any) -> None:
        await ctx.progress({"fine": 1})
        await ctx.progress({1, 2})

    client = await start_app(handler=reports_a_set)
    job = await post(client, {"data": 1})
    events = await run_to_end(client, str(job["id"]))
    assert [event["type"] for event in events] == ["initial", "started", "progress", "error"]
    response = await client.get(f"/job/{job['id']}")
    assert response.status == 200
    record = await response.json()
    assert record["status"] == "failed" and "set" in record["error"]
    assert [step["data"] for step in record["output"]] == [{"fine": 1}]


async def test_handlers_come_from_the_module_named_by_job_handlers(start_app: StartApp) -> None:
    client = await start_app(job_handlers="examples.handlers")
    job = await post(client, {"data": {"text": "hello there"}, "type": "shout"})
    events = await run_to_end(client, str(job["id"]))
    assert [event["data"] for event in events if event["type"] == "progress"] == [
        "HELLO",
        "THERE",
    ]
    done = await (await client.get(f"/job/{job['id']}")).json()
    assert [step["data"] for step in done["output"]] == ["HELLO", "THERE"]
    demo = await post(client, {"data": 1})
    assert (await run_to_end(client, str(demo["id"])))[-1]["type"] == "completed"


@pytest.mark.parametrize("name", ["mystery", "", 7, None, ["demo"]])
async def test_an_unknown_type_is_a_400_naming_the_known_ones(
    start_app: StartApp, name: object
) -> None:
    client = await start_app(job_handlers="examples.handlers")
    response = await client.post("/job", json={"data": 1, "type": name})
    assert response.status == 400
    message = (await response.json())["error"]
    assert "checksum, demo, noop, shout" in message


@pytest.mark.parametrize(
    ("module", "words"),
    [("no.such.module", "cannot import"), ("jobservice.core.codec", "HANDLERS")],
)
def test_a_bad_handler_module_stops_startup_naming_it(
    settings: Settings, module: str, words: str
) -> None:
    with pytest.raises(StartupError, match=words) as caught:
        create_app(replace(settings, job_handlers=module))
    assert "JOB_HANDLERS" in str(caught.value)
