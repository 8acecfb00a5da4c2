"""The `jobservice` console script: run the service, or talk to one over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from .. import __version__
from ..core import codec
from ..core.settings import settings_or_exit
from ..http.server import run
from . import check
from .api import DEFAULT_URL, Api, ApiError

# Exit statuses: a job that failed, failed to run or was cancelled is 1; a request that
# could not be made or was refused is 2 (as argparse's usage errors).
JOB_FAILED = 1
REQUEST_FAILED = 2
FINAL_EVENTS = {"completed": 0, "error": JOB_FAILED, "failed": JOB_FAILED, "cancelled": JOB_FAILED}
FINAL_STATUSES = {"succeeded": 0, "failed": JOB_FAILED, "cancelled": JOB_FAILED}
PREVIEW = 60


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command in (None, "serve"):
        raise SystemExit(run(settings_or_exit()))
    if args.command == "check":
        raise SystemExit(check.run(args))
    raise SystemExit(asyncio.run(client_command(args)))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jobservice", description=__doc__)
    top.add_argument("--version", action="version", version=f"jobservice {__version__}")
    top.add_argument(
        "--url",
        default=os.environ.get("JOBSERVICE_URL") or DEFAULT_URL,
        help="the service (default: $JOBSERVICE_URL or %(default)s); $API_TOKEN is sent",
    )
    commands = top.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (settings from the environment)")
    submit = commands.add_parser("submit", help="create a job and print it")
    submit.add_argument("data", nargs="?", help="the job's data as JSON (or a plain string)")
    submit.add_argument("-f", "--file", help="read the data from FILE ('-' for stdin)")
    submit.add_argument("--type", help="the job type (servers with job types)")
    submit.add_argument("--watch", action="store_true", help="then follow it to the end")
    for name, text in [("get", "print a job"), ("cancel", "cancel a job"), ("watch", "follow")]:
        commands.add_parser(name, help=text).add_argument("id")
    commands.add_parser("list", help="list jobs (servers with GET /jobs)")
    check.add_parser(commands)
    return top


async def client_command(args: argparse.Namespace) -> int:
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        api = Api(session, args.url, os.environ.get("API_TOKEN") or None)
        try:
            return await COMMANDS[args.command](api, args)
        except ApiError as exc:
            return fail(f"{args.command}: {exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return fail(f"cannot reach {args.url}: {exc}")
        except ValueError as exc:
            return fail(str(exc))


def fail(message: str) -> int:
    print(f"jobservice: {message}", file=sys.stderr)
    return REQUEST_FAILED


def show(value: Any) -> int:
    print(codec.dumps_pretty(value))
    return 0


async def submit(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"data": read_data(args.data, args.file)}
    if args.type:
        body["type"] = args.type
    job = await api.call("POST", "/job", body)
    if not args.watch:
        return show(job)
    print(job["id"], file=sys.stderr)
    return await watch_job(api, job["id"])


def read_data(argument: str | None, file: str | None) -> Any:
    if argument is not None and file is not None:
        raise ValueError("give the data as an argument or with -f, not both")
    if file == "-" or (argument is None and file is None and not sys.stdin.isatty()):
        raw = sys.stdin.read()
    elif file is not None:
        raw = Path(file).read_text()
    elif argument is not None:
        raw = argument
    else:
        raise ValueError("no data: give it as an argument, with -f FILE, or on stdin")
    try:
        return codec.loads(raw)
    except codec.DecodeError:
        return raw.strip()  # not JSON: the text itself is the data


async def get(api: Api, args: argparse.Namespace) -> int:
    return show(await api.call("GET", f"/job/{args.id}"))


async def list_jobs(api: Api, args: argparse.Namespace) -> int:
    return show(await optional_endpoint(api, "GET", "/jobs"))


async def cancel(api: Api, args: argparse.Namespace) -> int:
    return show(await optional_endpoint(api, "POST", f"/job/{args.id}/cancel"))


async def optional_endpoint(api: Api, method: str, path: str) -> Any:
    """Call an endpoint that older servers lack; say so plainly when it is missing."""
    try:
        return await api.call(method, path)
    except ApiError as exc:
        if exc.status in (404, 405) and exc.message in ("Not Found", "Method Not Allowed"):
            raise ValueError(f"this server has no {method} {path.split('/')[1]} endpoint "
                             f"({method} {path} is {exc.status})") from None  # fmt: skip
        raise


async def watch(api: Api, args: argparse.Namespace) -> int:
    return await watch_job(api, args.id)


async def watch_job(api: Api, job_id: str) -> int:
    progress = Progress(sys.stdout)
    async for event in api.events(job_id):
        progress.show(event)
        if event.get("type") in FINAL_EVENTS:
            progress.end()
            return FINAL_EVENTS[event["type"]]
    progress.end()
    job = await api.call("GET", f"/job/{job_id}")  # the stream ended early: ask for the status
    print(f"{job_id}: {job['status']}")
    return FINAL_STATUSES.get(job["status"], JOB_FAILED)


class Progress:
    """One line per event; on a terminal, progress rewrites one live line instead."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self._open = False

    def show(self, event: dict[str, Any]) -> None:
        line = describe(event)
        if self.live and event.get("type") == "progress":
            self.out.write(f"\r\x1b[K{line}")
            self._open = True
        else:
            self.end()
            self.out.write(line + "\n")
        self.out.flush()

    def end(self) -> None:
        if self._open:
            self.out.write("\n")
            self._open = False


def describe(event: dict[str, Any]) -> str:
    kind = event.get("type", "?")
    if kind == "initial":
        job = event.get("job", {})
        return f"{job.get('id')}: {job.get('status')}"
    if kind == "progress":
        data = str(event.get("data", ""))
        data = data if len(data) <= PREVIEW else data[: PREVIEW - 3] + "..."
        return f"step {event.get('step')} ({event.get('processingTime')} ms): {data}"
    message = event.get("message")
    return f"{kind}: {message}" if message else str(kind)


COMMANDS = {
    "submit": submit,
    "get": get,
    "list": list_jobs,
    "cancel": cancel,
    "watch": watch,
}
