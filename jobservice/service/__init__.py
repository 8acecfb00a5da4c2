"""The application service: the worker that takes new jobs into the store, runs due ones
under leases it renews, retries, cancels and deletes them wherever they run, recording each
change in the store (through the JobBackend interface) before it goes to the event log; and
retention, which removes jobs that ended long ago.

May import: jobservice.store, jobservice.stream, jobservice.core."""
