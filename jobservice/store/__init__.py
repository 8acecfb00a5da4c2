"""Keeping jobs, behind the JobBackend interface (backend.py) the worker uses: the files
store (the in-memory job store, its group-committed journal, its snapshot files jobs.json
and queue.json, its index of jobs in creation order, and files_backend.py with the run queue)
and the Redis store (records, run queue, leases, idempotency keys shared by many processes).

May import: jobservice.core."""
