"""Jobs in creation order, so a page of the newest is found without scanning the rest."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

# (created, id): ids break ties between jobs created in the same millisecond.
Key = tuple[int, str]


class CreationIndex:
    def __init__(self) -> None:
        self._keys: list[Key] = []

    def __len__(self) -> int:
        return len(self._keys)

    def load(self, keys: list[Key]) -> None:
        """Add many keys in any order: one sort, instead of an insertion each."""
        self._keys.extend(keys)
        self._keys.sort()

    def add(self, key: Key) -> None:
        # New jobs are the newest: appending is the common case.
        if not self._keys or key > self._keys[-1]:
            self._keys.append(key)
        else:
            bisect.insort(self._keys, key)

    def discard(self, keys: set[Key]) -> None:
        """Drop these keys; one pass over the index whatever their number."""
        if len(keys) == 1:
            (key,) = keys
            at = bisect.bisect_left(self._keys, key)
            if at < len(self._keys) and self._keys[at] == key:
                del self._keys[at]
            return
        self._keys = [key for key in self._keys if key not in keys]

    def newest_first(self, before: Key | None = None) -> Iterator[Key]:
        """Keys from the newest down, starting below `before` if given."""
        end = len(self._keys) if before is None else bisect.bisect_left(self._keys, before)
        for at in range(end - 1, -1, -1):
            yield self._keys[at]
