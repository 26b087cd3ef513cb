"""The case database: one SQLite file in the output folder holding every file's results (plain sqlite3).

Per-file rows are committed in batches while the run goes, so a killed run resumes where it
stopped; the analysis tables are rebuilt from them at the end of every run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haven.errors import StorageError, UsageError
from haven.media.evidence import display

SCHEMA_VERSION = "3"  # 2: files.pdq_upscaled; 3: evidence paths escape '#' and undecodable bytes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, source INTEGER NOT NULL, depth INTEGER NOT NULL, size INTEGER,
    mime TEXT, kind TEXT, md5 TEXT, sha1 TEXT, sha256 TEXT, pdq TEXT, pdq_upscaled TEXT, quality INTEGER,
    width INTEGER, height INTEGER, exif TEXT, error_code TEXT, error_message TEXT);
CREATE INDEX IF NOT EXISTS files_md5 ON files(md5);
CREATE TABLE IF NOT EXISTS problems (
    path TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, skipped INTEGER NOT NULL,
    PRIMARY KEY (path, code));
CREATE TABLE IF NOT EXISTS matches (
    path TEXT NOT NULL, bank TEXT, signal TEXT, value TEXT, distance INTEGER, category TEXT,
    category_scheme TEXT, severity INTEGER, series TEXT, victim_identified INTEGER, entry_id INTEGER,
    near INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS analysis (
    path TEXT PRIMARY KEY, status TEXT NOT NULL, dup_group INTEGER, representative INTEGER,
    series INTEGER, priority INTEGER, reasons TEXT);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, files INTEGER, images INTEGER, unknown INTEGER, known INTEGER,
    touches_known INTEGER, known_series TEXT, representative TEXT);
"""

FILE_COLUMNS = (
    "path",
    "source",
    "depth",
    "size",
    "mime",
    "kind",
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "pdq_upscaled",
    "quality",
    "width",
    "height",
    "exif",
    "error_code",
    "error_message",
)


@dataclass
class FileRow:
    """One file's results as stored (``exif`` is a dict; absent values None)."""

    path: str
    source: int
    depth: int
    size: int | None = None
    mime: str | None = None
    kind: str | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_upscaled: str | None = None  # "side:hex side:hex", small images only (haven.hashing.ladder)
    quality: int | None = None
    width: int | None = None
    height: int | None = None
    exif: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Not a column: findings about the file that do not stop it being processed (trailing data …);
    # the run stores them in ``problems`` with the row, in the same transaction.
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def upscaled_values(self) -> dict[int, str]:
        """``pdq_upscaled`` as ``{side: hex}``."""
        return {int(k): v for k, v in (p.split(":") for p in (self.pdq_upscaled or "").split())}

    def set_upscaled_values(self, values: dict[int, str] | None) -> None:
        """Store ``{side: hex}`` in ``pdq_upscaled`` as "side:hex side:hex" (None when empty)."""
        self.pdq_upscaled = " ".join(f"{side}:{value}" for side, value in values.items()) if values else None

    def as_tuple(self) -> tuple[Any, ...]:
        values = [_text(getattr(self, c)) for c in FILE_COLUMNS]
        values[FILE_COLUMNS.index("exif")] = json.dumps(self.exif, sort_keys=True) if self.exif else None
        return tuple(values)

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> FileRow:
        values = dict(zip(FILE_COLUMNS, row, strict=True))
        values["exif"] = json.loads(values["exif"]) if values["exif"] else None
        return cls(**values)


def _text(value: Any) -> Any:
    """A string that SQLite (UTF-8) can store: undecodable bytes kept as surrogates are written ``%XX``."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return display(value)
    return value


class CaseDB:
    """Open (creating if needed) the case database at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open case database {path}: {exc}") from exc

    def close(self) -> None:
        self.conn.close()

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def claim(self, sources: list[str]) -> bool:
        """Bind this database to its sources; True when resuming. A different source list is a UsageError."""
        stored = self.get_meta("sources")
        wanted = json.dumps(sources)
        if stored is None:
            self.set_meta("schema", SCHEMA_VERSION)
            self.set_meta("sources", wanted)
            return False
        schema = self.get_meta("schema")
        if schema != SCHEMA_VERSION:
            raise UsageError(
                f"{self.path.parent} holds a case from another Haven version (case schema {schema}, "
                f"this one writes {SCHEMA_VERSION}); choose a new --out folder"
            )
        if stored != wanted:
            raise UsageError(
                f"{self.path.parent} already holds a case for other sources ({stored}); "
                "choose a new --out folder"
            )
        return True

    # --- per-file rows ----------------------------------------------------------------------
    def done_paths(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT path FROM files")}

    def write(self, rows: Iterable[FileRow], problems: Iterable[tuple[str, str, str, bool]]) -> None:
        """Store a batch of results and problems in one transaction (the unit of resumption)."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                f"INSERT OR REPLACE INTO files({', '.join(FILE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(FILE_COLUMNS))})",
                [r.as_tuple() for r in rows],
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO problems(path, code, message, skipped) VALUES (?, ?, ?, ?)",
                [(_text(p), c, _text(m), int(s)) for p, c, m, s in problems],
            )

    def files(self) -> Iterator[FileRow]:
        """Every file row, ordered by path (the order every output uses)."""
        cur = self.conn.execute(f"SELECT {', '.join(FILE_COLUMNS)} FROM files ORDER BY path")
        for row in cur:
            yield FileRow.from_row(row)

    def problems(self) -> list[tuple[str, str, str, bool]]:
        return [
            (p, c, m, bool(s))
            for p, c, m, s in self.conn.execute(
                "SELECT path, code, message, skipped FROM problems ORDER BY path, code"
            )
        ]
