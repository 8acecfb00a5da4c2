"""The `jobservice` console script: run the service, or talk to one over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from ..core import codec
from ..core.settings import settings_or_exit
from ..http.server import serve
from . import check
from .api import Api, ApiError
from .commands import parser
from .joblist import list_jobs
from .tracker import REQUEST_FAILED
from .watching import watch_jobs

# Ended by Ctrl-C: the shell's convention, 128 + SIGINT.
INTERRUPTED = 130
# Ended because the reader of our output left: 128 + SIGPIPE, as a shell reports it.
CLOSED_PIPE = 141


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command in (None, "serve"):
        settings = settings_or_exit()
        if getattr(args, "processes", None) is not None:
            settings = replace(settings, processes=args.processes)
        raise SystemExit(serve(settings))
    if args.command == "check":
        raise SystemExit(check.run(args))
    try:
        raise SystemExit(asyncio.run(client_command(args)))
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED) from None


async def client_command(args: argparse.Namespace) -> int:
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        api = Api(session, args.url, os.environ.get("API_TOKEN") or None)
        try:
            return await COMMANDS[args.command](api, args)
        except ApiError as exc:
            return fail(f"{args.command}: {exc}")
        except BrokenPipeError:  # the reader left (`| head`): stop quietly, as a shell tool does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return CLOSED_PIPE
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
    if args.count < 1:
        raise ValueError("--count must be 1 or more")
    if args.count > 1 and args.idempotency_key:
        raise ValueError("--idempotency-key names one job: it cannot go with --count")
    body = new_job(args, read_data(args.data, args.file))
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    jobs = [await api.call("POST", "/job", body, headers=headers) for _ in range(args.count)]
    if args.watch:
        print("\n".join(job["id"] for job in jobs), file=sys.stderr)
        return await watch_jobs(api, [job["id"] for job in jobs])
    if len(jobs) == 1:
        return show(jobs[0])
    print("\n".join(codec.dumps_str(job) for job in jobs))
    return 0


def new_job(args: argparse.Namespace, data: Any) -> dict[str, Any]:
    """The POST /job body: the data, and each option given."""
    body: dict[str, Any] = {"data": data}
    options = {
        "type": args.type,
        "priority": args.priority,
        "delay_ms": None if args.delay is None else round(args.delay * 1000),
        "max_attempts": args.max_attempts,
        "timeout": args.timeout,
    }
    body.update((name, value) for name, value in options.items() if value is not None)
    return body


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


async def list_command(api: Api, args: argparse.Namespace) -> int:
    query = {"limit": str(args.limit)}
    for name in ("status", "type", "cursor"):
        if (value := getattr(args, name)) is not None:
            query[name] = value
    try:
        return await list_jobs(api, query, args.all, args.json)
    except ApiError as exc:
        raise missing_endpoint(exc, "GET", "/jobs") from None


async def cancel(api: Api, args: argparse.Namespace) -> int:
    try:
        return show(await api.call("POST", f"/job/{args.id}/cancel"))
    except ApiError as exc:
        raise missing_endpoint(exc, "POST", f"/job/{args.id}/cancel") from None


async def delete(api: Api, args: argparse.Namespace) -> int:
    running = await api.call("DELETE", f"/job/{args.id}")
    if running is not None:  # 202: another process runs it and has not stopped it yet
        print(f"{args.id} is being cancelled, not deleted yet: delete it again once it ended")
        return 1
    print(f"{args.id} deleted")
    return 0


def missing_endpoint(exc: ApiError, method: str, path: str) -> Exception:
    """Older servers lack some endpoints: say so plainly (a ValueError), else re-raise."""
    if exc.status in (404, 405) and exc.message in ("Not Found", "Method Not Allowed"):
        resource = path.split("/")[1]
        return ValueError(f"this server has no {method} {resource} endpoint "
                          f"({method} {path} is {exc.status})")  # fmt: skip
    return exc


async def watch(api: Api, args: argparse.Namespace) -> int:
    return await watch_jobs(api, args.ids)


COMMANDS = {
    "submit": submit,
    "get": get,
    "list": list_command,
    "cancel": cancel,
    "delete": delete,
    "watch": watch,
}
