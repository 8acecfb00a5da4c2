"""Keeping jobs: the in-memory job store, its group-committed journal, its snapshot files
(jobs.json, queue.json) and its index of jobs in creation order.

May import: jobservice.core."""
