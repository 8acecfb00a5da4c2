"""Persistence benchmark: what a change costs with 0 / 10,000 / 100,000 stored jobs, startup
with 100,000 and 1,000,000 stored jobs, and durable POST /job requests/s over HTTP.

    .venv/bin/python scripts/bench_persistence.py            # everything (a few minutes)
    .venv/bin/python scripts/bench_persistence.py --quick    # smaller sizes, for a smoke run

Every figure is measured in this run, on this machine; nothing is compared to a stored value.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from loadgen import best_post_load  # noqa: E402

from jobservice.core.models import Job, JobIds, Status  # noqa: E402
from jobservice.store.integrity import Digest  # noqa: E402
from jobservice.store.jobstore import JobStore  # noqa: E402
from jobservice.store.manifest import Manifest  # noqa: E402
from jobservice.store.snapshot import snapshot_lines  # noqa: E402

IDS = JobIds()


def write_snapshot(directory: Path, count: int) -> None:
    """`count` finished jobs, shaped like the demo job's, as the store writes its snapshot."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for number in range(count):
        job = Job.new({"your": "job data", "n": number}, IDS)
        job.status, job.attempts, job.started = Status.SUCCEEDED, 1, job.created
        job.output = [
            {"step": s, "timestamp": job.created + s, "processingTime": s, "data": f"chunk {s}"}
            for s in range(1, 6)
        ]
        entries.append((job.id, orjson.dumps(job.to_dict())))
    chunks = snapshot_lines(entries)
    (directory / "jobs.json").write_bytes(b"".join(chunks))
    (directory / "queue.json").write_bytes(b"[]")
    manifest = Manifest(0, 0, count, Digest.of(*chunks), Digest.of(b"[]"))
    (directory / "manifest.json").write_bytes(manifest.encode())


async def startup_seconds(directory: Path) -> tuple[float, JobStore]:
    store = JobStore(directory)
    started = time.perf_counter()
    await store.open()
    return time.perf_counter() - started, store


async def change_cost(stored: int, changes: int, writers: int) -> dict[str, float]:
    """Microseconds per change: one writer at a time, and `writers` at once (group commit)."""
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        write_snapshot(Path(tmp), stored)
        _, store = await startup_seconds(Path(tmp))
        jobs = [Job.new({"n": n}, IDS) for n in range(changes)]
        serial = jobs[: changes // 10]
        started = time.perf_counter()
        for job in serial:
            await store.add(job)
        serial_us = (time.perf_counter() - started) / len(serial) * 1e6

        queue = iter(jobs[len(serial) :])

        async def writer() -> None:
            for job in queue:
                await store.add(job)

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        grouped_us = (time.perf_counter() - started) / (len(jobs) - len(serial)) * 1e6
        await store.close()
    return {"serial_us": serial_us, "grouped_us": grouped_us}


# Opening the store in a fresh process, as a restart does (this process holds the jobs it made).
OPEN_STORE = """
import asyncio, sys, time
from pathlib import Path
from jobservice.store.jobstore import JobStore
def rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
async def main():
    before = rss_kb()
    started = time.perf_counter()
    store = JobStore(Path(sys.argv[1]))
    await store.open()
    seconds = time.perf_counter() - started
    print(seconds, (rss_kb() - before) * 1024 / max(1, len(store)))
asyncio.run(main())
"""


def startup_cost(stored: int) -> tuple[float, float]:
    """Seconds to open a store of `stored` finished jobs in a fresh process, and the bytes of
    memory each stored job holds once loaded (RSS growth over the job count; peak RSS is
    inherited from this process across exec, so it would say nothing)."""
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        write_snapshot(Path(tmp), stored)
        command = [sys.executable, "-c", OPEN_STORE, tmp]
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    seconds, per_job = output.stdout.split()
    return float(seconds), float(per_job)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_post_rate(stored: int | None, seconds: float) -> tuple[str, float]:
    """POST /job requests/s against jobservice with `stored` jobs on disk (None: the bare
    aiohttp baseline, which parses the same JSON and stores nothing)."""
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": str(data_dir),
               "JOB_STEP_MS": "0", "LOG_LEVEL": "WARNING",
               # Every request is accepted: the figure is the intake, not the queue's limit.
               "QUEUE_LIMIT": "100000000"}  # fmt: skip
        env.pop("REDIS_URL", None)
        command = [sys.executable, str(ROOT / "scripts" / "bare_server.py"), str(port)]
        if stored is not None:
            write_snapshot(data_dir, stored)
            command = [sys.executable, str(ROOT / "app.py")]
        service = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            _wait_for_port(port)
            client, result = best_post_load(f"http://127.0.0.1:{port}/job", seconds=seconds)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
    return client, result.rate


def _wait_for_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"service did not listen on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run")
    args = parser.parse_args()
    sizes = (0, 1_000, 10_000) if args.quick else (0, 10_000, 100_000)
    startups = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    changes = 5_000 if args.quick else 20_000

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("cost per change (journal append + fsync), microseconds")
    print(f"{'stored jobs':>12} {'one writer':>12} {'64 writers':>12} {'vs 0 stored':>12}")
    base = None
    for stored in sizes:
        cost = asyncio.run(change_cost(stored, changes, writers=64))
        base = base or cost["grouped_us"]
        print(f"{stored:>12,} {cost['serial_us']:>12.1f} {cost['grouped_us']:>12.1f} "
              f"{cost['grouped_us'] / base:>11.2f}x")  # fmt: skip

    print("\nstartup (load snapshot, fresh process): seconds, memory per stored job")
    for stored in startups:
        seconds, per_job = startup_cost(stored)
        print(f"{stored:>12,} {seconds:>12.2f} {per_job:>10,.0f} B")

    seconds = 3 if args.quick else 5
    client, bare = http_post_rate(None, seconds)
    print(f"\nPOST /job over HTTP, requests/s ({client}; demo jobs run meanwhile)")
    print(f"{'bare aiohttp':>24} {bare:>10,.0f}")
    for stored in (sizes[0], sizes[-1]):
        _, rate = http_post_rate(stored, seconds)
        print(f"{f'jobservice, {stored:,} stored':>24} {rate:>10,.0f}  {rate / bare:.2f}x bare")


if __name__ == "__main__":
    main()
