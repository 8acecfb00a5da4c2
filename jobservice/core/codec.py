"""JSON in and out, through orjson (several times faster than the standard library)."""

from __future__ import annotations

from typing import Any

import orjson

DecodeError = orjson.JSONDecodeError
# orjson parses 1024 levels of nesting but writes only about 254; a stored job wraps its data
# in two more levels (journal record, SSE initial event), so accept no more than this.
MAX_DEPTH = 200


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()


def dumps_pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply arrays and objects nest in `value`, counting no further than `limit` + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
