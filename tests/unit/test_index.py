"""The store's creation index: newest first, from any key, through adds and discards."""

from __future__ import annotations

from jobservice.store.index import CreationIndex


def keys(index: CreationIndex, before: tuple[int, str] | None = None) -> list[tuple[int, str]]:
    return list(index.newest_first(before))


def test_newest_first_with_ids_breaking_ties() -> None:
    index = CreationIndex()
    index.load([(2, "b"), (1, "z"), (2, "a")])
    index.add((3, "c"))
    index.add((0, "y"))  # older than the rest: inserted in place
    assert keys(index) == [(3, "c"), (2, "b"), (2, "a"), (1, "z"), (0, "y")]


def test_pages_start_below_the_key_given() -> None:
    index = CreationIndex()
    index.load([(n, str(n)) for n in range(10)])
    assert keys(index, (5, "5"))[:2] == [(4, "4"), (3, "3")]
    assert keys(index, (0, "0")) == []


def test_discard_one_or_many_and_unknown_keys() -> None:
    index = CreationIndex()
    index.load([(n, str(n)) for n in range(5)])
    index.discard({(2, "2")})
    index.discard({(9, "9")})
    index.discard({(0, "0"), (4, "4")})
    assert keys(index) == [(3, "3"), (1, "1")]
    assert len(index) == 2
