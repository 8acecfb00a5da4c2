"""let_go ends a task even when the task loses a cancel, as redis-py's calls can on 3.11."""

from __future__ import annotations

import asyncio
import sys

import pytest

from jobservice.core.tasks import let_go


async def a_relay_that_loses_a_cancel() -> asyncio.Task[None]:
    """A task inside asyncio.wait_for whose inner call completes in the same loop step as
    the task is cancelled: on Python 3.11 wait_for returns the result and the cancel is
    gone. The task then waits, like a relay at its inbox, for something that never comes."""
    sent = asyncio.get_running_loop().create_future()
    never = asyncio.Event()

    async def send() -> None:
        await sent

    async def relay() -> None:
        await asyncio.wait_for(send(), 5)
        await never.wait()

    task = asyncio.create_task(relay())
    for _ in range(3):
        await asyncio.sleep(0)  # into wait_for, and its inner task into `sent`
    sent.set_result(None)
    return task


async def test_a_task_that_lost_a_cancel_is_still_let_go() -> None:
    task = await a_relay_that_loses_a_cancel()
    task.cancel()
    await asyncio.wait({task}, timeout=0.2)
    if sys.version_info < (3, 12):
        assert not task.done()  # the cancel was lost: `task.cancel(); await task` would hang
    await asyncio.wait_for(let_go(task), 10)
    assert task.cancelled()


async def test_an_error_the_task_ended_with_is_raised() -> None:
    async def fails() -> None:
        raise LookupError("boom")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(LookupError):
        await let_go(task)


async def test_a_cancel_of_the_caller_still_waits_for_the_task_then_is_raised() -> None:
    task = await a_relay_that_loses_a_cancel()
    caller = asyncio.create_task(let_go(task))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(caller, 10)
    assert task.done()
