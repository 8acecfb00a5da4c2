"""The application service: the worker that takes jobs from the run queue, runs, retries,
cancels and requeues them, recording each change in the store and the event log; and
retention, which removes jobs that ended long ago.

May import: jobservice.store, jobservice.stream, jobservice.core."""
