"""Saving a job's state under its lease, through a full disk or a Redis outage."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..core.models import Job
from ..store.backend import JobBackend, Lease

logger = logging.getLogger(__name__)

# Failures after which the store may take the write again: a disk that refuses writes (full,
# read-only), Redis unreachable or slow to answer.
TRANSIENT = (OSError, RedisConnectionError, RedisTimeoutError)
SAVE_RETRY_MIN_SECONDS = 0.1
# While the store refuses writes, a worker retries saving a job's state this often (at most).
SAVE_RETRY_MAX_SECONDS = 5.0


async def save_until_stored(backend: JobBackend, job: Job, lease: Lease) -> bool:
    """Save the job, retrying while the store refuses writes; False if the lease is lost.

    After a failure whose outcome is unknown (the write may have reached Redis and only its
    reply been lost), a refusal is checked against the stored record: if the record holds
    this very state, that earlier try stored it."""
    delay = SAVE_RETRY_MIN_SECONDS
    unsure = False
    while True:
        try:
            if await backend.save(job, lease):
                return True
            return unsure and await _stored_already(backend, job)
        except TRANSIENT as exc:
            logger.error("job %s: cannot save its state (%s); retrying in %.1f s",
                         job.id, exc, delay)  # fmt: skip
            unsure = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, SAVE_RETRY_MAX_SECONDS)


async def _stored_already(backend: JobBackend, job: Job) -> bool:
    """Whether the store holds this very state of the job (its status and time)."""
    stored = await backend.get(job.id)
    return stored is not None and (stored.status, stored.updated) == (job.status, job.updated)
