"""Listing cursors: opaque, round-trip exactly, and refuse what the service did not make."""

from __future__ import annotations

import pytest

from jobservice.http.listing import decode_cursor, encode_cursor


def test_a_cursor_round_trips_its_key() -> None:
    key = (1_715_346_000_000, "0190b3c2-7e5a-7abc-8def-0123456789ab")
    cursor = encode_cursor(key)
    assert "=" not in cursor and ":" not in cursor
    assert decode_cursor(cursor) == key


@pytest.mark.parametrize("cursor", ["", "!!!", "bm9jb2xvbg", "MTIzOg", "YWJjOmlk", "w6k"])
def test_a_cursor_not_made_here_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(cursor)
