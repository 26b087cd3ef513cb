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

from sqlalchemy import Connection, insert, select, update

from haven.banks.existing import BankValues
from haven.banks.formats import detect_format, get_format, open_text
from haven.banks.formats.base import Record
from haven.banks.store import BANKS, IMPORTS, BankStore, entry_row, now
from haven.banks.types import ImportResult
from haven.errors import ConflictError, FileAccessError, FormatError, NotFoundError
from haven.hashing.crypto import digest_file

MAX_MESSAGES = 100


def file_sha256(path: Path) -> str:
    return digest_file(path, ("sha256",))[0]["sha256"]


#: Under a format given explicitly, this many bad records before the first good one stop the import with
#: a hint naming the format the file looks like (when it looks like another one).
WRONG_FORMAT_AFTER = 5


def import_file(
    store: BankStore,
    bank: str,
    path: str | Path,
    fmt: str | None = None,
    *,
    actor: str | None = None,
    batch_size: int = 10_000,
    again: bool = False,
    force: bool = False,
    label: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    on_error: Callable[[FormatError], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import ``path`` into ``bank``; resumes an unfinished (interrupted or killed) import of the same
    content. Values the bank already holds are not added again (``duplicates``).

    ``on_progress(records, rows_added, bytes_read)`` is called after each batch; ``on_error`` gets each
    skipped record's FormatError (with ``path`` and ``line``). A finished import of the same content that
    added rows is not repeated unless ``again`` (then ``already_done`` is set in the result). Values a signal
    calls weak (``SignalType.weak_value``: an all-zero PDQ, the digest of an empty file) are skipped as
    bad records unless ``force``. ``label`` names the file in the result, its messages, errors and the
    import log (default: its path): the service passes the upload's own name, so no server path reaches a
    client, and the CLI ``-`` for stdin's spool file.
    Ctrl-C (or any error) marks the import ``interrupted``; running it again resumes it. A shell that
    catches Ctrl-C itself passes ``should_stop``: checked between records, so the stop (a
    KeyboardInterrupt) never lands inside a database transaction.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise FileAccessError("no such file", path=p, code="not_found") from None
    if p.is_dir():
        raise FileAccessError("is a directory, not a file", path=p, code="is_directory")
    forced = fmt is not None
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
        # A finished import that added nothing (every row bad, or already held) is not "already imported".
        if prior is not None and prior.status == "done" and prior.rows_added > 0 and not again:
            return ImportResult(
                import_id=prior.id,
                bank=bank,
                path=name,
                format=fmt,
                rows_added=0,
                records_read=0,
                errors=0,
                warnings=0,
                already_done=True,
            )
        if prior is not None and prior.status in ("running", "interrupted"):
            import_id, skip = prior.id, int(prior.records_done)
            conn.execute(update(IMPORTS).where(IMPORTS.c.id == import_id).values(status="running"))
        else:
            import_id = conn.execute(
                insert(IMPORTS)
                .values(
                    bank_id=bank_row.id,
                    path=label or str(p.resolve()),
                    size=size,
                    sha256=digest,
                    format=fmt,
                    status="running",
                    records_done=0,
                    rows_added=0,
                    errors=0,
                    warnings=0,
                    started_at=now(),
                    actor=actor,
                )
                .returning(IMPORTS.c.id)
            ).scalar_one()
            skip = 0

    result = ImportResult(import_id=import_id, bank=bank, path=name, format=fmt, resumed_from=skip)
    held = BankValues(bank_row.id)
    records = skip
    rows: list[dict[str, Any]] = []
    batch_errors = batch_warnings = 0
    good = 0  # records that gave at least one row, in this run
    stopped: list[str] = []  # set once the import has been stopped with a --format hint
    ts = now()

    def note(msg: str) -> None:
        if len(result.messages) < MAX_MESSAGES:
            result.messages.append(msg)

    committed = skip

    def flush(final: bool) -> None:
        nonlocal rows, batch_errors, batch_warnings, committed
        with store.engine.begin() as conn:
            new = _new_rows(conn, held, rows)
            values = {
                "records_done": records,
                "rows_added": IMPORTS.c.rows_added + len(new),
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
            ids = store.insert_rows(conn, bank_row.id, new, actor=actor)
            for signal, (signal_values, signal_ids) in _by_signal(new, ids).items():
                held.added(conn, signal, signal_values, signal_ids)
        committed = records
        result.rows_added += len(new)
        result.duplicates += len(rows) - len(new)
        rows = []
        batch_errors = batch_warnings = 0
        if on_progress is not None:
            on_progress(records, result.rows_added, bytes_pos())

    def bad(err: FormatError) -> None:
        nonlocal batch_errors
        batch_errors += 1
        result.errors += 1
        note(err.message)
        if on_error is not None:
            on_error(err)
        if forced and good == 0 and result.errors == WRONG_FORMAT_AFTER and skip == 0:
            hint = _format_hint(p, fmt)
            if hint:
                stopped.append("failed")
                raise FormatError(
                    f"the first {WRONG_FORMAT_AFTER} records of {name} are not valid {fmt}; {hint}", path=p
                )

    try:
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
                    if should_stop is not None and should_stop():
                        raise KeyboardInterrupt
                    records += 1
                    result.records_read += 1
                    if isinstance(item, FormatError):
                        bad(item)
                        continue
                    assert isinstance(item, Record)
                    for w in item.warnings:
                        batch_warnings += 1
                        result.warnings += 1
                        note(f"{name}: warning: {w}")
                        if on_warning is not None:
                            on_warning(f"{name}: {w}")
                    before = len(rows)
                    for e in item.entries:
                        try:
                            rows.append(
                                entry_row(e, bank_id=bank_row.id, import_id=import_id, actor=actor, at=ts,
                                          force=force)
                            )
                        except FormatError as exc:
                            bad(FormatError(exc.message, path=name, line=item.line, code=exc.code))
                    good += len(rows) > before
                    if len(rows) >= batch_size:
                        flush(final=False)
            except UnicodeDecodeError as exc:
                flush(final=False)  # keep what was read before the break (resumable like a kill)
                raise FormatError(
                    f"not UTF-8 text near record {records + 1}: {exc.reason}", path=name
                ) from None
            except FormatError as exc:
                flush(final=False)
                hint = _format_hint(p, fmt) if forced and good == 0 and skip == 0 else None
                if hint and not stopped:
                    stopped.append("failed")
                    raise FormatError(f"{exc.message}; {hint}", code=exc.code) from None
                raise
            flush(final=True)
    except ConflictError:
        raise  # another process runs this import: its status is its own
    except FormatError:
        _stop(store, import_id, "failed")  # the file cannot be read on: running it again would not help
        raise
    except BaseException:
        # Ctrl-C, a lost database, a crash: name as interrupted (running it again resumes it).
        _stop(store, import_id, "interrupted")
        raise
    result.seconds = time.perf_counter() - started
    return result


def _stop(store: BankStore, import_id: int, status: str) -> None:
    """Mark a running import ``interrupted`` or ``failed`` (best effort: the database may be what failed)."""
    try:
        with store.engine.begin() as conn:
            conn.execute(
                update(IMPORTS)
                .where(IMPORTS.c.id == import_id, IMPORTS.c.status == "running")
                .values(status=status)
            )
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _format_hint(path: Path, fmt: str) -> str | None:
    """``it looks like hma: run again with --format hma …`` when the file looks like another format."""
    try:
        seen = detect_format(path)
    except FormatError:
        return None
    if seen == fmt:
        return None
    return f"it looks like {seen}: run again with --format {seen} (or without --format)"


def _new_rows(conn: Connection, held: BankValues, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose (signal, value) the bank does not hold yet, the first of each within ``rows``."""
    by_signal: dict[str, list[str]] = {}
    for r in rows:
        by_signal.setdefault(r["signal"], []).append(r["value"])
    known = {s: held.held(conn, s, values) for s, values in by_signal.items()}
    seen: set[tuple[str, str]] = set()
    new = []
    for r in rows:
        key = (r["signal"], r["value"])
        if r["value"] in known[r["signal"]] or key in seen:
            continue
        seen.add(key)
        new.append(r)
    return new


def _by_signal(rows: list[dict[str, Any]], ids: list[int]) -> dict[str, tuple[list[str], list[int]]]:
    out: dict[str, tuple[list[str], list[int]]] = {}
    for r, i in zip(rows, ids, strict=True):
        values, signal_ids = out.setdefault(r["signal"], ([], []))
        values.append(r["value"])
        signal_ids.append(i)
    return out
