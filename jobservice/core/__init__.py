"""The domain, with no I/O: the job record and its statuses, the events a job goes through
(built in one place), what a new job may ask for and its limits, settings, the handler type
and registry of job types, one attempt with its timeout and backoff, the run queue, the
Observer interface the rest of the service reports to, ending a task for certain, and which
shard of the Redis store a job id names (with the shard's cluster hash tag).

May import: the standard library and orjson. Nothing else in jobservice."""
