"""Streaming, resumable bank import.

The file is read record by record (bounded memory); every ``batch_size`` rows are inserted in one
transaction that also advances the import's checkpoint (``records_done``) in ``bank_imports`` and logs
the change for matchers. A killed import therefore leaves only whole batches, and running the same import
again (same bank, same file content by SHA-256) skips the records already committed: exactly once.
Bad records are reported with file and line and skipped; the good ones are kept.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import insert, select, update

from haven.banks.formats import detect_format, get_format, open_text
from haven.banks.formats.base import Record
from haven.banks.store import BANKS, IMPORTS, BankStore, entry_row, now
from haven.banks.types import ImportResult
from haven.errors import ConflictError, FileAccessError, FormatError, NotFoundError
from haven.hashing.crypto import digest_file

MAX_MESSAGES = 100


def file_sha256(path: Path) -> str:
    return digest_file(path, ("sha256",))[0]["sha256"]


def import_file(
    store: BankStore,
    bank: str,
    path: str | Path,
    fmt: str | None = None,
    *,
    actor: str | None = None,
    batch_size: int = 10_000,
    again: bool = False,
    on_progress: Callable[[int, int, int], None] | None = None,
    on_error: Callable[[FormatError], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    label: str | None = None,
) -> ImportResult:
    """Import ``path`` into ``bank``; resumes an unfinished import of the same content.

    ``on_progress(records, rows_added, bytes_read)`` is called after each batch; ``on_error`` gets each
    skipped record's FormatError (with ``path`` and ``line``). A finished import of the same content is
    not repeated unless ``again`` (then ``already_done`` is set in the result). ``label`` names the file in
    the result, its messages, errors and the import log (default: its path); the service passes the
    upload's own name, so no server path reaches a client.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise FileAccessError("no such file", path=p, code="not_found") from None
    if p.is_dir():
        raise FileAccessError("is a directory, not a file", path=p, code="is_directory")
    name = label or str(p)
    fmt = (fmt or detect_format(p, label=label)).lower()
    module = get_format(fmt)
    digest = file_sha256(p)
    started = time.perf_counter()

    with store.engine.begin() as conn:
        bank_row = conn.execute(select(BANKS).where(BANKS.c.name == bank)).first()
        if bank_row is None:
            raise NotFoundError(f"no bank named {bank!r}")
        prior = conn.execute(
            select(IMPORTS)
            .where(IMPORTS.c.bank_id == bank_row.id, IMPORTS.c.sha256 == digest, IMPORTS.c.format == fmt)
            .order_by(IMPORTS.c.id.desc())
        ).first()
        if prior is not None and prior.status == "done" and not again:
            return ImportResult(import_id=prior.id, bank=bank, path=name, format=fmt, rows_added=0,
                                records_read=0, errors=0, warnings=0, already_done=True)
        if prior is not None and prior.status == "running":
            import_id, skip = prior.id, int(prior.records_done)
        else:
            import_id = conn.execute(insert(IMPORTS).values(
                bank_id=bank_row.id, path=label or str(p.resolve()), size=size, sha256=digest, format=fmt,
                status="running",
                records_done=0, rows_added=0, errors=0, warnings=0, started_at=now(), actor=actor,
            ).returning(IMPORTS.c.id)).scalar_one()
            skip = 0

    result = ImportResult(import_id=import_id, bank=bank, path=name, format=fmt, resumed_from=skip)
    records = skip
    rows: list[dict[str, Any]] = []
    batch_errors = batch_warnings = 0
    ts = now()

    def note(msg: str) -> None:
        if len(result.messages) < MAX_MESSAGES:
            result.messages.append(msg)

    committed = skip

    def flush(final: bool) -> None:
        nonlocal rows, batch_errors, batch_warnings, committed
        with store.engine.begin() as conn:
            values = {
                "records_done": records,
                "rows_added": IMPORTS.c.rows_added + len(rows),
                "errors": IMPORTS.c.errors + batch_errors,
                "warnings": IMPORTS.c.warnings + batch_warnings,
            }
            if final:
                values.update(status="done", finished_at=now())
            # Compare-and-set on the checkpoint: if another process runs the same import at the same
            # time, one of them fails here and rolls back its batch instead of adding rows twice.
            moved = conn.execute(
                update(IMPORTS)
                .where(
                    IMPORTS.c.id == import_id,
                    IMPORTS.c.records_done == committed,
                    IMPORTS.c.status == "running",
                )
                .values(**values)
            ).rowcount
            if moved != 1:
                raise ConflictError(f"import #{import_id} of {name} is being run by another process")
            store.insert_rows(conn, bank_row.id, rows, actor=actor)
        committed = records
        result.rows_added += len(rows)
        rows = []
        batch_errors = batch_warnings = 0
        if on_progress is not None:
            on_progress(records, result.rows_added, bytes_pos())

    with open_text(p) as stream:

        def bytes_pos() -> int:
            try:
                return int(stream.buffer.tell())  # type: ignore[attr-defined]
            except (OSError, ValueError):
                return 0

        # Records before the checkpoint were committed by an earlier, interrupted run: skip them
        # (unparsed where the reader supports it, which the big-file CSV reader does).
        fast_skip = "skip" in inspect.signature(module.read).parameters
        if fast_skip:
            reader = cast(Any, module).read(stream, name, skip=skip)
        else:
            reader = module.read(stream, name)
        try:
            for n, item in enumerate(reader, skip if fast_skip else 0):
                if n < skip:
                    continue
                records += 1
                result.records_read += 1
                if isinstance(item, FormatError):
                    batch_errors += 1
                    result.errors += 1
                    note(item.message)
                    if on_error is not None:
                        on_error(item)
                    continue
                assert isinstance(item, Record)
                for w in item.warnings:
                    batch_warnings += 1
                    result.warnings += 1
                    note(f"{name}: warning: {w}")
                    if on_warning is not None:
                        on_warning(f"{name}: {w}")
                for e in item.entries:
                    try:
                        rows.append(
                            entry_row(e, bank_id=bank_row.id, import_id=import_id, actor=actor, at=ts)
                        )
                    except FormatError as exc:
                        err = FormatError(exc.message, path=name, line=item.line, code=exc.code)
                        batch_errors += 1
                        result.errors += 1
                        note(err.message)
                        if on_error is not None:
                            on_error(err)
                if len(rows) >= batch_size:
                    flush(final=False)
        except UnicodeDecodeError as exc:
            flush(final=False)  # keep what was read before the break (resumable like a kill)
            raise FormatError(f"not UTF-8 text near record {records + 1}: {exc.reason}", path=name) from None
        except FormatError:
            flush(final=False)
            raise
        flush(final=True)
    result.seconds = time.perf_counter() - started
    return result
