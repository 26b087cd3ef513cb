"""Which values a bank already holds, so that adding a value twice is idempotent: a bank has at most one
entry per (signal, value), whether values come by hand, through the API or in overlapping hash lists.

Hand adds ask the database directly (``find_in_bank``). A bulk import uses ``BankValues``: per signal, the
64-bit keys (Python's string hash, consistent within one process) of the values the bank already held,
read once, plus those of the rows added since, each as sorted arrays with their entry ids; a key that hits
is confirmed against the stored value by id, so a key collision never drops a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import Connection, func, select, text

from haven.banks.models import EntryRow
from haven.signals import LookupKind, get_signal

ENTRIES = EntryRow.__table__
_CHUNK = 500  # values per IN (...) query
_PAGE = 50_000  # rows per page when reading a bank's values


def find_in_bank(conn: Connection, bank_id: int, signal: str, values: Iterable[str]) -> dict[str, int]:
    """``{value: entry id}`` for those canonical ``values`` the bank already holds (the oldest entry)."""
    wanted = sorted(set(values))
    exact = get_signal(signal).lookup is LookupKind.EXACT
    found: dict[str, int] = {}
    for lo in range(0, len(wanted), _CHUNK):
        q = (
            select(ENTRIES.c.value, func.min(ENTRIES.c.id))
            .where(
                ENTRIES.c.bank_id == bank_id,
                ENTRIES.c.signal == signal,
                ENTRIES.c.value.in_(wanted[lo : lo + _CHUNK]),
            )
            .group_by(ENTRIES.c.value)
        )
        if exact:
            q = q.where(text("bank_entries.exact"))  # the digest index's predicate, so it is used
        found.update({v: int(i) for v, i in conn.execute(q)})
    return found


def _keys(values: Sequence[str]) -> np.ndarray:
    return np.fromiter((hash(v) for v in values), dtype=np.int64, count=len(values))


class _Runs:
    """Sorted (key, id) arrays, merged as they grow (a binary counter: a lookup probes O(log n) arrays)."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], ids[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k1, i1), (k2, i2) = self.runs.pop(), self.runs.pop()
            keys_, ids_ = np.concatenate([k2, k1]), np.concatenate([i2, i1])
            order = np.argsort(keys_, kind="stable")
            self.runs.append((keys_[order], ids_[order]))

    def candidates(self, keys: np.ndarray) -> list[tuple[int, int]]:
        """``(position in keys, entry id)`` for every stored key equal to one of ``keys``."""
        out: list[tuple[int, int]] = []
        for stored, ids in self.runs:
            lo = np.searchsorted(stored, keys, side="left")
            hi = np.searchsorted(stored, keys, side="right")
            for pos in np.flatnonzero(hi > lo).tolist():
                out.extend((pos, int(i)) for i in ids[lo[pos] : hi[pos]].tolist())
        return out


class BankValues:
    """The values one bank holds, per signal, for one bulk import (see the module docstring)."""

    def __init__(self, bank_id: int) -> None:
        self.bank_id = bank_id
        self._runs: dict[str, _Runs] = {}

    def _signal(self, conn: Connection, signal: str) -> _Runs:
        runs = self._runs.get(signal)
        if runs is None:
            runs = self._runs[signal] = _Runs()
            last = 0
            while True:
                page = conn.execute(
                    select(ENTRIES.c.id, ENTRIES.c.value)
                    .where(ENTRIES.c.bank_id == self.bank_id, ENTRIES.c.signal == signal, ENTRIES.c.id > last)
                    .order_by(ENTRIES.c.id)
                    .limit(_PAGE)
                ).all()
                if not page:
                    break
                runs.add(_keys([v for _, v in page]), np.fromiter((i for i, _ in page), np.int64, len(page)))
                last = page[-1][0]
        return runs

    def held(self, conn: Connection, signal: str, values: Sequence[str]) -> set[str]:
        """Those of the canonical ``values`` the bank already holds (stored before or added since)."""
        return set(self.held_ids(conn, signal, values))

    def held_ids(self, conn: Connection, signal: str, values: Sequence[str]) -> dict[str, int]:
        """``{value: entry id}`` for those of the canonical ``values`` the bank holds (the oldest entry); an
        entry deleted since it was seen no longer counts (each hit is confirmed by id)."""
        if not values:
            return {}
        hits = self._signal(conn, signal).candidates(_keys(values))
        if not hits:
            return {}
        ids = sorted({i for _, i in hits})
        stored: dict[int, str] = {}
        for lo in range(0, len(ids), _CHUNK):
            q = select(ENTRIES.c.id, ENTRIES.c.value).where(ENTRIES.c.id.in_(ids[lo : lo + _CHUNK]))
            stored.update({int(i): v for i, v in conn.execute(q)})
        out: dict[str, int] = {}
        for pos, i in sorted(hits, key=lambda h: h[1]):
            if stored.get(i) == values[pos]:
                out.setdefault(values[pos], i)
        return out

    def added(self, conn: Connection, signal: str, values: Sequence[str], ids: Sequence[int]) -> None:
        """Record rows just inserted (their values and ids), so later batches see them (call ``held`` for
        the signal first: the bank's earlier values are read on a signal's first use)."""
        if values:
            self._signal(conn, signal).add(_keys(values), np.asarray(ids, np.int64))
