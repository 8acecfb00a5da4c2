"""Settings.from_env: defaults, each documented variable parsed to its type, blanks unset."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jobservice.core.settings import MiB, Settings


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.host == "0.0.0.0"
    assert settings.port == 3000
    assert settings.data_dir == Path("data")
    assert settings.redis_url is None
    assert settings.job_step_ms == 1000
    assert settings.worker_concurrency == 32
    assert settings.log_level == "INFO"
    assert settings.max_body_bytes == 1 * MiB == 1_048_576
    assert settings == Settings()


@pytest.mark.parametrize(
    ("name", "raw", "field", "value"),
    [
        ("HOST", "127.0.0.1", "host", "127.0.0.1"),
        ("PORT", "8080", "port", 8080),
        ("DATA_DIR", "/var/lib/jobservice", "data_dir", Path("/var/lib/jobservice")),
        ("REDIS_URL", "redis://cache:6379/2", "redis_url", "redis://cache:6379/2"),
        ("JOB_STEP_MS", "250", "job_step_ms", 250),
        ("WORKER_CONCURRENCY", "16", "worker_concurrency", 16),
        ("EVENT_LOOP", "asyncio", "event_loop", "asyncio"),
        ("LOG_LEVEL", "debug", "log_level", "debug"),
        ("MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
        ("SSE_PING_SECONDS", "2.5", "sse_ping_seconds", 2.5),
        ("LOG_FORMAT", "json", "log_format", "json"),
        ("API_TOKEN", "s3cret", "api_token", "s3cret"),
        (
            "CORS_ORIGINS",
            "https://a.test,https://b.test",
            "cors_origins",
            "https://a.test,https://b.test",
        ),
        ("JOB_HANDLERS", "examples.handlers", "job_handlers", "examples.handlers"),
        ("MAX_ATTEMPTS", "5", "max_attempts", 5),
        ("JOB_TIMEOUT", "30", "job_timeout", 30.0),
        ("STALL_SECONDS", "2.5", "stall_seconds", 2.5),
        ("RETRY_BASE_MS", "50", "retry_base_ms", 50),
        ("STORE", "redis", "store", "redis"),
        ("JOB_LEASE_SECONDS", "2.5", "job_lease_seconds", 2.5),
        ("REDIS_STORE_SHARDS", "4", "redis_store_shards", 4),
        ("REDIS_STRICT_ORDER", "no", "redis_strict_order", False),
        ("REDIS_WAIT_REPLICAS", "1", "redis_wait_replicas", 1),
        ("PROCESSES", "2", "processes", 2),
        ("REUSE_PORT", "1", "reuse_port", True),
    ],
)
def test_each_variable_is_parsed_to_its_type(
    name: str, raw: str, field: str, value: object
) -> None:
    settings = Settings.from_env({name: raw})
    assert getattr(settings, field) == value
    assert type(getattr(settings, field)) is type(value)
    assert settings == replace(Settings(), **{field: value}), "the other fields keep defaults"


def test_values_are_stripped_of_surrounding_whitespace() -> None:
    settings = Settings.from_env({"PORT": " 8080\n", "DATA_DIR": "  /srv/data "})
    assert settings.port == 8080
    assert settings.data_dir == Path("/srv/data")


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_blank_values_are_treated_as_unset(blank: str) -> None:
    names = ["PORT", "DATA_DIR", "REDIS_URL", "JOB_STEP_MS", "WORKER_CONCURRENCY", "LOG_LEVEL"]
    env = {name: blank for name in [*names, "MAX_BODY_BYTES", "HOST"]}
    assert Settings.from_env(env) == Settings()


def test_lowercase_and_unknown_names_are_ignored() -> None:
    assert Settings.from_env({"port": "8080", "PORTS": "1", "JOBSERVICE_PORT": "2"}) == Settings()


@pytest.mark.parametrize("raw", ["abc", "80.5", "3000x", "0x50"])
def test_a_non_numeric_port_raises_a_value_error_naming_port(raw: str) -> None:
    with pytest.raises(ValueError, match="PORT") as caught:
        Settings.from_env({"PORT": raw})
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize("name", ["JOB_STEP_MS", "WORKER_CONCURRENCY", "MAX_BODY_BYTES"])
def test_a_non_numeric_count_raises_a_value_error_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: "lots"})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STORE": "postgres"}, "STORE"),
        ({"PROCESSES": "0"}, "PROCESSES"),
        ({"REDIS_STORE_SHARDS": "-1"}, "REDIS_STORE_SHARDS"),
        ({"JOB_LEASE_SECONDS": "0"}, "JOB_LEASE_SECONDS"),
        ({"SSE_PING_SECONDS": "-1"}, "SSE_PING_SECONDS"),
        ({"SSE_PING_SECONDS": "0"}, "SSE_PING_SECONDS"),
        ({"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY"),
        ({"QUEUE_LIMIT": "0"}, "QUEUE_LIMIT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"EVENT_LOOP": "foo"}, "EVENT_LOOP"),
        ({"REUSE_PORT": "ture"}, "REUSE_PORT"),
        ({"REDIS_STRICT_ORDER": "maybe"}, "REDIS_STRICT_ORDER"),
    ],
)
def test_values_that_cannot_work_are_refused_naming_the_setting(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("raw", "value"), [("YES", True), ("on", True), ("0", False), ("Off", False)]
)
def test_booleans_take_the_usual_spellings(raw: str, value: bool) -> None:
    assert Settings.from_env({"REUSE_PORT": raw}).reuse_port is value


def test_a_log_level_in_any_case_is_taken() -> None:
    assert Settings.from_env({"LOG_LEVEL": "Warning"}).log_level == "Warning"


def test_without_a_mapping_the_process_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "4321")
    monkeypatch.setenv("REDIS_URL", "")
    settings = Settings.from_env()
    assert settings.port == 4321
    assert settings.redis_url is None
