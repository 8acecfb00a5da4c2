"""loadtest.py's results: the summary of a run (a dict, --json prints it), and its table."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sse_client import percentile

if TYPE_CHECKING:
    from loadtest import Options, Part

__all__ = ["failed", "print_table", "summary", "table"]


def summary(options: Options, part: Part) -> dict[str, Any]:
    e2e = [t - part.post_sent[i] for i, (_, t) in part.ended.items() if i in part.post_sent]
    kinds = Counter(kind for kind, _ in part.ended.values())
    post_s = max(1e-9, (part.last_post_ms - part.first_ms) / 1000)
    end_s = max(1e-9, (part.last_end_ms - part.first_ms) / 1000)

    def spread(values: list[float]) -> dict[str, float | int | None]:
        return {"count": len(values), "p50": percentile(values, 0.5),
                "p95": percentile(values, 0.95), "p99": percentile(values, 0.99)}  # fmt: skip

    return {
        "url": options.url,
        "jobs": options.jobs, "concurrency": options.concurrency,
        "watchers_per_job": options.watchers, "type": options.type,
        "processes": options.processes,
        "created": part.created, "ended": dict(kinds),
        "not_finished": part.created - len(part.ended),
        "created_per_s": part.created / post_s,
        "completed_per_s": kinds.get("completed", 0) / end_s,
        "create_to_end_ms": spread(e2e),
        "watcher_event_latency_ms": spread(part.watcher_latency),
        "feed_event_latency_ms": spread(part.feed_latency),
        "watchers_checked": part.watchers_checked,
        "events_lost": part.lost, "events_duplicated": part.duplicated,
        "watchers_out_of_order": part.out_of_order,
        "http_statuses": dict(sorted(part.statuses.items())),
        "client_errors": dict(part.errors),
    }  # fmt: skip


def table(result: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("jobs created", f"{result['created']:,} ({result['created_per_s']:,.0f}/s)"),
        ("jobs ended", ", ".join(f"{k} {v:,}" for k, v in result["ended"].items()) or "none"),
        ("completed/s", f"{result['completed_per_s']:,.0f}"),
        ("not finished in time", f"{result['not_finished']:,}"),
    ]
    for key, name in (("create_to_end_ms", "create -> end, ms"),
                      ("watcher_event_latency_ms", "event -> watcher, ms"),
                      ("feed_event_latency_ms", "event -> feed, ms")):  # fmt: skip
        s = result[key]
        text = "  ".join(f"{p} {s[p]:,.1f}" for p in ("p50", "p95", "p99") if s[p] is not None)
        rows.append((name, f"{text or '-'}  (n={s['count']:,})"))
    rows += [
        ("watchers checked", f"{result['watchers_checked']:,}"),
        ("events lost / duplicated", f"{result['events_lost']} / {result['events_duplicated']}"),
        ("watchers out of order", f"{result['watchers_out_of_order']}"),
        ("HTTP statuses", ", ".join(f"{k}: {v:,}" for k, v in result["http_statuses"].items())),
        ("client errors", ", ".join(f"{k}: {v}" for k, v in result["client_errors"].items())
         or "none"),
    ]  # fmt: skip
    return rows


def print_table(result: dict[str, Any]) -> None:
    rows = table(result)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def failed(result: dict[str, Any]) -> bool:
    return bool(result["events_lost"] or result["events_duplicated"] or result["not_finished"])
