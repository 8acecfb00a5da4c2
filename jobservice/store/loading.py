"""Reading a data directory back, file by file, in load order: each file checked against the
manifest, each line against its checksum, and the journals' sequence numbers for a gap.

What a crash can leave is never damage: a snapshot cut off after its commit (finished here), a
journal the snapshot already covers (skipped), a torn last line (dropped with a note).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .integrity import Problems, linked_seal_of
from .journal import read_journal
from .manifest import JOBS_FILE, MANIFEST_FILE, QUEUE_FILE, Manifest, committed
from .mark import MARK_FILE, decode_mark
from .snapshot import read_json, read_snapshot

logger = logging.getLogger(__name__)

JOURNAL_GLOB = "journal-*.jsonl"


def generation(path: Path) -> int:
    return int(path.stem.removeprefix("journal-"))


def journal_path(data_dir: Path, number: int) -> Path:
    return data_dir / f"journal-{number:06d}.jsonl"


def journals(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob(JOURNAL_GLOB), key=generation)


class StoreFiles:
    """One reading of a data directory. The store asks for the snapshot's lines, then the
    journals' records, then the queue, and learns where to carry on (`generation`, `seq`).
    `finish`: complete a snapshot that a crash cut off after its commit (renames a file)."""

    def __init__(self, data_dir: Path, problems: Problems, finish: bool) -> None:
        self.data_dir = data_dir
        self.problems = problems
        self.finish = finish
        self.journals = 0
        # Some file has no checksums (an older version wrote it): snapshot soon.
        self.unsealed = False
        self._unsealed_files: set[Path] = set()
        self._count: tuple[Path, int] | None = None
        self._last = ""
        self.manifest = manifest = self._read_manifest()
        # Files are written with checksums (once there is a manifest, or was one).
        self._sealed = manifest is not None or (data_dir / MANIFEST_FILE).exists()
        # Journals up to this one, and records up to `seq`, are in the snapshot; None: not
        # known (the manifest is damaged or lost), so the first record sets it.
        self.generation = manifest.journal if manifest else 0
        self.seq: int | None = manifest.seq if manifest else None if self._sealed else 0

    def _read_manifest(self) -> Manifest | None:
        path = self.data_dir / MANIFEST_FILE
        try:
            return Manifest.decode(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            self.problems.damage(path, 1, str(exc))
            return None

    def snapshot(self) -> Iterator[tuple[int, str, bytes]]:
        """(line number, id, job JSON) for each job in jobs.json."""
        path = self.data_dir / JOBS_FILE
        data, state = self._data(path, self.manifest.jobs_file if self.manifest else None)
        if data is None:
            return iter(())
        sealed = self._sealed or _first_line_sealed(data)
        if sealed and not self._sealed:
            self.problems.damage(self.data_dir / MANIFEST_FILE, None,
                                 f"is missing, but {JOBS_FILE} was written with one")  # fmt: skip
            self.seq = None
        elif not sealed:
            self._unsealed(path)
        if sealed and not data.startswith(b"{\n"):
            self.problems.damage(path, 1, f"is not laid out one job per line, so {MANIFEST_FILE} "
                                 f"describes another file (to load a {JOBS_FILE} written by "
                                 f"hand, remove {MANIFEST_FILE})")  # fmt: skip
        elif self.manifest and state != "as written":
            # Checked once its lines have been (records() comes next): a line named first.
            self._count = (path, data.count(b"\n") - 2)  # "{", one line per job, "}"
        # The store iterates this directly: no generator of ours in between, per line.
        return read_snapshot(path, data, self.problems, state != "as written", sealed)

    def queue(self) -> list[str]:
        """queue.json's ids: the order pending jobs were queued in."""
        path = self.data_dir / QUEUE_FILE
        data, state = self._data(path, self.manifest.queue_file if self.manifest else None)
        if data is None:
            return []
        if state == "differs":
            self.problems.damage(path, 1, f"does not match its checksum in {MANIFEST_FILE}")
            return []
        ids = read_json(path, list, data, self.problems) or []
        if all(isinstance(job_id, str) for job_id in ids):
            return ids
        self.problems.damage(path, 1, "should hold job ids (strings)")
        return []

    def _data(self, path: Path, expected: Any) -> tuple[bytes | None, str]:
        """The file's bytes and how they compare with the manifest ("as written", "staged",
        "differs", or "unchecked" without a manifest); None if it is missing."""
        if expected is None:
            try:
                return path.read_bytes(), "unchecked"
            except FileNotFoundError:
                return None, "unchecked"
        data, state = committed(path, expected, self.finish)
        if state == "staged":
            done = "finished now" if self.finish else "the service finishes it when it starts"
            self.problems.note(path, None, f"a crash cut off writing the snapshot after its "
                               f"commit; the new file was beside its place ({done})")  # fmt: skip
        if data is None:
            self.problems.damage(path, None, f"is missing, but {MANIFEST_FILE} describes it")
        return data, state

    def _unsealed(self, path: Path) -> None:
        if path not in self._unsealed_files:
            self.problems.note(path, None, "has no checksums (an older version wrote it): "
                               "loaded as it is; the next snapshot, written at once, has them",
                               logging.INFO)  # fmt: skip
            self._unsealed_files.add(path)
        self.unsealed = True

    def records(self) -> Iterator[tuple[Path, int, dict[str, Any]]]:
        """(journal, line number, record) for each journal record the snapshot does not hold,
        in order."""
        if self._count is not None and self.manifest is not None:
            path, lines = self._count
            if lines != self.manifest.jobs:
                self.problems.damage(path, None, f"holds {lines} jobs where {MANIFEST_FILE} "
                                     f"counts {self.manifest.jobs}")  # fmt: skip
        for path in journals(self.data_dir):
            if generation(path) <= self.generation:
                continue  # in the snapshot already: a crash came before it was deleted
            self.generation = max(self.generation, generation(path))
            self.journals += 1
            for number, seq, record in read_journal(path, self.problems, self._sealed):
                if seq is None:
                    self._unsealed(path)
                elif not self._in_sequence(path, number, seq):
                    continue
                yield path, number, record
        self._check_mark()

    def _check_mark(self) -> None:
        """Records the mark says were on disk must all be there (the newest journal's end)."""
        path = self.data_dir / MARK_FILE
        try:
            marked = decode_mark(path.read_bytes())
        except FileNotFoundError:
            return
        except ValueError as exc:
            self.problems.damage(path, 1, str(exc))
            return
        last = self.seq or 0
        if last >= marked:
            return
        where = f"no journal holds records after {last}"
        if self._last:
            where = f"the last record is {last} ({self._last})"
        self.problems.damage(path, None, f"says records up to {marked} were on disk, but "
                             f"{where}: records {last + 1} to {marked} are missing (the newest "
                             "journal cut short, or removed)")  # fmt: skip

    def _in_sequence(self, path: Path, number: int, seq: int) -> bool:
        """Whether the record comes next; a gap is damage (records are missing), a number
        seen already is damage and the record is skipped."""
        expected = seq if self.seq is None else self.seq + 1
        if seq > expected:
            gap = f"records {expected} to {seq - 1} are" if seq > expected + 1 else None
            missing = gap or f"record {expected} is"
            self.problems.damage(path, number, f"{missing} missing: this line holds record "
                                 f"{seq}, and {self._before(expected - 1)}. A journal was cut "
                                 "short or removed")  # fmt: skip
        elif seq < expected:
            self.problems.damage(path, number, f"holds record {seq} again (expected {expected})")
            return False
        self.seq, self._last = seq, f"{path.name}:{number}"
        return True

    def _before(self, last: int) -> str:
        if self._last:
            return f"the record before it is {last} ({self._last})"
        if self.manifest is not None:
            return f"{JOBS_FILE} holds the records up to {last}"
        return f"there is no {MANIFEST_FILE} to say that a snapshot holds them"


def _first_line_sealed(data: bytes) -> bool:
    end = data.find(b"\n", 2)
    line = data[2:end].removesuffix(b",")
    return data.startswith(b"{\n") and end > 0 and linked_seal_of(line) is not None
