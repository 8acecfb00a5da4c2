"""Checksums on stored lines, the shapes a stored job and a journal record must have, and the
problems found while reading them back."""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..core import codec
from ..core.errors import CorruptFileError
from ..core.models import STATUS_BY_VALUE

logger = logging.getLogger(__name__)

# A sealed JSON object ends with this member: the CRC-32 of every byte before it, in hex, and
# for a snapshot line the CRC-32 of the line before it (so a line taken out is noticed).
CRC_KEY = b',"crc":"'
HEX = 8
NO_LINK = b"0" * HEX


def seal(head: bytes, link: bytes | None = None) -> bytes:
    """`head` is a JSON object without its closing brace: add its checksum as the last member,
    followed by `link` (the previous line's checksum) if given."""
    return b'%s%s%08x%s"}' % (head, CRC_KEY, zlib.crc32(head), link or b"")


class Seal(NamedTuple):
    intact: bool  # the bytes before the member match its checksum
    own: bytes  # the checksum, as written
    link: bytes  # the previous line's checksum, as written (empty if not linked)


def read_seal(sealed: bytes, linked: bool = False) -> Seal | None:
    """The object's seal, checked; None if it has none (written by an older version)."""
    size = 2 * HEX if linked else HEX
    start = len(sealed) - len(CRC_KEY) - size - 2
    value = start + len(CRC_KEY)
    if start < 0 or sealed[start:value] != CRC_KEY or sealed[-2:] != b'"}':
        return None
    own, link = sealed[value : value + HEX], sealed[value + HEX : value + size]
    return Seal(b"%08x" % zlib.crc32(memoryview(sealed)[:start]) == own, own, link)


def read_sealed(data: bytes) -> dict[str, Any]:
    """A file of one sealed JSON object (a manifest, a mark), read and checked; ValueError
    saying what is wrong if its checksum does not match."""
    line = data.removesuffix(b"\n")
    sealed = read_seal(line)
    if sealed is None or not sealed.intact:
        raise ValueError("does not match its checksum")
    fields: dict[str, Any] = codec.loads(line)
    return fields


def linked_seal_of(raw: bytes) -> bytes | None:
    """The (own, link) hex of a snapshot job's JSON if it carries one, without checking it."""
    start = len(raw) - len(CRC_KEY) - 2 * HEX - 2
    if start < 0 or raw[start : start + len(CRC_KEY)] != CRC_KEY:
        return None
    return raw[start + len(CRC_KEY) : -2]


class Digest(NamedTuple):
    """A whole file's size and CRC-32: one C call checks a snapshot of a million jobs."""

    size: int
    crc: int

    @classmethod
    def of(cls, *chunks: bytes) -> Digest:
        crc = 0
        for chunk in chunks:
            crc = zlib.crc32(chunk, crc)
        return cls(sum(map(len, chunks)), crc)


# Types a stored job's fields must have for the service to use it (bool is not an int here).
REQUIRED: dict[str, tuple[type, ...]] = {"id": (str,), "status": (str,), "created": (int,),
                                         "updated": (int,)}  # fmt: skip
OPTIONAL: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "attempts": (int,),
    "priority": (int,),
    "run_at": (int,),
    "max_attempts": (int,),
    "error": (str, type(None)),
    "started": (int, type(None)),
    "timeout": (int, float, type(None)),
    "idempotency_key": (str, type(None)),
    "output": (list, type(None)),
}


def job_problem(job: Any) -> str | None:
    """What is wrong with a stored job's shape, or None."""
    if not isinstance(job, dict):
        return "is not a job (a JSON object)"
    for name, kinds in REQUIRED.items():
        if type(job.get(name)) not in kinds:
            return f"is not a job: its {name!r} is missing or not a {kinds[0].__name__}"
    for name, kinds in OPTIONAL.items():
        if name in job and type(job[name]) not in kinds:
            return f"is not a job: its {name!r} is not a {kinds[0].__name__}"
    if job["status"] not in STATUS_BY_VALUE:
        return f"is not a job: status {job['status']!r} is not one the service knows"
    return None


def record_problem(record: Any) -> str | None:
    """What is wrong with a journal record's shape, or None."""
    if isinstance(record, dict) and len(record) == 1:
        if "put" in record:
            problem = job_problem(record["put"])
            return None if problem is None else f"puts a job that {problem}"
        if isinstance(record.get("del"), str):
            return None
    return 'is not a journal record ({"put": job} or {"del": id})'


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int | None
    what: str
    damage: bool = True  # False: noted, and the service starts anyway

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.what}"


def advice(data_dir: Path) -> str:
    return (
        "The service does not start on damaged files, and left them as they are. "
        f"Run `jobservice check {data_dir}` to list the damage, then "
        f"`jobservice check --fix {data_dir}` to set the damaged files aside in "
        f"{data_dir}/damaged-<time>/ (nothing is deleted) and start with every intact job."
    )


class Problems:
    """What reading a data directory finds: the service stops at the first damage (strict),
    a check collects everything."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.found: list[Problem] = []

    @property
    def damaged(self) -> bool:
        return any(problem.damage for problem in self.found)

    def damage(self, path: Path, line: int | None, what: str) -> None:
        problem = Problem(path, line, what)
        if self.strict:
            raise CorruptFileError(f"{problem}. {advice(path.parent)}")
        self.found.append(problem)

    def note(self, path: Path, line: int | None, what: str, level: int = logging.WARNING) -> None:
        """Something the service starts with anyway; it logs it."""
        problem = Problem(path, line, what, damage=False)
        if self.strict:
            logger.log(level, "%s", problem)
        self.found.append(problem)
