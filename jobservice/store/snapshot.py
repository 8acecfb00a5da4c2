"""The snapshot file, jobs.json: one job per line, so that loading can keep finished jobs as
their JSON bytes (parsed when asked for) instead of building Python objects for all of them.

    {
    "<id>":{"id":"<id>","status":"succeeded",...,"data":...,"output":[...]},
    "<id>":{...}
    }

It is still one JSON object: any JSON reader sees {id: job}, as the original service's file was.
Each job carries one member more, last: "crc", the CRC-32 of its line up to that member and
then the CRC-32 of the line before it (so a damaged line and a missing one are both named).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import codec
from ..core.models import DEFAULT_TYPE, STATUS_BY_VALUE, Job, Status
from .integrity import CRC_KEY, HEX, NO_LINK, Problems, job_problem, linked_seal_of, read_seal, seal

# to_dict writes `data` and `output` after every scalar field: what comes before is the head.
DATA_KEY = b',"data":'


@dataclass(slots=True)
class Stored:
    """A job kept as its JSON, with the few fields that indexes and sweeps need."""

    raw: bytes
    status: Status
    type: str
    created: int
    updated: int
    idempotency_key: str | None

    @classmethod
    def parse(cls, raw: bytes) -> Stored:
        head = _head(raw)
        return cls(raw, STATUS_BY_VALUE[head["status"]], head.get("type", DEFAULT_TYPE),
                   head["created"], head["updated"], head.get("idempotency_key"))  # fmt: skip

    def job(self) -> Job:
        return Job.from_dict(codec.loads(self.raw))


def _head(raw: bytes) -> dict[str, Any]:
    cut = raw.find(DATA_KEY)
    head: dict[str, Any] = codec.loads(raw[:cut] + b"}" if cut > 0 else raw)
    return head


def read_snapshot(path: Path, data: bytes, problems: Problems, check: bool, sealed: bool
                  ) -> Iterator[tuple[int, str, bytes]]:  # fmt: skip
    """(line number, id, job JSON) for each job in the file. `check`: look at every line (the
    file is not the one the manifest describes, or there is none); `sealed`: every line must
    carry its checksum."""
    if not data.startswith(b"{\n"):  # one line: written by hand, or by an older version
        yield from _one_line(path, data, problems)
        return
    lines = data.split(b"\n")
    if lines[-1] != b"" or lines[-2] != b"}":
        problems.damage(path, len(lines), "is cut short: the file does not end with a }")
        lines.append(b"")  # every line after the first is then looked at as a job
    lines = lines[1:-2]
    if check:
        yield from _checked(path, lines, problems, sealed)
        return
    for number, line in enumerate(lines, start=2):
        sep = line.find(b'":')
        yield number, line[1:sep].decode(), line[sep + 2 :].removesuffix(b",")


def _checked(path: Path, lines: list[bytes], problems: Problems, sealed: bool
             ) -> Iterator[tuple[int, str, bytes]]:  # fmt: skip
    seen: set[str] = set()
    link: bytes | None = NO_LINK  # None: the line before was damaged, so it cannot vouch
    for number, line in enumerate(lines, start=2):
        entry = line.removesuffix(b",")
        mark = read_seal(entry, linked=True) if sealed else None
        if sealed and (mark is None or not mark.intact):
            what = "does not match its checksum" if mark else "has no checksum"
            problems.damage(path, number, f"{what} ({_named(entry)})")
            link = None
            continue
        if mark is not None:
            if link is not None and mark.link != link:
                problems.damage(path, number, "the job line before this one is missing")
            link = mark.own
        job = _job(path, number, entry, problems, seen)
        if job is not None:
            yield number, *job


def _named(entry: bytes) -> str:
    """The job a damaged line seems to be about, for people to look for."""
    key = entry[1 : entry.find(b'"', 1)] if entry.startswith(b'"') else b""
    return f"job {key[:40].decode(errors='replace')!r}" if key else "no job id"


def _job(path: Path, number: int, entry: bytes, problems: Problems, seen: set[str]
         ) -> tuple[str, bytes] | None:  # fmt: skip
    """A snapshot line's id and job JSON, if it is a job filed under its own id, once."""
    sep = entry.find(b'":')
    parsed = _parse(entry, sep)
    if isinstance(parsed, str):
        problem: str | None = parsed
    elif (problem := job_problem(parsed[1])) is None:
        job_id, job = parsed
        if job_id != job["id"]:
            problem = f"is filed under {job_id!r} but holds job {job['id']!r}"
        elif job_id in seen:
            problem = f"holds job {job_id!r} a second time"
        else:
            seen.add(job_id)
            return job_id, entry[sep + 2 :]
    problems.damage(path, number, f"{problem} ({_named(entry)})")
    return None


def _parse(entry: bytes, sep: int) -> tuple[str, Any] | str:
    if not entry.startswith(b'"') or sep < 0:
        return "is not a job line"
    try:
        job_id, job = codec.loads(entry[: sep + 1]), codec.loads(entry[sep + 2 :])
    except ValueError:
        return "is not valid JSON"
    return (job_id, job) if isinstance(job_id, str) else "is not a job line"


def _one_line(path: Path, data: bytes, problems: Problems) -> Iterator[tuple[int, str, bytes]]:
    whole = read_json(path, dict, data, problems) or {}
    for job_id, job in whole.items():
        problem = job_problem(job)
        if problem is None and job_id != job["id"]:
            problem = f"files job {job['id']!r} under {job_id!r}"
        if problem is None:
            yield 1, job_id, codec.dumps(job)
        else:
            problems.damage(path, 1, f"job {job_id!r} {problem}")


def read_json(path: Path, kind: type, data: bytes, problems: Problems) -> Any:
    """A whole JSON file of the given kind, or None (reported) if it is not."""
    try:
        value = codec.loads(data)
    except ValueError as exc:
        problems.damage(path, 1, f"is not valid JSON ({exc})")
        return None
    if not isinstance(value, kind):
        problems.damage(path, 1, f"should hold a JSON {kind.__name__}")
        return None
    return value


def snapshot_lines(entries: Iterable[tuple[str, bytes]]) -> list[bytes]:
    """The file's content for (id, job JSON) entries, as chunks to write: each line sealed
    and linked to the one before (a job read back from a snapshot keeps its seal if the
    line before it is the same one)."""
    lines = []
    link = NO_LINK
    for job_id, raw in entries:
        key = codec.dumps(job_id) + b":"
        mark = linked_seal_of(raw)
        if mark is not None and mark[HEX:] == link:
            line = key + raw
        else:
            line = seal(key + (raw[:-1] if mark is None else raw[: -len(CRC_KEY) - 2 - 2 * HEX]),
                        link)  # fmt: skip
        link = line[-2 - 2 * HEX : -2 - HEX]
        lines.append(line)
    body = b",\n".join(lines)
    return [b"{\n", body, b"\n}\n" if body else b"}\n"]
