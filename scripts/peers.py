"""arq and SAQ beside jobservice, in one run: their own virtualenv, their own Redis, the same
number of no-op jobs (scripts/bench_peers.py does the measuring in that virtualenv)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_persistence

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-peers"
# arq 0.28 pins redis<6, so the peers cannot share jobservice's virtualenv (redis 8).
PACKAGES = ["arq==0.28.*", "saq==0.26.*", "typing_extensions"]
LIBS = ("arq", "saq")


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if not stamp.exists():
        print(f"  (installing {', '.join(PACKAGES)} into {VENV.name})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", *PACKAGES], check=True)  # fmt: skip
        stamp.touch()
    return python


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server (the binary jobservice embeds) on a free loopback port, with
    no persistence: the peers' defaults, which is also what makes them not durable."""
    from jobservice.stream.redis_server import find_redis_server

    port = bench_persistence.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        server = subprocess.Popen(
            [find_redis_server(None), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            bench_persistence._wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=30)


def run_peer(python: Path, lib: str, jobs: int) -> dict[str, Any]:
    with redis_server() as url:
        command = [str(python), str(ROOT / "scripts" / "bench_peers.py"), "--lib", lib,
                   "--jobs", str(jobs), "--redis", url]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{lib} failed: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["wall_s"] = round(time.perf_counter() - started, 2)
        return result
