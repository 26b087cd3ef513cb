"""The apply loop: one page of upstream updates → bank entries and their provenance, in one transaction.

``apply_page`` runs inside the caller's transaction, which also moves the exchange's checkpoint (a
compare-and-set on its page count), so a page is either applied with its checkpoint or not at all: a fetch
killed anywhere resumes from the last committed page, and every update is applied exactly once.

- A new (record, fingerprint) adds a bank entry, or links to the entry when the bank already holds the
  value (a bank holds a value once).
- A record seen again with the same value updates its provenance; a new classification updates the
  entry's category and severity.
- A tombstone (NCMEC ``deleted*``, StopNCII ``Withdrawn``/``Deleted``, ThreatExchange ``should_delete``,
  a line gone from a file) marks the item deleted and removes the entry, unless another live item still
  keeps it or a person added it (entries an exchange did not create are never removed by one).
- Every bank write is logged in the bank change log, so running matchers drop a removed entry within a
  second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from haven.banks import BankStore
from haven.banks.categories import severity_of
from haven.banks.existing import BankValues
from haven.banks.store import entry_row
from haven.banks.types import EntryIn
from haven.errors import FormatError
from haven.exchanges.store import ENTRIES, ITEMS
from haven.exchanges.types import FetchResult, Page, Update
from haven.store.db import sqlite_time

_CHUNK = 500
_RUN_GAP = 1000  # removed ids closer than this share one change-log row (the matcher re-reads the span)
MAX_MESSAGES = 50
_ITEM_COLUMNS = (
    "value",
    "entry_id",
    "deleted",
    "member",
    "classification",
    "status",
    "upstream_at",
    "upstream_feedback",
    "extra",
    "updated_at",
)


def actor_of(exchange: str) -> str:
    """The ``created_by`` / change-log actor of an exchange's writes."""
    return f"exchange:{exchange}"


def _dumps(value: Any) -> str | None:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str) if value else None


def _runs(ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """Sorted ids → ``(lo, hi, count)`` runs whose gaps are under ``_RUN_GAP``."""
    out: list[tuple[int, int, int]] = []
    for i in sorted(ids):
        if out and i - out[-1][1] < _RUN_GAP:
            lo, _, n = out[-1]
            out[-1] = (lo, i, n + 1)
        else:
            out.append((i, i, 1))
    return out


def release_entries(
    banks: BankStore, conn: Connection, bank_id: int, entry_ids: Iterable[int | None], *, actor: str
) -> int:
    """Remove the entries of ``entry_ids`` that no live exchange item keeps any more and that an exchange
    created; logs the removals for matchers. Returns how many were removed."""
    ids = sorted({int(i) for i in entry_ids if i is not None})
    if not ids:
        return 0
    doomed: list[int] = []
    for lo in range(0, len(ids), _CHUNK):
        chunk = ids[lo : lo + _CHUNK]
        kept = {
            r[0]
            for r in conn.execute(
                select(ITEMS.c.entry_id).where(ITEMS.c.entry_id.in_(chunk), ITEMS.c.deleted.is_(False))
            )
        }
        free = [i for i in chunk if i not in kept]
        if free:
            doomed.extend(
                r[0]
                for r in conn.execute(
                    select(ENTRIES.c.id).where(
                        ENTRIES.c.id.in_(free),
                        ENTRIES.c.bank_id == bank_id,
                        ENTRIES.c.created_by.like("exchange:%"),
                    )
                )
            )
    for lo in range(0, len(doomed), _CHUNK):
        conn.execute(ENTRIES.delete().where(ENTRIES.c.id.in_(doomed[lo : lo + _CHUNK])))
    for lo_id, hi_id, n in _runs(doomed):
        banks._log(conn, "sync", bank_id, lo_id, hi_id, detail=f"remove {n}", actor=actor)
    return len(doomed)


_INSERT_KEYS = ("exchange_id", "upstream_id", "signal", *_ITEM_COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO exchange_items ({', '.join(_INSERT_KEYS)}) VALUES ({', '.join('?' for _ in _INSERT_KEYS)})"
)
_PG_COPY = f"COPY exchange_items ({', '.join(_INSERT_KEYS)}) FROM STDIN"


def _insert_items(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert new items, given as tuples in ``_INSERT_KEYS`` order (times already in ``_time_form``)."""
    # On SQLite the driver's own executemany is several times faster than SQLAlchemy's per-row parameters
    # (the same reason BankStore inserts entries that way); on PostgreSQL COPY, as BankStore does for
    # entries; elsewhere SQLAlchemy batches the rows itself.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_SQLITE_INSERT, rows)
    elif conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(_PG_COPY) as copy:  # type: ignore[union-attr]
            for r in rows:
                copy.write_row(r)
    else:
        conn.execute(insert(ITEMS), [dict(zip(_INSERT_KEYS, r, strict=True)) for r in rows])


def _time_form(conn: Connection) -> Callable[[datetime | None], Any]:
    """How a timestamp goes into ``_insert_items``' tuples on ``conn``: SQLAlchemy's text form on SQLite
    (memoised: a page's records share a few timestamps), the datetime itself elsewhere."""
    if conn.dialect.name != "sqlite":
        return lambda ts: ts
    cache: dict[datetime, str] = {}

    def form(ts: datetime | None) -> str | None:
        if ts is None:
            return None
        text = cache.get(ts)
        if text is None:
            text = cache[ts] = sqlite_time(ts)
        return text

    return form


def _existing(conn: Connection, exchange_id: int, upstream_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{upstream id: {signal: item row as a dict}}`` for the items these upstream ids already have."""
    out: dict[str, dict[str, Any]] = {}
    for lo in range(0, len(upstream_ids), _CHUNK):
        q = select(ITEMS).where(
            ITEMS.c.exchange_id == exchange_id, ITEMS.c.upstream_id.in_(upstream_ids[lo : lo + _CHUNK])
        )
        for r in conn.execute(q):
            out.setdefault(r.upstream_id, {})[r.signal] = dict(r._mapping)
    return out


def apply_page(
    banks: BankStore,
    conn: Connection,
    *,
    exchange_id: int,
    exchange: str,
    bank_id: int,
    page: Page,
    held: BankValues,
    result: FetchResult,
    at: datetime | None = None,
    seen: set[str] | None = None,
) -> None:
    """Apply one page in ``conn``'s transaction (see the module docstring); counts go to ``result``.

    ``seen``: given when the exchange had no items when the fetch began (a first load): then only upstream
    ids already applied in this fetch can have items, so the others are not looked up (the set grows here)."""
    ts = at or datetime.now(UTC)
    actor = actor_of(exchange)
    latest: dict[str, Update] = {}
    for u in page.updates:
        latest[u.upstream_id] = u  # within a page the last state of a record wins
    lookup = list(latest) if seen is None else [uid for uid in latest if uid in seen]
    have = _existing(conn, exchange_id, lookup) if lookup else {}
    if seen is not None:
        seen.update(latest)
    if page.snapshot:
        # The page is the whole list: every live item it does not name is a tombstone.
        for live in conn.execute(
            select(ITEMS).where(ITEMS.c.exchange_id == exchange_id, ITEMS.c.deleted.is_(False))
        ):
            if live.upstream_id not in latest:
                have.setdefault(live.upstream_id, {})[live.signal] = dict(live._mapping)
                latest[live.upstream_id] = Update(live.upstream_id, deleted=True)

    updates: list[dict[str, Any]] = []  # item rows to rewrite (by id)
    releases: list[int | None] = []  # entry ids whose items went away
    # New values: (entry row, the item it replaces or None, the record's item fields, upstream id).
    pending: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any], str]] = []
    categories: dict[tuple[str | None, str | None], list[int]] = {}

    def note(msg: str) -> None:
        if len(result.messages) < MAX_MESSAGES:
            result.messages.append(msg)

    def tombstone(r: dict[str, Any]) -> None:
        if not r["deleted"]:
            updates.append({**r, "deleted": True, "updated_at": ts})
            releases.append(r["entry_id"])
            result.tombstones += 1

    for uid, u in latest.items():
        old = have.get(uid)
        if u.deleted:
            for r in (old or {}).values():
                tombstone(r)
            continue
        meta: dict[str, Any] = {
            "member": u.member,
            "classification": u.classification,
            "status": u.status,
            "upstream_at": u.upstream_at,
            "upstream_feedback": _dumps(u.feedback),
            "extra": _dumps(u.extra),
            "updated_at": ts,
        }
        wanted: dict[str, dict[str, Any]] = {}
        for signal, value in u.signals:
            try:
                row = entry_row(
                    # Provenance lives in exchange_items (one row per exchange keeping the entry), not here.
                    EntryIn(signal=signal, value=value, category=u.classification, category_scheme=u.scheme),
                    bank_id=bank_id,
                    import_id=None,
                    actor=actor,
                    at=ts,
                    strict_category=False,
                )
            except FormatError as exc:
                result.errors += 1
                note(f"{uid}: {signal} {value[:80]}: {exc.message}")
                continue
            wanted[row["signal"]] = row
        if not old:  # a record new to this exchange (every record of a first load): only new items
            for row in wanted.values():
                pending.append((row, None, meta, uid))
            continue
        for signal, r in old.items():
            if signal not in wanted:
                tombstone(r)
        for signal, row in wanted.items():
            r = old.get(signal)
            if r is not None and not r["deleted"] and r["value"] == row["value"]:
                if (r["classification"], r["status"]) != (u.classification, u.status):
                    result.changed += 1
                    if r["classification"] != u.classification and r["entry_id"] is not None:
                        categories.setdefault((row["category"], row["category_scheme"]), []).append(
                            r["entry_id"]
                        )
                updates.append({**r, **meta})
                continue
            if r is not None and not r["deleted"]:
                releases.append(r["entry_id"])  # the record's value changed: the old entry may go
                result.changed += 1
            pending.append((row, r, meta, uid))

    # Entries for the new values: linked where the bank holds the value, else inserted (once per value).
    by_signal: dict[str, list[dict[str, Any]]] = {}
    for row, _, _, _ in pending:
        by_signal.setdefault(row["signal"], []).append(row)
    entry_of: dict[str, dict[str, int]] = {}  # signal → value → entry id
    for signal, rows in by_signal.items():
        found = held.held_ids(conn, signal, [r["value"] for r in rows])
        result.linked += sum(1 for r in rows if r["value"] in found)
        new: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["value"] not in found:
                new.setdefault(r["value"], r)
        if new:
            ids = banks.insert_rows(conn, bank_id, list(new.values()), actor=actor)
            held.added(conn, signal, list(new), ids)
            found.update(zip(new, ids, strict=True))
            result.added += len(ids)
        entry_of[signal] = found

    form = _time_form(conn)
    stamp = form(ts)
    inserts: list[tuple[Any, ...]] = []
    for row, r, meta, uid in pending:
        entry_id = entry_of[row["signal"]][row["value"]]
        if r is not None:
            updates.append({**r, **meta, "value": row["value"], "entry_id": entry_id, "deleted": False})
        else:
            inserts.append(
                (
                    exchange_id,
                    uid,
                    row["signal"],
                    row["value"],
                    entry_id,
                    False,
                    meta["member"],
                    meta["classification"],
                    meta["status"],
                    form(meta["upstream_at"]),
                    meta["upstream_feedback"],
                    meta["extra"],
                    stamp,
                )
            )
    if inserts:
        _insert_items(conn, inserts)
    if updates:
        conn.execute(
            update(ITEMS)
            .where(ITEMS.c.id == bindparam("item_id"))
            .values({c: bindparam(f"v_{c}") for c in _ITEM_COLUMNS}),
            [{"item_id": u["id"], **{f"v_{c}": u[c] for c in _ITEM_COLUMNS}} for u in updates],
        )
    for (category, scheme), ids in categories.items():
        severity = severity_of(scheme, category)
        for lo in range(0, len(ids), _CHUNK):
            conn.execute(
                update(ENTRIES)
                .where(ENTRIES.c.id.in_(ids[lo : lo + _CHUNK]))
                .values(category=category, category_scheme=scheme if category else None, severity=severity)
            )
        for lo_id, hi_id, n in _runs(ids):
            banks._log(conn, "sync", bank_id, lo_id, hi_id, detail=f"category {n}", actor=actor)
    result.removed += release_entries(banks, conn, bank_id, releases, actor=actor)
