"""Listing over shards: each shard's creation index is read newest first, in bounded steps,
and the shards are merged so a page is exactly the newest matches below the cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .index import Key


@dataclass(frozen=True, slots=True)
class Scanned:
    """One step of one shard: matches (newest first), the last key it examined, and
    whether it reached the end of the index."""

    matches: list[Key]
    last: Key | None
    exhausted: bool


# (shard, below this key or None for the newest, matches wanted) -> one step
Scan = Callable[[int, Key | None, int], Awaitable[Scanned]]


@dataclass(slots=True)
class _Shard:
    index: int
    # Examined down to here (exclusive of what comes next); None: not read yet.
    cursor: Key | None
    started: bool = False
    exhausted: bool = False
    found: list[Key] = field(default_factory=list)

    def could_hold_newer_than(self, key: Key | None) -> bool:
        """Whether a match this shard has not read yet may come before `key`."""
        if self.found or self.exhausted:
            return False
        return key is None or not self.started or (self.cursor is not None and self.cursor > key)


async def newest_keys(
    scan: Scan, shards: int, before: Key | None, limit: int
) -> list[tuple[int, Key]]:
    """(shard, key) of the newest `limit` matches below `before`, over every shard."""
    states = [_Shard(index, before) for index in range(shards)]
    page: list[tuple[int, Key]] = []
    while len(page) < limit:
        newest = max((s.found[0] for s in states if s.found), default=None)
        unread = [s for s in states if s.could_hold_newer_than(newest)]
        if unread:
            await asyncio.gather(*(_read(scan, s, limit - len(page)) for s in unread))
            continue
        if newest is None:
            break
        holder = next(s for s in states if s.found and s.found[0] == newest)
        page.append((holder.index, holder.found.pop(0)))
    return page


async def _read(scan: Scan, state: _Shard, want: int) -> None:
    step = await scan(state.index, state.cursor, want)
    state.started = True
    state.found.extend(step.matches)
    if step.last is not None:
        state.cursor = step.last
    state.exhausted = step.exhausted
