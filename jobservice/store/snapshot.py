"""The snapshot file, jobs.json: one job per line, so that loading can keep finished jobs as
their JSON bytes (parsed when asked for) instead of building Python objects for all of them.

    {
    "<id>":{"id":"<id>","status":"succeeded",...,"data":...,"output":[...]},
    "<id>":{...}
    }

It is still one JSON object: any JSON reader sees {id: job}, as the original service's file was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import codec
from ..core.models import STATUS_BY_VALUE, Job, Status
from .journal import CorruptFileError

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
        return cls(raw, STATUS_BY_VALUE[head["status"]], head.get("type", "demo"),
                   head["created"], head["updated"], head.get("idempotency_key"))  # fmt: skip

    def job(self) -> Job:
        return Job.from_dict(codec.loads(self.raw))


def _head(raw: bytes) -> dict[str, Any]:
    cut = raw.find(DATA_KEY)
    head: dict[str, Any] = codec.loads(raw[:cut] + b"}" if cut > 0 else raw)
    return head


def read_snapshot(path: Path) -> Iterator[tuple[str, bytes]]:
    """(id, job JSON) for each job in the file; CorruptFileError if it cannot be read."""
    data = path.read_bytes()
    if not data.startswith(b"{\n"):  # one line: written by hand, or by an older version
        yield from ((job_id, codec.dumps(job)) for job_id, job in _whole(path, data).items())
        return
    lines = data.split(b"\n")
    if lines[-1] != b"" or lines[-2] != b"}":
        raise CorruptFileError(f"{path} is cut short; it was left as it is")
    for number, line in enumerate(lines[1:-2], start=2):
        sep = line.find(b'":')
        if not line.startswith(b'"') or sep < 0:
            raise CorruptFileError(f"{path}: line {number} is not a job; it was left as it is")
        yield line[1:sep].decode(), line[sep + 2 :].removesuffix(b",")


def read_json(path: Path, kind: type, data: bytes | None = None) -> Any:
    """A whole JSON file of the given kind; CorruptFileError naming it if it is not."""
    try:
        value = codec.loads(path.read_bytes() if data is None else data)
    except (codec.DecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path} is not valid JSON ({exc}); it was left as it is") from None
    if not isinstance(value, kind):
        raise CorruptFileError(f"{path} should hold a JSON {kind.__name__}; it was left as it is")
    return value


def _whole(path: Path, data: bytes) -> dict[str, Any]:
    whole: dict[str, Any] = read_json(path, dict, data)
    return whole


def snapshot_lines(entries: Iterable[tuple[str, bytes]]) -> list[bytes]:
    """The file's content for (id, job JSON) entries, as chunks to write."""
    body = b",\n".join(codec.dumps(job_id) + b":" + raw for job_id, raw in entries)
    return [b"{\n", body, b"\n}\n" if body else b"}\n"]
