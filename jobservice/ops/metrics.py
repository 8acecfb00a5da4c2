"""Prometheus metrics: one registry per app, fed by observing the service (see core/observer.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from ..core.models import Job

PREFIX = "jobservice"
JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


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
        # Several processes may serve one port: each scrape says which one answered.
        process = Info(f"{PREFIX}_process", "The process that answered", registry=r)
        process.info({"host": socket.gethostname(), "pid": str(os.getpid())})

    def job_created(self, job: Job) -> None:
        self.jobs_created.labels(job.type).inc()

    def job_finished(self, job: Job, run_ms: int) -> None:
        labels = (job.type, job.status.value)
        self.jobs_finished.labels(*labels).inc()
        self.job_duration.labels(*labels).observe(run_ms / 1000)

    def event_published(self, kind: str) -> None:
        self.events_published.labels(kind).inc()

    def redis_failed(self, operation: str) -> None:
        self.redis_errors.labels(operation).inc()

    def persisted(self, seconds: float) -> None:
        self.persist_latency.observe(seconds)

    def watch(self, **gauges: Callable[[], int]) -> None:
        """Gauges read at scrape time from the objects that know, so they never drift:
        queue_depth, jobs_in_progress, sse_open, outbox_pending."""
        for name, read in gauges.items():
            gauge = getattr(self, name)
            assert isinstance(gauge, Gauge), name
            gauge.set_function(read)
