"""Ending a task we own, for certain: a cancel that gets lost is sent again."""

from __future__ import annotations

import asyncio
from typing import Any

# How long to wait for a cancelled task before cancelling it again.
RECANCEL_SECONDS = 0.5


async def let_go(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended. A task can lose a cancel (Python 3.11's
    asyncio.wait_for, which redis-py uses, returns the result instead when the cancel races
    with completion), so it is cancelled again until it ends. If our caller is cancelled
    meanwhile, the task is still ended first. An error the task ended with is raised."""
    cancelled = False
    while not task.done():
        task.cancel()
        try:
            await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error
