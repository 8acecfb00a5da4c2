"""Load test a running jobservice: N jobs at concurrency C, W SSE watchers per job.

    .venv/bin/python scripts/loadtest.py http://127.0.0.1:3000 --jobs 2000 --concurrency 64 \\
        --watchers 2 --type noop --report report.html

It sends traffic only to the URL given, and stops by itself after --jobs jobs or --max-seconds.
Each process opens one feed connection (GET /events) first, to see every job's terminal event;
then POSTs its share of the jobs, at most --concurrency POSTs in flight overall, and opens
--watchers streams (GET /job/{id}/stream) for each job as soon as it is created. At the end it
replays each watched job's stream and checks every watcher got exactly those events (no loss,
no duplicates). Exits 1 if any event was lost or duplicated, or a job did not finish in time.
--report FILE also writes the run as charts in one self-contained HTML page (loadreport.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadreport import write_report
from loadsummary import failed, print_table, summary, table
from sse_client import Received, auth_headers, latency_ms, read_events

TERMINAL = {"completed", "error", "cancelled"}
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=None)
REPLAY_SECONDS = 30.0  # the check at the end replays finished jobs' streams: bound it too


@dataclass
class Options:
    url: str
    jobs: int = 1000
    concurrency: int = 32
    watchers: int = 0
    type: str = "noop"
    data: Any = field(default_factory=lambda: {"bench": True})
    token: str | None = None
    max_seconds: float = 60.0
    processes: int = 1

    def share(self, index: int) -> Options:
        """This process's part of the load."""
        jobs = self.jobs // self.processes + (index < self.jobs % self.processes)
        concurrency = max(1, self.concurrency // self.processes)
        return Options(**{**asdict(self), "jobs": jobs, "concurrency": concurrency})


@dataclass
class Part:
    """What one process measured; parts add up to the run's result."""

    created: int = 0
    post_sent: dict[str, float] = field(default_factory=dict)  # job id -> ms, POST sent
    ended: dict[str, tuple[str, float]] = field(default_factory=dict)  # id -> (type, ms seen)
    watcher_latency: list[float] = field(default_factory=list)
    feed_latency: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # "POST 201", "stream 200", ...
    errors: Counter[str] = field(default_factory=Counter)  # client-side exceptions by name
    # (ms, what) for each error answer and client error, for the report's chart over time.
    failures: list[tuple[float, str]] = field(default_factory=list)
    watchers_checked: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    first_ms: float = 0.0
    last_post_ms: float = 0.0
    last_end_ms: float = 0.0


class Run:
    def __init__(self, options: Options, session: aiohttp.ClientSession, progress: Any) -> None:
        self.o, self.session, self.progress = options, session, progress
        self.part = Part()
        self.seen: dict[tuple[str, int], list[tuple[str, str]]] = {}  # (job, n) -> (id, type)s
        self.posting_done = False
        self.all_ended = asyncio.Event()
        self.headers = auth_headers(options.token)

    async def post_jobs(self) -> None:
        body = orjson.dumps({"type": self.o.type, "data": self.o.data})
        numbers = iter(range(self.o.jobs))
        watchers: list[asyncio.Task[None]] = []
        deadline = self.part.first_ms / 1000 + self.o.max_seconds

        async def poster() -> None:
            for _ in numbers:
                if time.time() > deadline:
                    return
                job_id = await self.post(body)
                for n in range(self.o.watchers if job_id else 0):
                    watchers.append(asyncio.create_task(self.watch(job_id, n)))  # type: ignore[arg-type]

        await asyncio.gather(*(poster() for _ in range(self.o.concurrency)))
        self.part.last_post_ms = time.time() * 1000
        self.posting_done = True
        self.check_ended()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                await self.all_ended.wait()
                await asyncio.gather(*watchers)
        except TimeoutError:
            pass
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def post(self, body: bytes) -> str | None:
        sent = time.time() * 1000
        headers = {**self.headers, "Content-Type": "application/json"}
        try:
            async with self.session.post(f"{self.o.url}/job", data=body, headers=headers) as r:
                self.part.statuses[f"POST {r.status}"] += 1
                if r.status != 201:
                    self.failed(f"POST {r.status}")
                    await r.read()
                    return None
                job_id: str = (await r.json(loads=orjson.loads))["id"]
        except (aiohttp.ClientError, OSError) as exc:
            self.client_error(f"POST {type(exc).__name__}")
            return None
        self.part.post_sent[job_id] = sent
        self.part.created += 1
        _bump(self.progress, 0)
        return job_id

    async def watch(self, job_id: str, n: int) -> None:
        received = self.seen.setdefault((job_id, n), [])
        url = f"{self.o.url}/job/{job_id}/stream"
        try:
            async with self.session.get(url, headers=self.headers, timeout=STREAM_TIMEOUT) as r:
                self.part.statuses[f"stream {r.status}"] += 1
                if r.status != 200:
                    self.failed(f"stream {r.status}")
                    return
                connected = time.time() * 1000
                async for message in read_events(r):
                    if message.id is None:  # `initial`: the job as it was on connect
                        continue
                    received.append((message.id, str(message.event.get("type"))))
                    self._latency(message, connected, self.part.watcher_latency)
        except (aiohttp.ClientError, OSError) as exc:
            self.client_error(f"stream {type(exc).__name__}")

    def failed(self, what: str) -> None:
        self.part.failures.append((time.time() * 1000, what))

    def client_error(self, what: str) -> None:
        self.part.errors[what] += 1
        self.failed(what)

    @staticmethod
    def _latency(message: Received, connected: float, into: list[float]) -> None:
        # Events made before this watcher connected are replays: their delay is not delivery.
        value = latency_ms(message)
        if value is not None and message.at_ms - value >= connected:
            into.append(value)

    async def follow_feed(self, ready: asyncio.Event) -> None:
        try:
            async with self.session.get(f"{self.o.url}/events", headers=self.headers,
                                        timeout=STREAM_TIMEOUT) as r:  # fmt: skip
                self.part.statuses[f"feed {r.status}"] += 1
                if r.status != 200:
                    raise SystemExit(f"GET /events answered {r.status}: the feed is needed")
                ready.set()
                connected = time.time() * 1000
                async for message in read_events(r):
                    self._latency(message, connected, self.part.feed_latency)
                    if message.event.get("type") in TERMINAL:
                        job_id = str(message.event.get("jobId"))
                        self.part.ended[job_id] = (str(message.event["type"]), message.at_ms)
                        if job_id in self.part.post_sent:
                            _bump(self.progress, 1)
                        self.check_ended()
        except (aiohttp.ClientError, OSError) as exc:
            self.client_error(f"feed {type(exc).__name__}")
            ready.set()

    def check_ended(self) -> None:
        if self.posting_done and all(i in self.part.ended for i in self.part.post_sent):
            self.all_ended.set()

    async def verify(self) -> None:
        """Replay each finished, watched job's stream; compare every watcher's events to it."""
        jobs = sorted({job for job, _ in self.seen if job in self.part.ended})
        limit = asyncio.Semaphore(16)

        async def check(job_id: str) -> None:
            async with limit:
                full = await self.replay(job_id)
            for n in range(self.o.watchers):
                self._compare(full, self.seen.get((job_id, n), []))

        try:
            async with asyncio.timeout(REPLAY_SECONDS):
                await asyncio.gather(*(check(job) for job in jobs))
        except TimeoutError:
            self.part.errors["replay timed out"] += 1

    async def replay(self, job_id: str) -> list[tuple[str, str]]:
        url = f"{self.o.url}/job/{job_id}/stream"
        async with self.session.get(url, headers=self.headers, timeout=STREAM_TIMEOUT) as r:
            self.part.statuses[f"replay {r.status}"] += 1
            return [(m.id, str(m.event.get("type"))) async for m in read_events(r) if m.id]

    def _compare(self, full: list[tuple[str, str]], got: list[tuple[str, str]]) -> None:
        self.part.watchers_checked += 1
        self.part.lost += len(set(full) - set(got))
        self.part.duplicated += len(got) - len(set(got))
        if not (set(got) - set(full)) and got != full and len(got) == len(set(got)):
            self.part.out_of_order += 1


def _bump(progress: Any, index: int) -> None:
    if progress is not None:
        with progress[index].get_lock():
            progress[index].value += 1


async def run_part(options: Options, progress: Any = None) -> Part:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        run = Run(options, session, progress)
        ready = asyncio.Event()
        feed = asyncio.create_task(run.follow_feed(ready))
        try:
            await ready.wait()
            run.part.first_ms = time.time() * 1000
            await run.post_jobs()
            run.part.last_end_ms = max((t for i, (_, t) in run.part.ended.items()
                                        if i in run.part.post_sent), default=0.0)  # fmt: skip
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
        await run.verify()
    # Keep only this process's jobs: the feed shows everyone's.
    run.part.ended = {i: e for i, e in run.part.ended.items() if i in run.part.post_sent}
    return run.part


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _child(options: Options, progress: Any, results: Any, index: int) -> None:
    raise_open_file_limit()
    part = asyncio.run(run_part(options.share(index), progress))
    results.put(part)


def run_processes(options: Options, show: bool = True) -> Part:
    """Run the load from `options.processes` processes; show progress; add up their parts."""
    context = multiprocessing.get_context("spawn")
    progress = (context.Value("q", 0), context.Value("q", 0))
    results = context.Queue()
    children = [context.Process(target=_child, args=(options, progress, results, i))
                for i in range(options.processes)]  # fmt: skip
    for child in children:
        child.start()
    parts: list[Part] = []
    reporter = Progress(options.jobs, show)
    while len(parts) < len(children):
        reporter.show(progress[0].value, progress[1].value)
        try:
            parts.append(results.get(timeout=0.25))
        except Exception:  # queue.Empty
            if all(c.exitcode is not None for c in children) and results.empty():
                break
    reporter.show(progress[0].value, progress[1].value, final=True)
    for child in children:
        child.join()
    if len(parts) < len(children):
        raise SystemExit(f"{len(children) - len(parts)} load process(es) died; see above")
    return merge(parts)


class Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.tty = total, enabled, sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def show(self, created: int, completed: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < (0.2 if self.tty else 5.0)):
            return
        self.last = now
        share = completed / self.total if self.total else 1.0
        text = (f"created {created:,}/{self.total:,}  completed {completed:,}  "
                f"{now - self.started:5.1f}s")  # fmt: skip
        if self.tty:
            bar = "#" * int(share * 30)
            sys.stderr.write(f"\r[{bar:<30}] {share:4.0%} {text}" + ("\n" if final else ""))
        else:
            sys.stderr.write(f"{share:4.0%} {text}\n")
        sys.stderr.flush()


def merge(parts: list[Part]) -> Part:
    total = Part()
    for part in parts:
        total.created += part.created
        total.post_sent.update(part.post_sent)
        total.ended.update(part.ended)
        total.watcher_latency += part.watcher_latency
        total.feed_latency += part.feed_latency
        total.statuses.update(part.statuses)
        total.errors.update(part.errors)
        total.failures += part.failures
        for name in ("watchers_checked", "lost", "duplicated", "out_of_order"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
    total.first_ms = min((p.first_ms for p in parts if p.first_ms), default=0.0)
    total.last_post_ms = max((p.last_post_ms for p in parts), default=0.0)
    total.last_end_ms = max((p.last_end_ms for p in parts), default=0.0)
    return total


def parse_args(argv: list[str] | None = None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:3000")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight")
    parser.add_argument("--watchers", type=int, default=0, help="SSE streams per job")
    parser.add_argument("--type", default="noop", help="job type (default: noop)")
    parser.add_argument("--data", default='{"bench": true}', help="job data, as JSON")
    parser.add_argument("--token", default=os.environ.get("API_TOKEN") or None,
                        help="bearer token (default: $API_TOKEN)")  # fmt: skip
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--report", type=Path, metavar="FILE",
                        help="also write the run's charts to FILE, one HTML page")  # fmt: skip
    args = parser.parse_args(argv)
    options = Options(args.url.rstrip("/"), args.jobs, max(1, args.concurrency), args.watchers,
                      args.type, json.loads(args.data), args.token, args.max_seconds,
                      max(1, args.processes))  # fmt: skip
    return options, args


def main() -> int:
    options, args = parse_args()
    raise_open_file_limit()
    part = run_processes(options, show=not args.json)
    result = summary(options, part)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    if args.report:
        write_report(args.report, result, table(result), part)
        print(f"report: {args.report}", file=sys.stderr)
    return 1 if failed(result) else 0


if __name__ == "__main__":
    sys.exit(main())
