"""``BankStore``: banks and their entries in SQLite or PostgreSQL, with a change log for matchers.

Every write that can change what matches (entries added or removed, feedback, a bank enabled,
disabled, re-thresholded or deleted) appends to ``bank_changes`` in the same transaction, so a
``Matcher`` can bring its in-memory indexes up to date by reading the rows after its last ``seq``.

Entries of any registered signal live in one table; how they are found depends on the signal's
``lookup`` (``haven.signals``): exact signals through the digest index (``lookup_digests``), the
others by the matcher's in-memory indexes, loaded with ``active_values``.
On PostgreSQL, writers take a self-exclusive lock on ``bank_changes`` before logging, so ``seq``
order is commit order and a reader never skips a change committed late.
"""

from __future__ import annotations

import json
import operator
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, case, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from haven.banks.categories import category_problem, infer_scheme, severity_of
from haven.banks.models import BankRow, ChangeRow, EntryRow, ImportRow, StoreInfoRow
from haven.banks.types import (
    DISABLED_TS,
    DISABLING_FEEDBACK,
    ENABLED_TS,
    FEEDBACK_VALUES,
    Bank,
    Change,
    Entry,
    EntryIn,
    ImportRecord,
    dumps_extra,
    loads_extra,
    stored_variants,
    utc,
)
from haven.errors import ConflictError, FormatError, NotFoundError, UsageError
from haven.signals import LookupKind, get_signal
from haven.store.db import sqlite_time

BANKS = cast(Table, BankRow.__table__)
ENTRIES = cast(Table, EntryRow.__table__)
IMPORTS = cast(Table, ImportRow.__table__)
CHANGES = cast(Table, ChangeRow.__table__)
INFO = cast(Table, StoreInfoRow.__table__)

_ROW_KEYS = (
    "bank_id",
    "signal",
    "value",
    "exact",
    "quality",
    "category",
    "category_scheme",
    "severity",
    "series",
    "victim_identified",
    "item",
    "note",
    "extra",
    "feedback",
    "feedback_by",
    "feedback_at",
    "import_id",
    "created_at",
    "created_by",
    "disable_until_ts",
)
_SQLITE_INSERT = (
    f"INSERT INTO bank_entries ({', '.join(_ROW_KEYS)}) VALUES ({', '.join('?' for _ in _ROW_KEYS)})"
)
_row_tuple = operator.itemgetter(*_ROW_KEYS)
_PG_COPY = f"COPY bank_entries (id, {', '.join(_ROW_KEYS)}) FROM STDIN"
BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def now() -> datetime:
    return datetime.now(UTC)


_DIGEST_CHUNK = 500  # values per IN (...) query: well under SQLite's and PostgreSQL's parameter limits


def active_clause() -> Any:
    """SQL condition: the entry has no disabling feedback."""
    return or_(ENTRIES.c.feedback.is_(None), ENTRIES.c.feedback.notin_(sorted(DISABLING_FEEDBACK)))


def enabled_at_clause(now: float) -> Any:
    """SQL condition: the entry is not disabled at Unix time ``now`` (``disable_until_ts``; the in-memory
    indexes hold such entries, the time is checked when a match reads its rows)."""
    until = ENTRIES.c.disable_until_ts
    return or_(until.is_(None), until == ENABLED_TS, and_(until != DISABLED_TS, until <= int(now)))


def entry_row(
    e: EntryIn,
    *,
    bank_id: int,
    import_id: int | None,
    actor: str | None,
    at: datetime,
    force: bool = False,
    strict_category: bool = False,
) -> dict[str, Any]:
    """Validate one ``EntryIn`` and turn it into a ``bank_entries`` row (raises FormatError).

    A value its signal calls weak (``SignalType.weak_value``) is refused unless ``force``; with
    ``strict_category``, so is a category Haven cannot grade (the known schemes are listed)."""
    try:
        signal = get_signal(e.signal)
    except UsageError as exc:
        raise FormatError(exc.message, code="unknown_signal") from None
    # Canonical values (what bulk imports mostly carry) skip the full validation.
    value = e.value if signal.is_canonical(e.value) else signal.validate(e.value)
    quality = e.quality
    if quality is not None and not (0 <= int(quality) <= 100):
        raise FormatError(f"quality must be 0-100, got {quality!r}")
    if not force:
        weak = signal.weak_value(value, int(quality) if quality is not None else None)
        if weak:
            raise FormatError(
                f"{signal.name} {value} not added: {weak} (to add it anyway: --force; API: force)",
                code="weak_value",
            )
    if e.feedback is not None and e.feedback not in FEEDBACK_VALUES:
        raise FormatError(f"unknown feedback {e.feedback!r}; use one of {', '.join(sorted(FEEDBACK_VALUES))}")
    category = e.category.strip() if e.category else None
    if strict_category:
        problem = category_problem(category, e.category_scheme)
        if problem:
            raise FormatError(problem, code="unknown_category")
    scheme = e.category_scheme or infer_scheme(category)
    return {
        "bank_id": bank_id,
        "signal": signal.name,
        "value": value,
        "exact": signal.lookup is LookupKind.EXACT,
        "quality": int(quality) if quality is not None else None,
        "category": category or None,
        "category_scheme": scheme if category else None,
        "severity": severity_of(scheme, category),
        "series": e.series or None,
        "victim_identified": e.victim_identified,
        "item": e.item or None,
        "note": e.note or None,
        "extra": dumps_extra(e.extra),
        "feedback": e.feedback,
        "feedback_by": actor if e.feedback else None,
        "feedback_at": at if e.feedback else None,
        "import_id": import_id,
        "created_at": at,
        "created_by": actor,
        "disable_until_ts": check_disable_until(e.disable_until_ts),
    }


def check_disable_until(ts: Any) -> int | None:
    """A ``disable_until_ts`` as stored: None, or a whole number of seconds ≥ 0 (FormatError otherwise)."""
    if ts is None:
        return None
    if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
        raise FormatError(f"disable_until_ts must be a non-negative whole number of seconds, got {ts!r}")
    return ts


class BankStore:
    """Banks, entries, imports and the change log on one database (see module docstring)."""

    def __init__(self, url: str) -> None:
        """Open the bank tables of the database at ``url``, which a shell has already brought to the
        current schema (``haven.store.db.upgrade_database``)."""
        from haven.store.db import make_engine

        self.url = url
        self.engine: Engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection (call it, or use ``with BankStore(…) as store``)."""
        self.engine.dispose()

    def __enter__(self) -> BankStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------------------

    def _log(
        self,
        conn: Connection,
        op: str,
        bank_id: int,
        lo: int | None = None,
        hi: int | None = None,
        *,
        detail: str | None = None,
        actor: str | None = None,
    ) -> None:
        if self.dialect == "postgresql":
            conn.execute(text("LOCK TABLE bank_changes IN SHARE ROW EXCLUSIVE MODE"))
        conn.execute(
            insert(CHANGES).values(op=op, bank_id=bank_id, lo=lo, hi=hi, detail=detail, at=now(), actor=actor)
        )

    def _bank_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(BANKS).where(BANKS.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no bank named {name!r}")
        return row

    @staticmethod
    def _bank(row: Any) -> Bank:
        return Bank(
            id=row.id,
            name=row.name,
            description=row.description,
            source=row.source,
            enabled=bool(row.enabled),
            enabled_ratio=float(row.enabled_ratio if row.enabled_ratio is not None else 1.0),
            thresholds=json.loads(row.thresholds or "{}"),
            created_at=utc(row.created_at),
            created_by=row.created_by,
            updated_at=utc(row.updated_at),
            updated_by=row.updated_by,
        )

    @staticmethod
    def _entry(row: Any, bank_name: str) -> Entry:
        return Entry(
            id=row.id,
            bank_id=row.bank_id,
            bank=bank_name,
            signal=row.signal,
            value=row.value,
            quality=row.quality,
            category=row.category,
            category_scheme=row.category_scheme,
            severity=row.severity,
            series=row.series,
            victim_identified=None if row.victim_identified is None else bool(row.victim_identified),
            item=row.item,
            note=row.note,
            extra=loads_extra(row.extra),
            feedback=row.feedback,
            feedback_by=row.feedback_by,
            feedback_at=utc(row.feedback_at),
            import_id=row.import_id,
            created_at=utc(row.created_at),
            created_by=row.created_by,
            disable_until_ts=row.disable_until_ts,
        )

    @staticmethod
    def _check_thresholds(thresholds: Mapping[str, int] | None) -> dict[str, int]:
        """``{signal: threshold}`` and ``{"signal.option": value}`` (a signal's ``options``), checked."""
        out: dict[str, int] = {}
        for key, t in (thresholds or {}).items():
            name, _, option = key.partition(".")
            signal = get_signal(name)
            if option:
                opt = signal.options.get(option)
                if opt is None:
                    raise UsageError(f"signal {signal.name} has no option {option!r}; options: "
                                     f"{', '.join(signal.options) or '(none)'}")
                lo, hi, what = opt.lo, opt.hi, f"{signal.name}.{option}"
            else:
                lo, hi, what = 0, signal.max_threshold, f"threshold for {signal.name}"
            if not isinstance(t, int) or isinstance(t, bool) or not lo <= t <= hi:
                raise UsageError(f"{what} must be an integer {lo}-{hi}, got {t!r}")
            out[f"{signal.name}.{option}" if option else signal.name] = t
        return out

    # -- store identity and change log -----------------------------------------------------------------

    def store_id(self) -> str:
        """A random id created with the schema: a saved index belongs to exactly one database."""
        with self.engine.connect() as conn:
            return str(conn.execute(select(INFO.c.value).where(INFO.c.key == "store_id")).scalar_one())

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(CHANGES.c.seq), 0))).scalar_one())

    def changes_since(self, seq: int, limit: int = 10_000) -> tuple[int, list[Change]]:
        """Changes with ``seq`` greater than ``seq`` (oldest first, at most ``limit``) and the new high-water
        mark."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(CHANGES).where(CHANGES.c.seq > seq).order_by(CHANGES.c.seq).limit(limit)
            ).all()
        changes = [
            Change(
                seq=r.seq,
                op=r.op,
                bank_id=r.bank_id,
                lo=r.lo,
                hi=r.hi,
                detail=r.detail,
                at=utc(r.at),
                actor=r.actor,
            )
            for r in rows
        ]
        return (changes[-1].seq if changes else seq), changes

    # -- banks -----------------------------------------------------------------------------------------

    def create_bank(
        self,
        name: str,
        *,
        source: str | None = None,
        description: str | None = None,
        thresholds: dict[str, int] | None = None,
        enabled: bool = True,
        enabled_ratio: float = 1.0,
        actor: str | None = None,
    ) -> Bank:
        """Create a bank; ConflictError when the name is taken."""
        if not BANK_NAME.match(name or ""):
            raise UsageError(f"bad bank name {name!r}: use 1-100 letters, digits, '_', '.', '-'")
        if not 0.0 <= float(enabled_ratio) <= 1.0:
            raise UsageError(f"enabled_ratio must be 0-1, got {enabled_ratio!r}")
        th = self._check_thresholds(thresholds)
        ts = now()
        try:
            with self.engine.begin() as conn:
                bank_id = conn.execute(
                    insert(BANKS)
                    .values(
                        name=name,
                        source=source,
                        description=description,
                        enabled=enabled,
                        enabled_ratio=float(enabled_ratio),
                        thresholds=json.dumps(th, sort_keys=True),
                        created_at=ts,
                        created_by=actor,
                        updated_at=ts,
                        updated_by=actor,
                    )
                    .returning(BANKS.c.id)
                ).scalar_one()
                self._log(conn, "bank", bank_id, detail="create", actor=actor)
        except IntegrityError:
            raise ConflictError(f"a bank named {name!r} already exists") from None
        return self.get_bank(name)

    def get_bank(self, name: str) -> Bank:
        with self.engine.connect() as conn:
            return self._bank(self._bank_row(conn, name))

    def get_bank_by_id(self, bank_id: int) -> Bank | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(BANKS).where(BANKS.c.id == bank_id)).first()
        return self._bank(row) if row is not None else None

    def list_banks(self) -> list[Bank]:
        with self.engine.connect() as conn:
            return [self._bank(r) for r in conn.execute(select(BANKS).order_by(BANKS.c.name))]

    def update_bank(
        self,
        name: str,
        *,
        source: str | None = None,
        description: str | None = None,
        thresholds: dict[str, int] | None = None,
        enabled: bool | None = None,
        enabled_ratio: float | None = None,
        new_name: str | None = None,
        actor: str | None = None,
    ) -> Bank:
        """Change a bank's settings (only the arguments given); logged for matchers. ``enabled_ratio``: the
        share of sampled look-ups (HMA's ``/m/lookup``) that use the bank, 0-1; ``new_name`` renames it
        (ConflictError when taken)."""
        values: dict[str, Any] = {"updated_at": now(), "updated_by": actor}
        if enabled_ratio is not None:
            ratio = float(enabled_ratio)
            if not 0.0 <= ratio <= 1.0:
                raise UsageError(f"enabled_ratio must be 0-1, got {enabled_ratio!r}")
            values["enabled_ratio"] = ratio
        if new_name is not None and new_name != name:
            if not BANK_NAME.match(new_name):
                raise UsageError(f"bad bank name {new_name!r}: use 1-100 letters, digits, '_', '.', '-'")
            values["name"] = new_name
        if source is not None:
            values["source"] = source
        if description is not None:
            values["description"] = description
        if enabled is not None:
            values["enabled"] = bool(enabled)
        with self.engine.begin() as conn:
            row = self._bank_row(conn, name)
            if thresholds is not None:
                merged = json.loads(row.thresholds or "{}")
                merged.update(self._check_thresholds(thresholds))
                values["thresholds"] = json.dumps(merged, sort_keys=True)
            try:
                conn.execute(update(BANKS).where(BANKS.c.id == row.id).values(**values))
            except IntegrityError:
                raise ConflictError(f"a bank named {values.get('name')!r} already exists") from None
            self._log(conn, "bank", row.id, detail="update", actor=actor)
        return self.get_bank(values.get("name", name))

    def set_enabled(self, name: str, enabled: bool, *, actor: str | None = None) -> Bank:
        """Enable or disable matching against a whole bank."""
        return self.update_bank(name, enabled=enabled, actor=actor)

    def delete_bank(self, name: str, *, actor: str | None = None) -> None:
        """Delete a bank with all its entries and imports."""
        with self.engine.begin() as conn:
            row = self._bank_row(conn, name)
            conn.execute(delete(ENTRIES).where(ENTRIES.c.bank_id == row.id))
            conn.execute(delete(IMPORTS).where(IMPORTS.c.bank_id == row.id))
            conn.execute(delete(BANKS).where(BANKS.c.id == row.id))
            self._log(conn, "bank", row.id, detail="delete", actor=actor)

    def bank_stats(self, name: str) -> dict[str, Any]:
        """Entry counts per signal (all and active) and the bank's imports."""
        with self.engine.connect() as conn:
            row = self._bank_row(conn, name)
            counts: dict[str, dict[str, int]] = {}
            q = (
                select(ENTRIES.c.signal, func.count(), func.sum(case((active_clause(), 1), else_=0)))
                .where(ENTRIES.c.bank_id == row.id)
                .group_by(ENTRIES.c.signal)
            )
            for signal, total, active in conn.execute(q):
                counts[signal] = {"total": int(total), "active": int(active or 0)}
        return {"entries": counts, "imports": [i.to_dict() for i in self.list_imports(name)]}

    def active_counts(self) -> dict[int, dict[str, int]]:
        """Active entries (those that can match) per bank id and signal, in one grouped query."""
        q = (
            select(ENTRIES.c.bank_id, ENTRIES.c.signal, func.count())
            .where(active_clause())
            .group_by(ENTRIES.c.bank_id, ENTRIES.c.signal)
        )
        counts: dict[int, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for bank_id, signal, n in conn.execute(q):
                counts.setdefault(int(bank_id), {})[signal] = int(n)
        return counts

    # -- entries ---------------------------------------------------------------------------------------

    def add_entries(self, bank: str, entries: Iterable[EntryIn], **options: Any) -> list[int]:
        """Validate and add entries in one transaction; returns their ids, in order (FormatError names the
        bad one). Idempotent: a value the bank already holds gives the id of the entry holding it.
        ``options``: ``actor``, ``force``, ``strict_category``, as ``add_entries_detail``."""
        return [i for i, _ in self.add_entries_detail(bank, entries, **options)]

    def add_entries_detail(
        self,
        bank: str,
        entries: Iterable[EntryIn],
        *,
        actor: str | None = None,
        force: bool = False,
        strict_category: bool = True,
    ) -> list[tuple[int, bool]]:
        """``add_entries`` saying, for each entry, ``(id, True)`` when it was added and ``(id, False)`` when
        the bank already held its (signal, value) — then nothing is written. Weak values (an all-zero PDQ, an
        empty file's digest) are refused unless ``force``; categories Haven cannot grade unless not
        ``strict_category``."""
        from haven.banks.existing import find_in_bank

        ts = now()
        with self.engine.begin() as conn:
            row = self._bank_row(conn, bank)
            rows = []
            for n, e in enumerate(entries, 1):
                try:
                    rows.append(entry_row(e, bank_id=row.id, import_id=None, actor=actor, at=ts, force=force,
                                          strict_category=strict_category))
                except FormatError as exc:
                    raise FormatError(f"entry {n}: {exc.message}", code=exc.code) from None
            held: dict[tuple[str, str], int] = {}
            for signal in {r["signal"] for r in rows}:
                values = [r["value"] for r in rows if r["signal"] == signal]
                held.update({(signal, v): i for v, i in find_in_bank(conn, row.id, signal, values).items()})
            new: dict[tuple[str, str], dict[str, Any]] = {}
            for r in rows:
                key = (r["signal"], r["value"])
                if key not in held:
                    new.setdefault(key, r)
            ids = self.insert_rows(conn, row.id, list(new.values()), actor=actor)
            added = dict(zip(new, ids, strict=True))
        out: list[tuple[int, bool]] = []
        for r in rows:
            key = (r["signal"], r["value"])
            if key in held:
                out.append((held[key], False))
            else:
                out.append((added[key], True))
                held[key] = added[key]  # the same value again later in this call: already held
        return out

    def insert_rows(
        self, conn: Connection, bank_id: int, rows: Sequence[dict[str, Any]], *, actor: str | None = None
    ) -> list[int]:
        """Insert validated rows in ``conn``'s transaction and log them; returns ids in row order."""
        if not rows:
            return []
        if self.dialect == "sqlite":
            ids = self._insert_sqlite(conn, rows)
        elif self.dialect == "postgresql":
            ids = self._insert_postgres(conn, rows)
        else:
            result = conn.execute(insert(ENTRIES).returning(ENTRIES.c.id, sort_by_parameter_order=True), rows)
            ids = [r[0] for r in result]
        self._log(conn, "sync", bank_id, min(ids), max(ids), detail=f"add {len(ids)}", actor=actor)
        return ids

    @staticmethod
    def _insert_postgres(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
        # COPY is ~20x faster than INSERT … RETURNING for big batches. Ids are drawn from the column's
        # sequence first (sorted, so file order = id order) and written explicitly, in this transaction.
        ids = sorted(
            r[0]
            for r in conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('bank_entries', 'id')) FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            )
        )
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:  # type: ignore[union-attr]
            for i, r in zip(ids, map(_row_tuple, rows), strict=True):
                copy.write_row((i, *r))
        return ids

    @staticmethod
    def _insert_sqlite(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
        # SQLAlchemy would send one INSERT … RETURNING per row to keep the order; the driver's own
        # executemany is ~10x faster. bank_entries is AUTOINCREMENT and this transaction holds SQLite's
        # only write lock, so the new ids are the contiguous run ending at last_insert_rowid().
        stamps: dict[int, str] = {}

        def stamp(ts: datetime) -> str:
            key = id(ts)
            if key not in stamps:
                stamps[key] = sqlite_time(ts)
            return stamps[key]

        for r in rows:
            r["created_at"] = stamp(r["created_at"])
            if r["feedback_at"] is not None:
                r["feedback_at"] = stamp(r["feedback_at"])
        conn.exec_driver_sql(_SQLITE_INSERT, list(map(_row_tuple, rows)))
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        return list(range(last - len(rows) + 1, last + 1))

    def get_entry(self, entry_id: int) -> Entry:
        got = self.get_entries([entry_id])
        if not got:
            raise NotFoundError(f"no bank entry with id {entry_id}")
        return got[0]

    def get_entries(self, ids: Iterable[int]) -> list[Entry]:
        """Entries by id (missing ids are left out), in id order."""
        ids = sorted({int(i) for i in ids})
        out: list[Entry] = []
        with self.engine.connect() as conn:
            for k in range(0, len(ids), 500):
                q = (
                    select(ENTRIES, BANKS.c.name.label("bank_name"))
                    .join(BANKS, BANKS.c.id == ENTRIES.c.bank_id)
                    .where(ENTRIES.c.id.in_(ids[k : k + 500]))
                    .order_by(ENTRIES.c.id)
                )
                out.extend(self._entry(r, r.bank_name) for r in conn.execute(q))
        return out

    def find_entries(self, bank: str, *, ids: Iterable[int] = (), items: Iterable[str] = ()) -> list[Entry]:
        """A bank's entries whose id is one of ``ids`` or whose ``item`` is one of ``items``, in id order
        (NotFoundError when there is no such bank)."""
        ids, items = sorted({int(i) for i in ids}), sorted(set(items))
        with self.engine.connect() as conn:
            row = self._bank_row(conn, bank)
            if not ids and not items:
                return []
            q = (
                select(ENTRIES)
                .where(ENTRIES.c.bank_id == row.id, or_(ENTRIES.c.id.in_(ids), ENTRIES.c.item.in_(items)))
                .order_by(ENTRIES.c.id)
            )
            return [self._entry(r, row.name) for r in conn.execute(q)]

    def iter_entries(self, bank: str, *, batch: int = 5000) -> Iterator[Entry]:
        """Every entry of a bank in id order, read in keyset pages (bounded memory)."""
        with self.engine.connect() as conn:
            row = self._bank_row(conn, bank)
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(ENTRIES)
                    .where(and_(ENTRIES.c.bank_id == row.id, ENTRIES.c.id > last))
                    .order_by(ENTRIES.c.id)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for r in rows:
                yield self._entry(r, row.name)
            last = rows[-1].id

    def remove_entry(self, entry_id: int, *, actor: str | None = None) -> None:
        """Delete one entry (use feedback instead to keep it and only stop it matching)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(ENTRIES.c.bank_id).where(ENTRIES.c.id == entry_id)).first()
            if row is None:
                raise NotFoundError(f"no bank entry with id {entry_id}")
            conn.execute(delete(ENTRIES).where(ENTRIES.c.id == entry_id))
            self._log(conn, "sync", row.bank_id, entry_id, entry_id, detail="remove", actor=actor)

    def remove_entries(self, ids: Iterable[int], *, actor: str | None = None) -> int:
        """Delete entries by id (missing ids are skipped); returns how many were deleted."""
        wanted = sorted({int(i) for i in ids})
        removed = 0
        with self.engine.begin() as conn:
            for k in range(0, len(wanted), _DIGEST_CHUNK):
                chunk = wanted[k : k + _DIGEST_CHUNK]
                q = select(ENTRIES.c.id, ENTRIES.c.bank_id).where(ENTRIES.c.id.in_(chunk))
                rows = conn.execute(q).all()
                if not rows:
                    continue
                conn.execute(delete(ENTRIES).where(ENTRIES.c.id.in_([r.id for r in rows])))
                removed += len(rows)
                for r in rows:
                    self._log(conn, "sync", r.bank_id, r.id, r.id, detail="remove", actor=actor)
        return removed

    def update_entries(self, ids: Iterable[int], *, actor: str | None = None, **fields: Any) -> None:
        """Set ``note``, ``item``, ``extra`` (a dict) or ``disable_until_ts`` (see ``Entry.matches_at``) on
        entries by id; logged for matchers. A field left out is left alone; None clears it."""
        allowed = {"note", "item", "extra", "disable_until_ts"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise UsageError(f"entries have no settable field {', '.join(unknown)}")
        values = dict(fields)
        if "extra" in values:
            values["extra"] = dumps_extra(values["extra"])
        if "disable_until_ts" in values:
            values["disable_until_ts"] = check_disable_until(values["disable_until_ts"])
        wanted = sorted({int(i) for i in ids})
        if not wanted or not values:
            return
        with self.engine.begin() as conn:
            rows = conn.execute(select(ENTRIES.c.id, ENTRIES.c.bank_id).where(ENTRIES.c.id.in_(wanted))).all()
            conn.execute(update(ENTRIES).where(ENTRIES.c.id.in_([r.id for r in rows])).values(**values))
            for r in rows:
                self._log(conn, "sync", r.bank_id, r.id, r.id, detail="update", actor=actor)

    def set_feedback(self, entry_id: int, opinion: str | None, *, actor: str | None = None) -> Entry:
        """Record an opinion on an entry; ``false_positive``/``disputed`` stop it matching, ``None``
        clears."""
        if opinion is not None and opinion not in FEEDBACK_VALUES:
            raise UsageError(
                f"unknown feedback {opinion!r}; use one of {', '.join(sorted(FEEDBACK_VALUES))} or none"
            )
        with self.engine.begin() as conn:
            row = conn.execute(select(ENTRIES.c.bank_id).where(ENTRIES.c.id == entry_id)).first()
            if row is None:
                raise NotFoundError(f"no bank entry with id {entry_id}")
            conn.execute(
                update(ENTRIES)
                .where(ENTRIES.c.id == entry_id)
                .values(feedback=opinion, feedback_by=actor, feedback_at=now())
            )
            self._log(
                conn, "sync", row.bank_id, entry_id, entry_id, detail=f"feedback {opinion}", actor=actor
            )
        return self.get_entry(entry_id)

    def lookup_digest(self, signal: str, value: str, *, only_active: bool = True) -> list[Entry]:
        """Entries whose exact digest equals ``value`` (through the digest index), optionally only those
        in enabled banks and without disabling feedback."""
        found = self.lookup_digests(signal, [value], only_active=only_active)
        return next(iter(found.values()), [])

    def lookup_digests(
        self, signal: str, values: Sequence[str], *, only_active: bool = True
    ) -> dict[str, list[Entry]]:
        """``lookup_digest`` for many values, a few hundred per query: ``{canonical value: entries}``
        for the values that have entries (each list in id order)."""
        sig = get_signal(signal)
        if sig.lookup is not LookupKind.EXACT:
            raise UsageError(
                f"{sig.name} values are matched through the Matcher's indexes, not looked up exactly"
            )
        wanted = sorted({sig.validate(v) for v in values})
        out: dict[str, list[Entry]] = {}
        with self.engine.connect() as conn:
            for lo in range(0, len(wanted), _DIGEST_CHUNK):
                q = (
                    select(ENTRIES, BANKS.c.name.label("bank_name"))
                    .join(BANKS, BANKS.c.id == ENTRIES.c.bank_id)
                    # The partial index's predicate, spelled as a literal: PostgreSQL's generic plans (after
                    # five executions of a prepared statement) can only use the index if the query states it
                    # verbatim.
                    .where(
                        ENTRIES.c.signal == sig.name,
                        ENTRIES.c.value.in_(wanted[lo : lo + _DIGEST_CHUNK]),
                        text("bank_entries.exact"),
                    )
                )
                if only_active:
                    q = q.where(BANKS.c.enabled.is_(True), active_clause(), enabled_at_clause(time.time()))
                for r in conn.execute(q.order_by(ENTRIES.c.id)):
                    out.setdefault(r.value, []).append(self._entry(r, r.bank_name))
        return out

    def active_values(
        self, bank_id: int, signals: Sequence[str], lo: int | None = None, hi: int | None = None
    ) -> Iterator[tuple[int, str, str]]:
        """``(id, signal, value)`` of a bank's active entries of ``signals`` (optionally only ids
        ``lo..hi``), in id order, read in pages (bounded memory)."""
        for r in self._active_pages(ENTRIES.c.value, bank_id, signals, lo, hi, page=50_000):
            yield r[0], r[1], r[2]

    def active_variant_values(
        self, bank_id: int, signals: Sequence[str], lo: int | None = None, hi: int | None = None
    ) -> Iterator[tuple[int, str, list[str]]]:
        """``(id, signal, values)`` of the stored variants (``types.stored_variants``) of a bank's active
        entries of ``signals`` that have any (optionally only ids ``lo..hi``), in id order, in pages."""
        rows = self._active_pages(
            ENTRIES.c.extra, bank_id, signals, lo, hi, page=20_000, where=ENTRIES.c.extra.is_not(None)
        )
        for r in rows:
            try:
                values = list(stored_variants(loads_extra(r[2])).values())
            except ValueError:
                continue  # extra that is not JSON: no variants
            if values:
                yield r[0], r[1], values

    def _active_pages(
        self,
        column: Any,
        bank_id: int,
        signals: Sequence[str],
        lo: int | None,
        hi: int | None,
        *,
        page: int,
        where: Any = None,
    ) -> Iterator[Any]:
        """``(id, signal, column)`` rows of a bank's active entries of ``signals`` in id order, ``page`` rows
        per query on a connection of its own (a caller may take its time between pages)."""
        last = (lo - 1) if lo is not None else 0
        while True:
            q = (
                select(ENTRIES.c.id, ENTRIES.c.signal, column)
                .where(
                    ENTRIES.c.bank_id == bank_id,
                    ENTRIES.c.signal.in_(list(signals)),
                    ENTRIES.c.id > last,
                    active_clause(),
                )
                .order_by(ENTRIES.c.id)
                .limit(page)
            )
            if where is not None:
                q = q.where(where)
            if hi is not None:
                q = q.where(ENTRIES.c.id <= hi)
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    # -- imports ---------------------------------------------------------------------------------------

    def list_imports(self, bank: str) -> list[ImportRecord]:
        with self.engine.connect() as conn:
            row = self._bank_row(conn, bank)
            rows = conn.execute(
                select(IMPORTS).where(IMPORTS.c.bank_id == row.id).order_by(IMPORTS.c.id)
            ).all()
        return [self._import(r) for r in rows]

    @staticmethod
    def _import(r: Any) -> ImportRecord:
        return ImportRecord(
            id=r.id,
            bank_id=r.bank_id,
            path=r.path,
            size=r.size,
            sha256=r.sha256,
            format=r.format,
            status=r.status,
            records_done=r.records_done,
            rows_added=r.rows_added,
            errors=r.errors,
            warnings=r.warnings,
            started_at=utc(r.started_at),
            finished_at=utc(r.finished_at),
            actor=r.actor,
        )

    def import_file(self, bank: str, path: Any, fmt: str | None = None, **kwargs: Any) -> Any:
        """Stream a hash-list file into a bank, resumably (see ``haven.banks.importer.import_file``)."""
        from haven.banks.importer import import_file

        return import_file(self, bank, path, fmt, **kwargs)

    def export_file(self, bank: str, out: Any, fmt: str = "csv") -> Any:
        """Write a bank to a file object in a format (see ``haven.banks.exporter.export_bank``)."""
        from haven.banks.exporter import export_bank

        return export_bank(self, bank, out, fmt)


__all__ = ["BankStore", "entry_row"]
