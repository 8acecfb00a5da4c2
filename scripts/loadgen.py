"""A POST load generator spread over processes, so the client is not the bottleneck.

Used by the benchmarks; run alone for a quick figure:
    python scripts/loadgen.py http://127.0.0.1:3000/job --seconds 5
It sends traffic only to the URL given, for a bounded time.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

BODY = b'{"type": "noop", "data": {"your": "job data", "goes": "here"}}'


@dataclass
class LoadResult:
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def _connection(session: aiohttp.ClientSession, url: str, body: bytes, until: float,
                      result: LoadResult) -> None:  # fmt: skip
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < until:
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
        except aiohttp.ClientError:
            result.errors += 1


async def _one_process(url: str, body: bytes, seconds: float, connections: int) -> LoadResult:
    result = LoadResult(seconds)
    until = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(_connection(session, url, body, until, result)
                               for _ in range(connections)))  # fmt: skip
    return result


def _process_main(args: tuple[str, bytes, float, int]) -> LoadResult:
    return asyncio.run(_one_process(*args))


def post_load(url: str, seconds: float = 5.0, processes: int = 2, connections: int = 32,
              body: bytes = BODY) -> LoadResult:  # fmt: skip
    """POST `body` to `url` from `processes` processes x `connections` for `seconds`."""
    per_process = max(1, connections // processes)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_process_main, [(url, body, seconds, per_process)] * processes)
    total = LoadResult(seconds)
    for part in parts:
        total.errors += part.errors
        for status, count in part.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
    return total


def wrk_post(url: str, seconds: float = 5.0, connections: int = 64) -> LoadResult:
    """The same load from wrk (a C load generator), when it is installed."""
    script = Path(__file__).with_name("post_job.lua")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: .*", output)
    bad = int(failed.group(1)) if failed else 0
    return LoadResult(seconds, {201: requests - bad, 0: bad} if bad else {201: requests},
                      errors=1 if errors else 0)  # fmt: skip


def best_post_load(url: str, seconds: float = 5.0) -> tuple[str, LoadResult]:
    """wrk where it is installed (it is not the bottleneck); else the process-spread client."""
    if shutil.which("wrk"):
        return "wrk -t1 -c64", wrk_post(url, seconds)
    return "aiohttp client, 2 processes x 16", post_load(url, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-wrk", action="store_true", help="use the Python client")
    args = parser.parse_args()
    if args.no_wrk or not shutil.which("wrk"):
        result = post_load(args.url, args.seconds, args.processes, args.connections)
    else:
        result = wrk_post(args.url, args.seconds)
    print(f"{result.rate:,.0f} requests/s ok; statuses {result.statuses}; errors {result.errors}")


if __name__ == "__main__":
    main()
