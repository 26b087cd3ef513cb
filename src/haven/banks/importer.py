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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    fmt = (fmt or detect_format(p, label=label)).lower()
    started = time.perf_counter()
    begun = _begin(store, bank, p, size, fmt, label=label, actor=actor, again=again)
    if isinstance(begun, ImportResult):
        return begun
    bank_id, import_id, skip = begun
    run = _ImportRun(
        store,
        ImportResult(import_id=import_id, bank=bank, path=label or str(p), format=fmt, resumed_from=skip),
        p,
        bank_id,
        skip,
        forced=forced,
        actor=actor,
        batch_size=batch_size,
        force=force,
        hooks=_Hooks(should_stop, on_progress, on_error, on_warning),
    )
    run.run(get_format(fmt))
    run.result.seconds = time.perf_counter() - started
    return run.result


def _begin(
    store: BankStore,
    bank: str,
    p: Path,
    size: int,
    fmt: str,
    *,
    label: str | None,
    actor: str | None,
    again: bool,
) -> ImportResult | tuple[int, int, int]:
    """Open the import of ``p``'s content into ``bank``: ``(bank id, import id, records to skip)`` for a new
    or resumed import, or the result of a finished one that need not run again."""
    digest = file_sha256(p)
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
                path=label or str(p),
                format=fmt,
                rows_added=0,
                records_read=0,
                errors=0,
                warnings=0,
                already_done=True,
            )
        if prior is not None and prior.status in ("running", "interrupted"):
            conn.execute(update(IMPORTS).where(IMPORTS.c.id == prior.id).values(status="running"))
            return bank_row.id, prior.id, int(prior.records_done)
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
        return bank_row.id, import_id, 0


@dataclass
class _Hooks:
    """The caller's callbacks (see ``import_file``)."""

    should_stop: Callable[[], bool] | None
    on_progress: Callable[[int, int, int], None] | None
    on_error: Callable[[FormatError], None] | None
    on_warning: Callable[[str], None] | None


class _ImportRun:
    """One run of an opened import: reads the records after the checkpoint and commits them in batches,
    each batch with the checkpoint that covers it."""

    def __init__(
        self,
        store: BankStore,
        result: ImportResult,
        path: Path,
        bank_id: int,
        skip: int,
        *,
        forced: bool,
        actor: str | None,
        batch_size: int,
        force: bool,
        hooks: _Hooks,
    ) -> None:
        self.store, self.result, self.path, self.bank_id, self.skip = store, result, path, bank_id, skip
        self.forced, self.actor, self.force, self.hooks = forced, actor, force, hooks
        self.batch_size = batch_size
        self.name = result.path
        self.held = BankValues(bank_id)
        self.records = self.committed = skip  # records read / covered by the committed checkpoint
        self.rows: list[dict[str, Any]] = []
        self.batch_errors = self.batch_warnings = 0
        self.good = 0  # records that gave at least one row, in this run
        self.stopped = False  # set once the import has been stopped with a --format hint
        self.at = now()
        self.bytes_pos: Callable[[], int] = lambda: 0

    def run(self, module: Any) -> None:
        """Read and commit the rest of the file; marks the import failed (unreadable file) or interrupted
        (anything else: running it again resumes it) when it stops early."""
        try:
            with open_text(self.path) as stream:
                self.bytes_pos = lambda: _tell(stream)
                self._read(module, stream)
        except ConflictError:
            raise  # another process runs this import: its status is its own
        except FormatError:
            _stop(self.store, self.result.import_id, "failed")  # running it again would not help
            raise
        except BaseException:
            # Ctrl-C, a lost database, a crash: name as interrupted (running it again resumes it).
            _stop(self.store, self.result.import_id, "interrupted")
            raise

    def _read(self, module: Any, stream: Any) -> None:
        # Records before the checkpoint were committed by an earlier, interrupted run: skip them
        # (unparsed where the reader supports it, which the big-file CSV reader does).
        fast_skip = "skip" in inspect.signature(module.read).parameters
        extra = {"skip": self.skip} if fast_skip else {}
        reader = module.read(stream, self.name, **extra)
        try:
            for n, item in enumerate(reader, self.skip if fast_skip else 0):
                if n < self.skip:
                    continue
                if self.hooks.should_stop is not None and self.hooks.should_stop():
                    raise KeyboardInterrupt
                self._take(item)
                if len(self.rows) >= self.batch_size:
                    self._flush(final=False)
        except UnicodeDecodeError as exc:
            self._flush(final=False)  # keep what was read before the break (resumable like a kill)
            raise FormatError(
                f"not UTF-8 text near record {self.records + 1}: {exc.reason}", path=self.name
            ) from None
        except FormatError as exc:
            self._flush(final=False)
            hint = self._wrong_format_hint()
            if hint and not self.stopped:
                self.stopped = True
                raise FormatError(f"{exc.message}; {hint}", code=exc.code) from None
            raise
        self._flush(final=True)

    def _take(self, item: Record | FormatError) -> None:
        """One record: its rows, its warnings, or its error."""
        self.records += 1
        self.result.records_read += 1
        if isinstance(item, FormatError):
            self._bad(item)
            return
        for w in item.warnings:
            self.batch_warnings += 1
            self.result.warnings += 1
            self._note(f"{self.name}: warning: {w}")
            if self.hooks.on_warning is not None:
                self.hooks.on_warning(f"{self.name}: {w}")
        before = len(self.rows)
        for e in item.entries:
            try:
                self.rows.append(
                    entry_row(e, bank_id=self.bank_id, import_id=self.result.import_id, actor=self.actor,
                              at=self.at, force=self.force)
                )
            except FormatError as exc:
                self._bad(FormatError(exc.message, path=self.name, line=item.line, code=exc.code))
        self.good += len(self.rows) > before

    def _note(self, msg: str) -> None:
        if len(self.result.messages) < MAX_MESSAGES:
            self.result.messages.append(msg)

    def _wrong_format_hint(self) -> str | None:
        """Under an explicit format that nothing has been read with yet: the format the file looks like."""
        if self.forced and self.good == 0 and self.skip == 0:
            return _format_hint(self.path, self.result.format)
        return None

    def _bad(self, err: FormatError) -> None:
        self.batch_errors += 1
        self.result.errors += 1
        self._note(err.message)
        if self.hooks.on_error is not None:
            self.hooks.on_error(err)
        if self.result.errors == WRONG_FORMAT_AFTER:
            hint = self._wrong_format_hint()
            if hint:
                self.stopped = True
                raise FormatError(
                    f"the first {WRONG_FORMAT_AFTER} records of {self.name} are not valid "
                    f"{self.result.format}; {hint}",
                    path=self.path,
                )

    def _flush(self, final: bool) -> None:
        """Commit the batch's new rows with the checkpoint that covers them, in one transaction."""
        import_id = self.result.import_id
        with self.store.engine.begin() as conn:
            new = _new_rows(conn, self.held, self.rows)
            values = {
                "records_done": self.records,
                "rows_added": IMPORTS.c.rows_added + len(new),
                "errors": IMPORTS.c.errors + self.batch_errors,
                "warnings": IMPORTS.c.warnings + self.batch_warnings,
            }
            if final:
                values.update(status="done", finished_at=now())
            # Compare-and-set on the checkpoint: if another process runs the same import at the same
            # time, one of them fails here and rolls back its batch instead of adding rows twice.
            moved = conn.execute(
                update(IMPORTS)
                .where(
                    IMPORTS.c.id == import_id,
                    IMPORTS.c.records_done == self.committed,
                    IMPORTS.c.status == "running",
                )
                .values(**values)
            ).rowcount
            if moved != 1:
                raise ConflictError(f"import #{import_id} of {self.name} is being run by another process")
            ids = self.store.insert_rows(conn, self.bank_id, new, actor=self.actor)
            for signal, (signal_values, signal_ids) in _by_signal(new, ids).items():
                self.held.added(conn, signal, signal_values, signal_ids)
        self.committed = self.records
        self.result.rows_added += len(new)
        self.result.duplicates += len(self.rows) - len(new)
        self.rows = []
        self.batch_errors = self.batch_warnings = 0
        if self.hooks.on_progress is not None:
            self.hooks.on_progress(self.records, self.result.rows_added, self.bytes_pos())


def _tell(stream: Any) -> int:
    """Bytes of the file read so far (0 where the stream cannot tell)."""
    try:
        return int(stream.buffer.tell())
    except (OSError, ValueError, AttributeError):
        return 0


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
