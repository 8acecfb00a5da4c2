"""The domain, with no I/O: the job record and its statuses, the events a job goes through
(built in one place), what a new job may ask for and its limits, settings, the handler type
and registry of job types, one attempt with its timeout and backoff, the run queue, the
Observer interface the rest of the service reports to, and ending a task for certain.

May import: the standard library and orjson. Nothing else in jobservice."""
