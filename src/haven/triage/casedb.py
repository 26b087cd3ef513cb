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
from haven.signals import (
    Input,
    Md5Signal,
    PdqSignal,
    Sha1Signal,
    Sha256Signal,
    SignalType,
    Variant,
    all_signals,
)

SCHEMA_VERSION = "6"  # 3: one column per signal (and per signal quality), variants as JSON;
# 4: evidence paths escape '#' in member names and bytes that are not UTF-8 ("%FF"), and number duplicates;
# 5: video signals (vPDQ) have columns too
# 6: the image decode is recorded (meta ``image_decode``; exact by default, where 5 hashed with the fast one)

#: Which signals triage's analysis leans on: near-duplicates and series are PDQ distances (in bits of
#: 256), identical copies share an MD5 (what VICS keys media by), and the court record uses SHA-256.
PDQ, MD5, SHA1, SHA256 = (s.name for s in (PdqSignal, Md5Signal, Sha1Signal, Sha256Signal))


def case_signals() -> list[type[SignalType]]:
    """The signals a case records, from the registry: digests of the bytes first, then image and video
    signals."""
    rank = {Input.BYTES: 0, Input.IMAGE: 1, Input.VIDEO: 2}
    return sorted((s for s in all_signals() if s.input in rank), key=lambda s: rank[s.input])


def signal_columns(signals: Iterable[type[SignalType]]) -> list[str]:
    """Each signal's value column, followed by its quality column where the signal rates its values."""
    return [
        c for s in signals for c in ((s.name, s.quality_key()) if s.min_quality is not None else (s.name,))
    ]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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

_HEAD = ("path", "source", "depth", "size", "mime", "kind")
_TAIL = ("variants", "width", "height", "exif", "error_code", "error_message")


def _files_table(signals: list[type[SignalType]]) -> str:
    typed = {
        "source": "INTEGER NOT NULL",
        "depth": "INTEGER NOT NULL",
        "size": "INTEGER",
        "width": "INTEGER",
        "height": "INTEGER",
        **{s.quality_key(): "INTEGER" for s in signals if s.min_quality is not None},
    }
    cols = ", ".join(f"{c} {typed.get(c, 'TEXT')}" for c in (*_HEAD, *signal_columns(signals), *_TAIL))
    return (
        f"CREATE TABLE IF NOT EXISTS files ({cols.replace('path TEXT', 'path TEXT PRIMARY KEY', 1)});\n"
        f"CREATE INDEX IF NOT EXISTS files_{MD5} ON files({MD5});\n"
    )


def _text(value: Any) -> Any:
    """A string that SQLite (UTF-8) can store: undecodable bytes kept as surrogates are written ``%XX``."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return display(value)
    return value


@dataclass
class FileRow:
    """One file's results as stored (``exif`` is a dict; absent values None or left out of the dicts).

    ``hashes``/``quality``/``variants`` by signal name, as ``haven.hashing.HashResult`` has them, so a row
    is matched by ``Matcher.match_results`` like any hashed input."""

    path: str
    source: int
    depth: int
    size: int | None = None
    mime: str | None = None
    kind: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    quality: dict[str, int] = field(default_factory=dict)
    variants: dict[str, tuple[Variant, ...]] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    exif: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Not a column: findings about the file that do not stop it being processed (trailing data …);
    # the run stores them in ``problems`` with the row, in the same transaction.
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def get(self, signal: str) -> str | None:
        return self.hashes.get(signal)

    def set_hashes(self, result: Any) -> None:
        """Take the values, qualities and variants of a ``HashResult``."""
        self.hashes.update(result.hashes)
        self.quality.update(result.quality)
        self.variants.update(result.variants)

    def as_tuple(self, signals: list[type[SignalType]]) -> tuple[Any, ...]:
        values: list[Any] = [getattr(self, c) for c in _HEAD]
        for s in signals:
            values.append(self.hashes.get(s.name))
            if s.min_quality is not None:
                values.append(self.quality.get(s.name))
        variants = {
            sig: [[v.family, v.key, v.value, v.fallback] for v in vs]
            for sig, vs in self.variants.items()
            if vs
        }
        values.append(json.dumps(variants, sort_keys=True) if variants else None)
        values += [
            self.width,
            self.height,
            json.dumps(self.exif, sort_keys=True) if self.exif else None,
            self.error_code,
            self.error_message,
        ]
        return tuple(_text(v) for v in values)

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...], signals: list[type[SignalType]]) -> FileRow:
        it = iter(row)
        head = {c: next(it) for c in _HEAD}
        hashes: dict[str, str] = {}
        quality: dict[str, int] = {}
        for s in signals:
            value = next(it)
            if value is not None:
                hashes[s.name] = value
            if s.min_quality is not None:
                q = next(it)
                if q is not None:
                    quality[s.name] = q
        raw_variants, width, height, exif, error_code, error_message = it
        variants = {
            sig: tuple(Variant(f, k, v, bool(fb)) for f, k, v, fb in vs)
            for sig, vs in (json.loads(raw_variants) if raw_variants else {}).items()
        }
        return cls(
            **head,
            hashes=hashes,
            quality=quality,
            variants=variants,
            width=width,
            height=height,
            exif=json.loads(exif) if exif else None,
            error_code=error_code,
            error_message=error_message,
        )


class CaseDB:
    """Open (creating if needed) the case database at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            self.signals = self._signals()
            self.columns = (*_HEAD, *signal_columns(self.signals), *_TAIL)
            self.conn.executescript(_files_table(self.signals))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open case database {path}: {exc}") from exc

    def _signals(self) -> list[type[SignalType]]:
        """The signals this case records: fixed when it is created, so a resumed run writes the same
        columns even if a signal plugin was installed since."""
        stored = self.get_meta("signals")
        if stored is None:
            signals = case_signals()
            self.set_meta("signals", json.dumps([s.name for s in signals]))
            return signals
        from haven.signals import get_signal

        try:
            return [get_signal(name) for name in json.loads(stored)]
        except UsageError as exc:
            raise UsageError(
                f"{self.path.parent} holds a case hashed with a signal this installation lacks "
                f"({exc.message}); install it or choose a new --out folder"
            ) from None

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

    def claim_decode(self, decode: str) -> None:
        """Bind the case to its image decode (``exact`` or ``fast``): a resumed run must hash the rest the
        same way, or one column would hold values of two kinds."""
        stored = self.get_meta("image_decode")
        if stored is None:
            self.set_meta("image_decode", decode)
        elif stored != decode:
            flag = "--fast" if stored == "fast" else "no --fast"
            raise UsageError(
                f"{self.path.parent} holds a case hashed with the {stored} image decode; resume it with "
                f"{flag}, or choose a new --out folder"
            )

    # --- per-file rows ----------------------------------------------------------------------
    def done_paths(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT path FROM files")}

    def write(self, rows: Iterable[FileRow], problems: Iterable[tuple[str, str, str, bool]]) -> None:
        """Store a batch of results and problems in one transaction (the unit of resumption)."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                f"INSERT OR REPLACE INTO files({', '.join(self.columns)}) "
                f"VALUES ({', '.join('?' * len(self.columns))})",
                [r.as_tuple(self.signals) for r in rows],
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO problems(path, code, message, skipped) VALUES (?, ?, ?, ?)",
                [(_text(p), c, _text(m), int(s)) for p, c, m, s in problems],
            )

    def files(self) -> Iterator[FileRow]:
        """Every file row, ordered by path (the order every output uses)."""
        cur = self.conn.execute(f"SELECT {', '.join(self.columns)} FROM files ORDER BY path")
        for row in cur:
            yield FileRow.from_row(row, self.signals)

    def problems(self) -> list[tuple[str, str, str, bool]]:
        return [
            (p, c, m, bool(s))
            for p, c, m, s in self.conn.execute(
                "SELECT path, code, message, skipped FROM problems ORDER BY path, code"
            )
        ]
