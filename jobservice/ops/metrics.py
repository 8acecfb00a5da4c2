"""Prometheus metrics: one registry per app, and the few calls the rest of the service makes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from redis.exceptions import RedisError

from ..core.models import Job
from ..http.keys import METRICS
from ..store.jobstore import JobStore
from ..stream.eventlog import Event, EventLog
from ..stream.hub import StreamHub
from ..stream.outbox import Outbox

PREFIX = "jobservice"
# Jobs without a type of their own (every job, until job types exist) are the demo job.
DEFAULT_JOB_TYPE = "demo"
JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def job_type(job: Job) -> str:
    return str(getattr(job, "type", None) or DEFAULT_JOB_TYPE)


class Metrics:
    """Every metric of one app. Its own registry, so tests can run many apps in one process."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.jobs_created = Counter(
            f"{PREFIX}_jobs_created", "Jobs accepted and stored", ["type"], registry=r
        )
        self.jobs_finished = Counter(
            f"{PREFIX}_jobs_finished", "Jobs that reached a final status", ["type", "status"],
            registry=r,
        )  # fmt: skip
        self.job_duration = Histogram(
            f"{PREFIX}_job_duration_seconds", "Run time of finished jobs", ["type", "status"],
            buckets=JOB_BUCKETS, registry=r,
        )  # fmt: skip
        self.events_published = Counter(
            f"{PREFIX}_events_published",
            "Job events accepted for Redis (written in order, once Redis takes them)",
            ["type"], registry=r,
        )  # fmt: skip
        self.outbox_pending = Gauge(
            f"{PREFIX}_outbox_pending", "Events waiting to be written to Redis", registry=r
        )
        self.redis_errors = Counter(
            f"{PREFIX}_redis_errors", "Redis commands that failed", ["operation"], registry=r
        )
        self.persist_latency = Histogram(
            f"{PREFIX}_persist_seconds",
            "Time to journal a job change durably, waiting for the group commit included",
            buckets=WRITE_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(f"{PREFIX}_queue_depth", "Jobs waiting to run", registry=r)
        self.jobs_in_progress = Gauge(f"{PREFIX}_jobs_in_progress", "Jobs running", registry=r)
        self.sse_open = Gauge(f"{PREFIX}_sse_connections", "Open event streams", registry=r)

    def job_created(self, job: Job) -> None:
        self.jobs_created.labels(job_type(job)).inc()

    def job_finished(self, job: Job, run_ms: int) -> None:
        labels = (job_type(job), job.status.value)
        self.jobs_finished.labels(*labels).inc()
        self.job_duration.labels(*labels).observe(run_ms / 1000)

    def watch(
        self, queue_depth: Callable[[], int], running: Callable[[], int], streams: Callable[[], int]
    ) -> None:
        """Gauges read at scrape time from the objects that know, so they never drift."""
        self.queue_depth.set_function(queue_depth)
        self.jobs_in_progress.set_function(running)
        self.sse_open.set_function(streams)


class InstrumentedEventLog(EventLog):
    """The event log, counting events published and Redis commands that fail."""

    def __init__(self, metrics: Metrics, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def publish(self, job_id: str, event: Event) -> None:
        await super().publish(job_id, event)
        self._metrics.events_published.labels(event.get("type", "")).inc()

    async def entry(self, job_id: str, entry_id: str) -> Event | None:
        found: Event | None = await self._counting("xrange", super().entry(job_id, entry_id))
        return found

    async def _counting(self, operation: str, call: Any) -> Any:
        return await _counting(self._metrics, operation, call)


class InstrumentedStreamHub(StreamHub):
    """The stream hub, counting failed reads (it retries them; its watchers wait)."""

    def __init__(self, metrics: Metrics, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def _read_once(self) -> None:
        await _counting(self._metrics, "xread", super()._read_once())


class InstrumentedOutbox(Outbox):
    """The outbox, counting failed batch writes (they are retried until Redis takes them)."""

    def __init__(self, metrics: Metrics, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics
        metrics.outbox_pending.set_function(self.__len__)

    async def _flush_batch(self) -> None:
        await _counting(self._metrics, "xadd", super()._flush_batch())


async def _counting(metrics: Metrics, operation: str, call: Any) -> Any:
    try:
        return await call
    except RedisError:
        metrics.redis_errors.labels(operation).inc()
        raise


class InstrumentedJobStore(JobStore):
    """The job store, timing each durable save."""

    def __init__(self, metrics: Metrics, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def save(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            await super().save(job)
        finally:
            self._metrics.persist_latency.observe(time.perf_counter() - started)


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
