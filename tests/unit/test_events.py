"""Event builders: the worker's events and a rebuilt history have the same shapes."""

from __future__ import annotations

from jobservice.core import events
from jobservice.core.models import Job, JobIds, Status


def finished_job(status: Status, error: str | None = None) -> Job:
    job = Job.new({"a": 1}, JobIds())
    job.started = job.created + 10
    job.output = [{"step": 1, "timestamp": job.created + 20, "processingTime": 10, "data": "x"}]
    job.error = error
    job.move_to(status, at=job.created + 40)
    return job


def test_every_value_is_a_string_as_redis_streams_store_them() -> None:
    job = finished_job(Status.SUCCEEDED)
    for event in [
        events.created(job),
        events.started(job),
        events.retry(job, 1500),
        events.progress(job.id, job.output[0]),
        events.ended(job),
    ]:  # type: ignore[index]
        assert all(isinstance(v, str) for v in event.values()), event
        assert event["jobId"] == job.id


def test_the_last_event_follows_the_status() -> None:
    assert events.ended(finished_job(Status.SUCCEEDED))["type"] == "completed"
    failed = events.ended(finished_job(Status.FAILED, "boom"))
    assert (failed["type"], failed["message"]) == ("error", "boom")
    cancelled = events.ended(finished_job(Status.CANCELLED, "an earlier attempt's error"))
    assert (cancelled["type"], cancelled["message"]) == ("cancelled", "Job cancelled")
    assert events.ended(finished_job(Status.SUCCEEDED))["processingTime"] == "30"


def test_history_is_started_progress_and_the_end_with_ordered_ids() -> None:
    job = finished_job(Status.SUCCEEDED)
    history = events.history(job)
    assert [fields["type"] for _, fields in history] == ["started", "progress", "completed"]
    assert history[0][1] == events.started(job)
    assert history[-1][1] == events.ended(job)
    ids = [tuple(map(int, entry_id.split("-"))) for entry_id, _ in history]
    assert ids == sorted(ids)


def test_a_job_cancelled_before_it_started_has_only_its_end() -> None:
    job = Job.new(None, JobIds())
    job.move_to(Status.CANCELLED)
    assert [fields["type"] for _, fields in events.history(job)] == ["cancelled"]


def test_job_ids_sort_in_the_order_they_were_given_out() -> None:
    ids = JobIds()
    given = [ids.next(1000) for _ in range(5000)] + [ids.next(999), ids.next(1001)]
    assert given[:-2] == sorted(given[:-2])
    assert len(set(given)) == len(given)
