"""Stream ids from outside (Last-Event-ID) are taken only as Redis would take them."""

from __future__ import annotations

import pytest

from jobservice.http.wire import resume_point
from jobservice.stream.hub import is_stream_id

MAX = str(2**64 - 1)


@pytest.mark.parametrize(
    "text", ["0-0", "1-0", "1795876944191-0", f"{MAX}-0", f"0-{MAX}", f"{MAX}-{MAX}"]
)
def test_ids_redis_takes_are_taken(text: str) -> None:
    assert is_stream_id(text)
    assert resume_point(f" {text}\t") == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1-",
        "-1",
        "1-2-3",
        "$",
        "+",
        "99999999999999999999-0",  # 20 digits, above 2**64 - 1
        f"{2**64}-0",
        f"0-{2**64}",
        "000000000000000000001-0",  # 21 digits
        "\u0661-\u0660",  # Arabic-Indic digits: Python's \d and int() take them
        "\uff11-0",  # a fullwidth one
        "1_0-0",  # int() takes underscores
        "+1-0",
    ],
)
def test_ids_redis_refuses_are_refused(text: str) -> None:
    assert not is_stream_id(text)
    assert resume_point(text) is None
