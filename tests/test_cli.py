"""The `jobservice` console script as users run it: a subprocess against a live server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from jobservice.http.errors import json_errors

from .conftest import Client, StartApp, create_job, run_to_end
from .test_process import HANG
from .test_stream import Gate

SCRIPT = Path(sys.executable).parent / "jobservice"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


async def cli(client: Client, *args: str, stdin: str = "", **env: str) -> Result:
    environ = {name: value for name, value in os.environ.items() if name != "API_TOKEN"}
    environ.update(JOBSERVICE_URL=str(client.make_url("")), **env)
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args,
        env=environ,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), HANG)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_submit_then_get(client: Client) -> None:
    submitted = await cli(client, "submit", '{"your": "job data"}')
    assert submitted.code == 0, submitted.err
    job = submitted.json
    assert job["status"] == "pending" and job["data"] == {"your": "job data"}
    got = await cli(client, "get", job["id"])
    assert got.code == 0 and got.json["id"] == job["id"]


async def test_submit_reads_a_file_or_stdin(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("[1, 2, 3]")
    assert (await cli(client, "submit", "-f", str(path))).json["data"] == [1, 2, 3]
    assert (await cli(client, "submit", stdin='{"n": 1}')).json["data"] == {"n": 1}
    assert (await cli(client, "submit", "-f", "-", stdin="plain text")).json["data"] == (
        "plain text"
    )


async def test_submit_watch_follows_the_job_and_exits_0(client: Client) -> None:
    result = await cli(client, "submit", "--watch", "--type", "demo", '"hello"')
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].endswith(": pending") or lines[0].endswith(": processing")
    assert lines[1] == "started: Job processing started"
    assert [line.split(" (")[0] for line in lines[2:7]] == [f"step {n}/5" for n in range(1, 6)]
    assert lines[-1] == "completed: Job processing completed"


async def test_watch_prints_plain_lines_and_exits_0_when_completed(client: Client) -> None:
    job = await create_job(client)
    result = await cli(client, "watch", job["id"])
    assert result.code == 0
    assert "\r" not in result.out and "\x1b" not in result.out
    assert result.out.splitlines()[-1] == "completed: Job processing completed"


async def test_watch_follows_a_running_job_live(start_app: StartApp) -> None:
    gate = Gate()
    client = await start_app(handler=gate)
    job = await create_job(client)
    await gate.started.wait()
    watching = asyncio.create_task(cli(client, "watch", job["id"]))
    await asyncio.sleep(0.5)
    assert not watching.done()
    gate.open.set()
    result = await watching
    assert result.code == 0 and "after the gate" in result.out


async def test_watch_exits_1_when_the_job_fails(start_app: StartApp) -> None:
    async def broken(job: object, ctx: Any) -> None:
        raise RuntimeError("disk on fire")

    client = await start_app(handler=broken)
    result = await cli(client, "submit", "--watch", "1")
    assert result.code == 1
    assert result.out.splitlines()[-1] == "error: disk on fire"


async def test_errors_are_one_line_on_stderr_with_exit_2(client: Client) -> None:
    missing = await cli(client, "get", "nope")
    assert missing.code == 2 and missing.out == ""
    assert missing.err.strip() == "jobservice: get: HTTP 404: Job not found"
    assert (await cli(client, "watch", "nope")).code == 2
    unreachable = await cli(client, "--url", "http://127.0.0.1:9", "get", "x")
    assert unreachable.code == 2 and "cannot reach" in unreachable.err


async def test_a_reader_that_leaves_ends_the_output_quietly(client: Client) -> None:
    job = await create_job(client)
    reader, writer = os.pipe()
    os.close(reader)  # like `| head -1` once it has its line: every write now fails
    environ = {**os.environ, "JOBSERVICE_URL": str(client.make_url(""))}
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), "get", job["id"], env=environ, stdout=writer,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(writer)
    _, err = await asyncio.wait_for(process.communicate(), HANG)
    assert process.returncode == 141
    assert err == b""


async def test_list_prints_json_lines_newest_first_off_a_terminal(client: Client) -> None:
    first, second = await create_job(client), await create_job(client)
    listed = await cli(client, "list")
    assert listed.code == 0, listed.err
    assert [json.loads(line)["id"] for line in listed.out.splitlines()] == [
        second["id"],
        first["id"],
    ]
    assert listed.err == ""  # one page held them all


async def test_list_filters_and_follows_cursors(client: Client) -> None:
    demo = [await create_job(client) for _ in range(3)]
    noop = (await cli(client, "submit", "--type", "noop", "1")).json
    await run_to_end(client, noop["id"])
    newest_first = [job["id"] for job in reversed(demo)]

    def ids(result: Result) -> list[str]:
        assert result.code == 0, result.err
        return [json.loads(line)["id"] for line in result.out.splitlines()]

    first_page = await cli(client, "list", "--type", "demo", "--limit", "2")
    assert ids(first_page) == newest_first[:2]
    assert "more jobs: --cursor " in first_page.err and "--all" in first_page.err
    cursor = first_page.err.split("--cursor ")[1].split(",")[0]
    assert ids(await cli(client, "list", "--type", "demo", "--cursor", cursor)) == newest_first[2:]
    every = await cli(client, "list", "--type", "demo", "--limit", "1", "--all")
    assert ids(every) == newest_first and every.err == ""
    assert ids(await cli(client, "list", "--status", "succeeded", "--type", "noop")) == [noop["id"]]
    bad = await cli(client, "list", "--limit", "0")
    assert bad.code == 2 and '"limit" must be an integer from 1 to 500' in bad.err
    wrong = await cli(client, "list", "--status", "nope")
    assert wrong.code == 2 and "invalid choice: 'nope'" in wrong.err


async def test_submit_sends_every_option(start_app: StartApp) -> None:
    client = await start_app(job_step_ms=60_000)
    result = await cli(
        client, "submit", "--type", "noop", "--priority", "7", "--delay", "30",
        "--max-attempts", "3", "--timeout", "2.5", "--idempotency-key", "k-1", '{"n": 1}',
    )  # fmt: skip
    assert result.code == 0, result.err
    job = result.json
    assert (job["type"], job["priority"], job["max_attempts"], job["timeout"]) == (
        "noop", 7, 3, 2.5,
    )  # fmt: skip
    assert 29_000 <= job["run_at"] - job["created"] <= 30_000
    assert job["idempotency_key"] == "k-1" and job["data"] == {"n": 1}
    again = await cli(client, "submit", "--idempotency-key", "k-1", '{"n": 2}')
    assert again.code == 0 and again.json["id"] == job["id"]
    both = await cli(client, "submit", "--count", "2", "--idempotency-key", "k-2", "1")
    assert both.code == 2 and "cannot go with --count" in both.err


async def test_submit_count_creates_that_many_jobs(client: Client) -> None:
    result = await cli(client, "submit", "--count", "3", "--type", "noop", "null")
    assert result.code == 0, result.err
    jobs = [json.loads(line) for line in result.out.splitlines()]
    assert len({job["id"] for job in jobs}) == 3 and {job["type"] for job in jobs} == {"noop"}


async def test_watch_follows_several_jobs_with_a_line_each_event(start_app: StartApp) -> None:
    async def broken(job: object, ctx: Any) -> None:
        raise RuntimeError("disk on fire")

    client = await start_app(handler=broken)
    failing = (await cli(client, "submit", "1")).json
    fine = (await cli(client, "submit", "--type", "noop", "1")).json
    result = await cli(client, "watch", fine["id"], failing["id"])
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert f"{fine['id']} completed: Job processing completed" in lines
    assert f"{failing['id']} error: disk on fire" in lines
    assert all(line.startswith((fine["id"], failing["id"])) for line in lines)
    missing = await cli(client, "watch", fine["id"], "nope")
    assert missing.code == 2
    assert missing.err.strip() == "jobservice: watch nope: HTTP 404: Job not found"
    assert f"{fine['id']} completed: Job processing completed" in missing.out.splitlines()
    twice = await cli(client, "watch", fine["id"], fine["id"])  # followed once
    assert twice.code == 0 and twice.out.count("completed: Job processing completed") == 1


async def test_submit_count_watch_follows_every_job(client: Client) -> None:
    result = await cli(client, "submit", "--count", "3", "--watch", '"x"')
    assert result.code == 0, result.err
    ids = result.err.split()
    assert len(set(ids)) == 3
    for job_id in ids:
        assert f"{job_id} step 5/5" in result.out
        assert f"{job_id} completed: Job processing completed" in result.out.splitlines()


async def test_delete_removes_the_job(client: Client) -> None:
    job = await create_job(client)
    deleted = await cli(client, "delete", job["id"])
    assert deleted.code == 0 and deleted.out.strip() == f"{job['id']} deleted"
    assert (await client.get(f"/job/{job['id']}")).status == 404
    again = await cli(client, "delete", job["id"])
    assert again.code == 2 and again.err.strip() == "jobservice: delete: HTTP 404: Job not found"


async def test_cancel_stops_a_running_job_and_prints_it(start_app: StartApp) -> None:
    client = await start_app(job_step_ms=60_000)  # each demo step takes a minute
    job = await create_job(client)
    while (await (await client.get(f"/job/{job['id']}")).json())["status"] != "processing":
        await asyncio.sleep(0.01)
    cancelled = await cli(client, "cancel", job["id"])
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json["id"] == job["id"] and cancelled.json["status"] == "cancelled"
    assert (await (await client.get(f"/job/{job['id']}")).json())["status"] == "cancelled"
    again = await cli(client, "cancel", job["id"])
    assert again.code == 2 and again.out == ""
    assert again.err.strip() == "jobservice: cancel: HTTP 409: Job is already cancelled"
    missing = await cli(client, "cancel", "nope")
    assert missing.code == 2 and "HTTP 404: Job not found" in missing.err


async def test_list_and_cancel_say_when_the_server_lacks_them(aiohttp_client: Any) -> None:
    older = web.Application(middlewares=[json_errors])  # a server without these endpoints
    client = await aiohttp_client(older)
    listed = await cli(client, "list")
    assert listed.code == 2 and "this server has no GET jobs endpoint" in listed.err
    cancelled = await cli(client, "cancel", "some-id")
    assert cancelled.code == 2 and "no POST job endpoint" in cancelled.err


async def test_submit_type_picks_the_job_type(client: Client) -> None:
    result = await cli(client, "submit", "--watch", "--type", "noop", "1")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == "completed: Job processing completed"
    assert "step" not in result.out  # noop reports no progress
    job_id = result.err.strip()
    assert (await (await client.get(f"/job/{job_id}")).json())["type"] == "noop"
    unknown = await cli(client, "submit", "--type", "nope", "1")
    assert unknown.code == 2 and 'Unknown job type "nope"' in unknown.err


async def test_the_api_token_is_sent(start_app: StartApp) -> None:
    client = await start_app(api_token="t0k")
    refused = await cli(client, "submit", "1")
    assert refused.code == 2 and "401" in refused.err
    job = (await cli(client, "submit", "1", API_TOKEN="t0k")).json
    assert (await cli(client, "watch", job["id"], API_TOKEN="t0k")).code == 0


COMMANDS = ("serve", "submit", "get", "list", "cancel", "delete", "watch")


def test_every_command_says_what_it_does() -> None:
    top = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert f"    {name} " in top, name  # listed with its summary
        text = subprocess.run(
            [SCRIPT, name, "--help"], capture_output=True, text=True, check=True
        ).stdout
        description = text.split("\n\n")[1]  # the usage, then what the command does
        assert len(description.split()) >= 5, (name, text)
    watch_help = subprocess.run([SCRIPT, "watch", "--help"], capture_output=True, text=True).stdout
    assert "progress bar" in watch_help and "exit status: 0" in watch_help
