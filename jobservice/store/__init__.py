"""Keeping jobs: the in-memory job store, its group-committed journal, its snapshot files
(jobs.json, queue.json) and its index of jobs in creation order; and the Redis job store
(records, run queue, leases, idempotency keys shared by many processes) behind the
JobBackend interface (backend.py).

May import: jobservice.core."""
