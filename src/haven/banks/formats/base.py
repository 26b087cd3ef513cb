"""What every bank file format provides: a streaming reader of records and a writer of entries.

A *record* is one logical item of the file (a CSV row, a VICS Media object, an HMA content object)
and may carry several entries (e.g. MD5 + SHA-1 of one Media). Readers yield ``Record`` or, for a
bad record, the ``FormatError`` naming its line, and go on; only a file that cannot be read any further
(broken JSON structure) raises. Record order is deterministic, which is what makes imports resumable.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from haven.banks.types import Entry, EntryIn
from haven.errors import FileAccessError, FormatError


@dataclass
class Record:
    line: int
    entries: list[EntryIn]
    warnings: list[str] = field(default_factory=list)


@dataclass
class WriteStats:
    written: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def skip(self, why: str) -> None:
        self.skipped += 1
        if len(self.warnings) < 20:
            self.warnings.append(why)


class Format(Protocol):
    """What each format module offers (``haven_csv``, ``pytx``, ``hma``, ``vics``, ``hash_json``)."""

    name: str
    description: str

    def looks_like(self, head: str) -> bool: ...

    def read(self, stream: IO[str], path: str) -> Iterator[Record | FormatError]: ...

    def write(self, entries: Iterable[Entry], out: IO[str], *, bank: str) -> WriteStats: ...


def open_text(path: str | Path) -> io.TextIOWrapper:
    """Open a hash-list file as text: UTF-8 with an optional BOM (Project VIC files often have one)."""
    p = Path(path)
    try:
        raw = p.open("rb")
    except FileNotFoundError as exc:
        raise FileAccessError("no such file", path=p, code="not_found") from exc
    except IsADirectoryError as exc:
        raise FileAccessError("is a directory, not a file", path=p, code="is_directory") from exc
    except PermissionError as exc:
        raise FileAccessError("permission denied", path=p, code="permission_denied") from exc
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")


def parse_bool(value: object, *, what: str) -> bool | None:
    """``true``/``false`` (any case, or JSON booleans), ``1``/``0``, empty → None; else FormatError."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no"):
        return False
    raise FormatError(f"{what} must be true or false, got {value!r:.40}")


def bool_text(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")
