"""Pub/sub for the Redis job store: wake idle workers when work is queued anywhere, and tell
this process when a job it runs is to be cancelled.

One subscriber connection per process. Messages are fire-and-forget: a lost one costs a
wake-up (workers still poll, at most every POLL_SECONDS) or a cancel notice (lease renewals
bring the cancel request back), never a job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from ..core.tasks import let_go
from .redis_records import text

logger = logging.getLogger(__name__)

RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
# How long one read of the subscription waits before looking again.
READ_SECONDS = 1.0


def ignore(_job_id: str) -> None:
    pass


class Signals:
    def __init__(self, redis: Redis | RedisCluster, work: str, cancel: str) -> None:
        self._redis = redis
        self._work_channel = work
        self._cancel_channel = cancel
        self._channels = (work, cancel)
        self.on_cancel: Callable[[str], None] = ignore
        self.work_seq = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        # Set once Redis has confirmed both subscriptions (and again after a reconnect).
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-store-signals")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await let_go(task)

    async def wake(self) -> None:
        """Count new work and wake this process's waiting workers."""
        async with self._changed:
            self.work_seq += 1
            self._changed.notify_all()

    async def wait(self, since: int) -> None:
        """Until work_seq moves past `since` (bound it with asyncio.timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.work_seq != since)

    async def _listen(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub: Any = self._redis.pubsub()
            try:
                await pubsub.subscribe(*self._channels)
                delay = RECONNECT_MIN_SECONDS
                while True:
                    message = await pubsub.get_message(timeout=READ_SECONDS)
                    if message is not None:
                        await self._handle(message)
            except (RedisError, OSError) as exc:
                logger.warning("redis store: subscription lost (%s); again in %.1f s", exc, delay)
            except Exception:
                logger.exception("redis store: subscription failed; again in %.1f s", delay)
            finally:
                self.subscribed.clear()
                await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = text(message["type"])
        if kind == "subscribe" and int(message["data"]) == len(self._channels):
            # Subscribed (again): anything published meanwhile was lost, so look again.
            self.subscribed.set()
            await self.wake()
        elif kind != "message":
            return
        elif text(message["channel"]) == self._cancel_channel:
            try:
                self.on_cancel(text(message["data"]))
            except Exception:
                logger.exception("redis store: the cancel handler failed")
        else:
            await self.wake()
