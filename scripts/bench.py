"""Benchmark jobservice on this machine, in one run, against the targets of issue 13.

    .venv/bin/python scripts/bench.py            # everything: several minutes
    .venv/bin/python scripts/bench.py --quick    # smaller sizes, for a smoke run
    .venv/bin/python scripts/bench.py --only post,e2e       # sections: post, e2e, watchers,
                                                           # scale (issue 12), persistence

It starts each service it measures itself (embedded Redis, JOB_STEP_MS=0, a temporary
DATA_DIR, LOG_LEVEL=WARNING) on 127.0.0.1, sends traffic only there, bounded in count and
time, and stops it. Every figure is measured in this run; nothing is compared to stored values.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_persistence  # noqa: E402
import loadtest  # noqa: E402
import peers  # noqa: E402
from sse_client import latency_ms, percentile, read_events  # noqa: E402

TICK_JOBS = 100  # jobs the watchers watch; each reports progress every TICK_MS
TICK_MS = 1000
MEASURE_SECONDS = 10.0
OPEN_TIMEOUT = 300.0  # for opening every watcher
WATCH_PROCESSES = 2
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=None)


@dataclass
class Service:
    port: int
    pid: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """CPU time the service has used (user + system), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def redis_clients(self) -> int | str:
        from redis import Redis

        try:
            with Redis(unix_socket_path=str(self.data_dir / "redis.sock")) as redis:
                return int(redis.info("clients")["connected_clients"])
        except Exception as exc:  # the figure is reported, not needed
            return f"unknown ({exc})"


@contextlib.contextmanager
def serve(**extra_env: str) -> Iterator[Service]:
    """jobservice as a subprocess on a free port, with a temporary data dir."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        port = bench_persistence.free_port()
        data_dir = Path(tmp) / "data"
        env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": str(data_dir),
               "JOB_STEP_MS": "0", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
               **extra_env}  # fmt: skip
        env.pop("REDIS_URL", None)
        env.pop("API_TOKEN", None)
        log = open(Path(tmp) / "service.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            bench_persistence._wait_for_port(port)
            yield Service(port, process.pid, data_dir)
        finally:
            if process.poll() is not None:
                print(f"  !! the service had exited with status {process.returncode}")
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
            log.close()
            _report_log(Path(tmp) / "service.log")


def _report_log(path: Path) -> None:
    """Warnings and errors the service logged: they are findings, so show them, and keep the
    log beside the temporary directory."""
    lines = path.read_text(errors="replace").splitlines()
    if lines:
        kept = Path(tempfile.gettempdir()) / f"jobservice-bench-{time.strftime('%H%M%S')}.log"
        shutil.copy(path, kept)
        # Log records and exception lines start at column 0; traceback frames are indented.
        counts = Counter(line[:200] for line in lines if line[:1] not in (" ", "^"))
        print(f"  service log: {len(lines)} lines, kept in {kept}; most common:")
        for line, count in counts.most_common(8):
            print(f"    {count:>6} x {line}")


# --- POST /job: jobservice against the bare handler -----------------------------------------


def post_rates(seconds: float) -> dict[str, Any]:
    client, bare = bench_persistence.http_post_rate(None, seconds)
    _, service = bench_persistence.http_post_rate(0, seconds)
    return {"client": client, "bare": bare, "service": service, "ratio": service / bare}


# --- end to end: POST -> completed over SSE -----------------------------------------------


def end_to_end(jobs: int) -> dict[str, Any]:
    """`jobs` noop jobs POSTed (64 in flight) while a client follows GET /events until every
    `completed` has arrived; the service at its default settings."""
    with serve() as service:
        options = loadtest.Options(service.url, jobs=jobs, concurrency=64, watchers=0,
                                   type="noop", max_seconds=300, processes=2)  # fmt: skip
        result = loadtest.summary(options, loadtest.run_processes(options))
    return result


def end_to_end_rounds(jobs: int, rounds: int) -> dict[str, list[float]]:
    """jobservice, arq and SAQ in turn, `rounds` times: jobs/s of each round."""
    python = peers.ensure_venv()
    rates: dict[str, list[float]] = {"jobservice": [], **{lib: [] for lib in peers.LIBS}}
    for number in range(1, rounds + 1):
        ours = end_to_end(jobs)
        if ours["not_finished"]:
            raise RuntimeError(f"{ours['not_finished']} jobs did not finish")
        rates["jobservice"].append(ours["completed_per_s"])
        for lib in peers.LIBS:
            rates[lib].append(peers.run_peer(python, lib, jobs)["jobs_per_s"])
        line = "  ".join(f"{name} {values[-1]:>7,.0f}" for name, values in rates.items())
        print(f"  round {number}: {line}  (load {os.getloadavg()[0]:.2f})", flush=True)
    return rates


# --- concurrent SSE watchers ------------------------------------------------------------------


@dataclass
class WatchPart:
    opened: int = 0
    latency: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    ended_early: int = 0
    # CPU seconds this client process used while measuring: is the client the bottleneck?
    cpu_seconds: float = 0.0


async def _watch_many(url: str, job_ids: list[str], count: int, signals: Any) -> WatchPart:
    opened, go, stop = signals
    part = WatchPart()
    state = {"measuring": False}
    connects = asyncio.Semaphore(100)

    async def watcher(job_id: str) -> None:
        last_step = None
        try:
            async with connects:
                response = await session.get(f"{url}/job/{job_id}/stream", timeout=STREAM_TIMEOUT)
            async with response:
                part.statuses[str(response.status)] += 1
                if response.status != 200:
                    return
                with opened.get_lock():
                    opened.value += 1
                connected = time.time() * 1000
                async for message in read_events(response):
                    step = message.event.get("step")
                    if message.event.get("type") != "progress" or step is None:
                        continue
                    step = int(str(step))
                    if last_step is not None:
                        part.lost += max(0, step - last_step - 1)
                        part.duplicated += step <= last_step
                    last_step = max(step, last_step or 0)
                    value = latency_ms(message)
                    # Events made before this watcher connected are replays, not deliveries.
                    if (
                        state["measuring"]
                        and value is not None
                        and message.at_ms - value >= connected
                    ):
                        part.latency.append(value)
            part.ended_early += 1
        except (aiohttp.ClientError, OSError) as exc:
            part.errors[type(exc).__name__] += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(watcher(job_ids[i % len(job_ids)])) for i in range(count)]
        await asyncio.to_thread(go.wait)
        state["measuring"] = True
        cpu = time.process_time()
        await asyncio.to_thread(stop.wait)
        part.cpu_seconds = time.process_time() - cpu
        state["measuring"] = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return part


def _watch_child(url: str, job_ids: list[str], count: int, signals: Any, results: Any) -> None:
    loadtest.raise_open_file_limit()
    results.put(asyncio.run(_watch_many(url, job_ids, count, signals)))


async def _start_tick_jobs(url: str, count: int) -> list[str]:
    """`count` tick jobs with their phases spread evenly over TICK_MS: a steady rate of
    events, not a burst of `count` events once every TICK_MS."""
    async with aiohttp.ClientSession() as session:
        ids = []
        for number in range(count):
            data = {"steps": 1_000_000, "interval_ms": TICK_MS,
                    "phase_ms": number * TICK_MS / count}  # fmt: skip
            async with session.post(f"{url}/job", json={"type": "tick", "data": data}) as got:
                ids.append((await got.json())["id"])
        return ids


async def _cancel(url: str, job_ids: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for job_id in job_ids:
            async with session.post(f"{url}/job/{job_id}/cancel") as response:
                await response.read()


def watchers(count: int) -> dict[str, Any]:
    """`count` streams over TICK_JOBS jobs that each report progress every TICK_MS."""
    import multiprocessing

    env = {"JOB_HANDLERS": "scripts.bench_handlers", "WORKER_CONCURRENCY": str(TICK_JOBS + 4)}
    with serve(**env) as service:
        job_ids = asyncio.run(_start_tick_jobs(service.url, TICK_JOBS))
        time.sleep(2 * TICK_MS / 1000)
        rss_before, clients_before = service.rss_kb(), service.redis_clients()
        context = multiprocessing.get_context("spawn")
        signals = (context.Value("q", 0), context.Event(), context.Event())
        results = context.Queue()
        shares = [count // WATCH_PROCESSES + (i < count % WATCH_PROCESSES)
                  for i in range(WATCH_PROCESSES)]  # fmt: skip
        children = [context.Process(target=_watch_child,
                                    args=(service.url, job_ids, n, signals, results))
                    for n in shares]  # fmt: skip
        for child in children:
            child.start()
        started = time.monotonic()
        while signals[0].value < count and time.monotonic() - started < OPEN_TIMEOUT:
            if any(c.exitcode is not None for c in children):
                break
            time.sleep(0.2)
        open_seconds = time.monotonic() - started
        opened = signals[0].value
        time.sleep(2.0)  # let the connects settle before reading memory
        rss_after, clients_after = service.rss_kb(), service.redis_clients()
        signals[1].set()
        server_cpu = service.cpu_seconds()
        time.sleep(MEASURE_SECONDS)
        server_cpu = service.cpu_seconds() - server_cpu
        signals[2].set()
        parts = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join()
        alive = service.rss_kb() > 0
        asyncio.run(_cancel(service.url, job_ids))
    latency = [v for p in parts for v in p.latency]
    errors: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for p in parts:
        errors.update(p.errors)
        statuses.update(p.statuses)
    return {
        "watchers": count, "opened": opened, "open_seconds": open_seconds,
        "events_per_s": TICK_JOBS * 1000 / TICK_MS, "deliveries": len(latency),
        "p50": percentile(latency, 0.5), "p99": percentile(latency, 0.99),
        "rss_before_kb": rss_before, "rss_after_kb": rss_after,
        "rss_per_watcher_kb": (rss_after - rss_before) / max(1, opened),
        "redis_clients_before": clients_before, "redis_clients_after": clients_after,
        "statuses": dict(statuses), "errors": dict(errors),
        "lost": sum(p.lost for p in parts), "duplicated": sum(p.duplicated for p in parts),
        "ended_early": sum(p.ended_early for p in parts), "service_alive": alive,
        # Percent of one core while measuring: the service, and each client process.
        "server_cpu_pct": 100 * server_cpu / MEASURE_SECONDS,
        "client_cpu_pct": [round(100 * p.cpu_seconds / MEASURE_SECONDS) for p in parts],
    }  # fmt: skip


# --- report ---------------------------------------------------------------------------------


def ensure_wrk() -> None:
    """wrk (a C load generator) keeps the client from being the bottleneck: install it from
    Debian's packages where we can (root with apt-get), as scripts/test does with Chromium."""
    if shutil.which("wrk") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("  (installing wrk with apt-get)", flush=True)
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(command, capture_output=True).returncode != 0:
            return


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    return (f"{os.cpu_count()} cores ({model}), {memory:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"aiohttp {aiohttp.__version__}, RLIMIT_NOFILE {nofile[0]}/{nofile[1]}, "
            f"wrk {'yes' if shutil.which('wrk') else 'no'}")  # fmt: skip


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run")
    parser.add_argument("--only", default="post,e2e,watchers,scale,persistence",
                        help="comma-separated sections to run")  # fmt: skip
    args = parser.parse_args()
    sections = set(args.only.split(","))
    loadtest.raise_open_file_limit()
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    # Other work on the machine skews every figure: show how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f}\n", flush=True)
    targets: list[tuple[str, str, str, bool]] = []

    if "post" in sections:
        ensure_wrk()
        r = post_rates(3 if args.quick else 10)
        print(f"POST /job requests/s ({r['client']}):")
        print(f"  bare aiohttp {r['bare']:>10,.0f}\n  jobservice   {r['service']:>10,.0f}"
              f"  ({r['ratio']:.2f}x bare)\n", flush=True)  # fmt: skip
        targets.append(("durable POST /job vs bare", f"{r['ratio']:.2f}x", ">= 0.6x",
                        r["ratio"] >= 0.6))  # fmt: skip

    if "e2e" in sections:
        jobs = 1000 if args.quick else 5000
        print(
            f"end to end, jobs/s: {jobs:,} noop jobs; jobservice at default settings, POST ->"
            " completed on the feed; arq and SAQ: enqueue, then one worker at concurrency"
            " 100 with no poll delay (their Redis keeps nothing on disk)",
            flush=True,
        )
        rates = end_to_end_rounds(jobs, 1 if args.quick else 3)
        medians = {name: statistics.median(values) for name, values in rates.items()}
        best = max(peers.LIBS, key=lambda lib: medians[lib])
        ratio = medians["jobservice"] / medians[best]
        print("  median: " + "  ".join(f"{k} {v:,.0f}" for k, v in medians.items()) +
              f"  -> {ratio:.2f}x {best}\n", flush=True)  # fmt: skip
        targets.append((f"end-to-end noop vs {best}", f"{ratio:.2f}x", ">= 1.5x", ratio >= 1.5))

    if "watchers" in sections:
        for count in (100, 1000) if args.quick else (1000, 10_000):
            print(f"{count:,} SSE watchers over {TICK_JOBS} jobs, each job "
                  f"{1000 / TICK_MS:g} event/s", flush=True)  # fmt: skip
            r = watchers(count)
            for key, value in r.items():
                print(f"  {key:<22} {value:,.1f}" if isinstance(value, float)
                      else f"  {key:<22} {value}")  # fmt: skip
            print(flush=True)
            if count == (1000 if args.quick else 10_000):
                bad = r["errors"] or r["lost"] or r["duplicated"] or r["opened"] < count
                p99, rss = r["p99"], r["rss_per_watcher_kb"]
                targets += [
                    (f"{count:,} watchers p99 ms", f"{p99:,.1f}" if p99 is not None else "-",
                     "< 100", p99 is not None and p99 < 100),
                    (f"{count:,} watchers RSS/watcher", f"{rss:.1f} KB", "< 30 KB", rss < 30),
                    (f"{count:,} watchers errors", f"{sum(r['errors'].values())} errors, "
                     f"{r['opened']:,} open", "none", not bad),
                ]  # fmt: skip

    if "scale" in sections:
        import bench_scale  # here: it imports this module

        print("scale out: serve --processes 1 and 2 on the Redis store (scripts/bench_scale.py)")
        ratio = bench_scale.run(3 if args.quick else 10, 1 if args.quick else 3)
        targets.append(("2 processes vs 1 (Redis)", f"{ratio:.2f}x", ">= 1.3x", ratio >= 1.3))
        print()

    if "persistence" in sections:
        sizes = (0, 1_000, 10_000) if args.quick else (0, 10_000, 100_000)
        startups = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
        changes = 5_000 if args.quick else 20_000
        print("cost per change (journal append + fsync), microseconds")
        print(f"{'stored jobs':>12} {'one writer':>12} {'64 writers':>12}")
        for stored in sizes:
            cost = asyncio.run(bench_persistence.change_cost(stored, changes, writers=64))
            print(f"{stored:>12,} {cost['serial_us']:>12.1f} {cost['grouped_us']:>12.1f}")
        print("startup (load snapshot, fresh process)")
        print(f"{'stored jobs':>12} {'seconds':>12} {'bytes/job':>12}")
        for stored in startups:
            seconds, per_job = bench_persistence.startup_cost(stored)
            print(f"{stored:>12,} {seconds:>12.2f} {per_job:>12,.0f}", flush=True)
        if stored == 1_000_000:
            targets.append(("startup, 1M jobs", f"{seconds:.2f} s", "< 5 s", seconds < 5))
        print()

    print(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    print(f"{'target':<28} {'measured':>22} {'goal':>10}  result")
    for name, measured, goal, ok in targets:
        print(f"{name:<28} {measured:>22} {goal:>10}  {verdict(ok)}")


if __name__ == "__main__":
    main()
