"""``haven spark import``: very large hash lists into a bank, in parallel and resumable.

The driver cuts each file into pieces at record boundaries (``haven.banks.chunks``); each Spark task
writes its piece out and imports it with the ordinary ``import_file`` through ``BankStore`` — the same
parsing, validation, batching and change log as ``haven bank import``, and its exactly-once rule per
piece: a rerun (same file, same piece size) finds the finished pieces done and resumes an interrupted
one from its checkpoint. When every piece is in, the driver brings the saved index up to date, so
matchers start from it instead of reading the new rows one by one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from haven.banks import BankStore
from haven.banks.chunks import Piece, file_line, plan, write_piece
from haven.banks.formats import detect_format, get_format
from haven.banks.importer import import_file
from haven.errors import FileAccessError, FormatError
from haven.matching import Matcher

MAX_MESSAGES = 100


@dataclass
class ImportSummary:
    bank: str
    files: int = 0
    pieces: int = 0
    pieces_done_before: int = 0  # finished by an earlier run: skipped
    pieces_resumed: int = 0
    records: int = 0
    rows_added: int = 0
    errors: int = 0
    warnings: int = 0
    messages: list[str] = field(default_factory=list)
    index: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _stage_name(path: str, fmt: str, target: int) -> str:
    st = os.stat(path)
    key = f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{fmt}\0{target}"
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def import_piece(
    piece: Piece, fmt: str, bank: str, database_url: str, stage: str, actor: str | None
) -> dict[str, Any]:
    """One task: write the piece, import it through ``BankStore``, remove it when its import is done."""
    out = write_piece(piece, Path(stage))
    messages: list[str] = []

    def note(exc: FormatError) -> None:
        if len(messages) < MAX_MESSAGES:
            text = exc.message.split(": ", 2)[-1] if exc.line is not None else exc.message
            messages.append(f"{piece.path}:{file_line(piece, exc.line)}: {text}")

    with BankStore(database_url) as store:
        result = import_file(store, bank, out, fmt, actor=actor, on_error=note)
    out.unlink(missing_ok=True)
    return {
        "records": result.records_read,
        "rows_added": result.rows_added,
        "errors": result.errors,
        "warnings": result.warnings,
        "done_before": result.already_done,
        "resumed": result.resumed_from > 0,
        "messages": messages,
    }


def run_import(
    spark: SparkSession,
    files: Sequence[str],
    bank: str,
    *,
    database_url: str,
    stage_dir: Path,
    index_dir: Path | None,
    fmt: str | None = None,
    piece_bytes: int = 64 * 1024 * 1024,
    actor: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import ``files`` into ``bank`` (see the module docstring); ``stage_dir`` must be reachable by every
    executor (a shared folder on a cluster)."""
    with BankStore(database_url) as store:
        store.get_bank(bank)  # NotFoundError before any work
    summary = ImportSummary(bank=bank, files=len(files))
    work: list[tuple[Piece, str, str]] = []
    for name in files:
        if not os.path.isfile(name):
            raise FileAccessError("no such file" if not os.path.exists(name) else "not a file", path=name)
        kind = (fmt or detect_format(name)).lower()
        get_format(kind)
        stage = stage_dir / _stage_name(name, kind, piece_bytes)
        work.extend((p, kind, str(stage)) for p in plan(name, kind, piece_bytes))
    summary.pieces = len(work)
    sc = spark.sparkContext
    group = f"haven-import-{bank}-{os.getpid()}"
    sc.setJobGroup(group, f"haven spark import: {len(work)} pieces into {bank}")
    from haven.spark.scan import _Watch

    watch = _Watch(sc, group, 0, len(work), len(work), on_progress)
    watch.start()
    try:
        results = (
            sc.parallelize(work, max(1, len(work)))
            .map(lambda w: import_piece(w[0], w[1], bank, database_url, w[2], actor))
            .collect()
        )
    finally:
        watch.stop()
    for r in results:
        summary.records += r["records"]
        summary.rows_added += r["rows_added"]
        summary.errors += r["errors"]
        summary.warnings += r["warnings"]
        summary.pieces_done_before += r["done_before"]
        summary.pieces_resumed += r["resumed"]
        summary.messages.extend(r["messages"][: MAX_MESSAGES - len(summary.messages)])
    for folder in {w[2] for w in work}:
        shutil.rmtree(folder, ignore_errors=True)
    if on_progress is not None:
        on_progress(len(work), len(work))
    if index_dir is not None:
        with BankStore(database_url) as store:
            summary.index = str(Matcher(store, index_dir=index_dir, auto_refresh=None).save_index())
    return summary
