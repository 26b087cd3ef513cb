"""``BankIndexes``: the matcher's in-memory indexes, one per (bank, signal) for every signal that is not
looked up exactly, kept in step with the database through the store's change log.

``refresh()`` reads the changes after the last ``seq`` it applied and re-reads just those entries
(adds, removals, feedback) and bank rows (enabled, thresholds, deleted) — no full rebuild. ``save()``
writes each persistable index and a manifest (with the store id and seq) atomically under
``index_dir``; a new ``BankIndexes`` maps them and catches up from the log.

An entry may store *variants* beside its value (``banks.types.stored_variants``: crops, rotations … of a
banked picture). They are held in a second index per (bank, signal), under ids ``entry × VARIANT_SLOTS +
k`` (k = 1, 2 …), so a hit names its entry; they are rebuilt from the database at each start (never saved)
and follow the entry through the change log (gone when it is removed or switched off).

A *shard* ``(k, n)`` holds only the entries whose id % n == k: a bank too big for one process's memory
is searched as n shards, each by its own process (``haven.spark``), and the union of their hits is the
whole bank's. A saved manifest names its shard, so one shard's files are never taken for another's.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any, cast

import numpy as np

from haven.banks.store import BankStore
from haven.banks.types import Bank
from haven.errors import FormatError, StorageError
from haven.signals import LookupKind, SignalIndex, all_signals, get_signal

MANIFEST = "index-manifest.json"
_OLD_MANIFEST = "pdq-manifest.json"  # written by Haven before indexes were kept per signal
INDEX_FILE = re.compile(
    r"^(?P<signal>[a-z][a-z0-9_]*)-(?P<store>[0-9a-f]{8})-bank(?P<bank>\d+)-seq(?P<seq>\d+)\.hidx$"
)
_BATCH = 100_000

Shard = tuple[int, int]  # (k, n): the entries whose id % n == k
#: Index ids of stored variants: entry id × VARIANT_SLOTS + k, k in 1..VARIANT_SLOTS - 1.
VARIANT_SLOTS = 64


def indexed_signals() -> list[str]:
    """The signals searched in memory (every lookup kind but exact)."""
    return [s.name for s in all_signals() if s.lookup is not LookupKind.EXACT]


class BankIndexes:
    """Per-(bank, signal) in-memory indexes of one store (see module docstring). Thread-safe: matches read
    a snapshot of the dicts; one refresh or save runs at a time."""

    def __init__(self, store: BankStore, index_dir: Path | None, shard: Shard | None = None) -> None:
        self.store = store
        self.index_dir = index_dir
        self.shard = shard
        self.signals = indexed_signals()
        self._lock = threading.RLock()  # guards the dicts below; held only briefly
        self.refresh_lock = threading.RLock()  # one refresh / save at a time; matches never wait for it
        self.banks: dict[int, Bank] = {}
        self.indexes: dict[tuple[int, str], SignalIndex] = {}
        # Stored variants: their index and how many each entry has, per (bank, signal).
        self.variant_indexes: dict[tuple[int, str], SignalIndex] = {}
        self._variant_count: dict[tuple[int, str], dict[int, int]] = {}
        self.variant_signals = [s for s in self.signals if get_signal(s).lookup is LookupKind.DISTANCE]
        self.seq = 0
        self.store_id = store.store_id()
        self.loaded_from = "database"

    # -- loading -----------------------------------------------------------------------------------------

    def load(self, *, load_saved: bool = True) -> None:
        if not (load_saved and self._open_saved()):
            self._load_all()

    def _open_saved(self) -> bool:
        if self.index_dir is None:
            return False
        path = self.index_dir / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        if manifest.get("store_id") != self.store_id:
            return False
        if manifest.get("shard") != (list(self.shard) if self.shard else None):
            return False  # another shard's entries (or all of them): not this matcher's
        if int(manifest.get("seq", -1)) > self.store.last_seq():
            return False  # the database was restored from an older backup: the index is from its future
        try:
            indexes: dict[tuple[int, str], SignalIndex] = {}
            for key, name in manifest["indexes"].items():
                bank, signal = key.split("/")
                indexes[(int(bank), signal)] = type(get_signal(signal).make_index()).open(  # type: ignore[attr-defined]
                    self.index_dir / name
                )
        except (OSError, ValueError, KeyError, AttributeError, StorageError, FormatError):
            return False
        self.indexes = indexes
        self.seq = int(manifest["seq"])
        self.banks = {b.id: b for b in self.store.list_banks()}
        # Signals the manifest does not cover (an index that is never saved, a signal plug-in installed
        # since) are read from the database; the change log after ``seq`` is replayed over them, harmlessly.
        rest = [s for s in self.signals if s not in manifest.get("signals", [])]
        saved = [s for s in self.signals if s not in rest]
        for bank_id in self.banks:
            self._add_rows(bank_id, None, None, rest)
            self._add_variant_rows(bank_id, None, None, saved)  # stored variants are never saved
        self.loaded_from = str(path)
        return True

    def _load_all(self) -> None:
        # Read the high-water mark first: changes committed while loading are replayed (idempotently).
        self.seq = self.store.last_seq()
        self.banks = {b.id: b for b in self.store.list_banks()}
        self.indexes = {}
        self.variant_indexes, self._variant_count = {}, {}
        for bank_id in self.banks:
            self._add_rows(bank_id, None, None)

    def _index(self, bank_id: int, signal: str) -> SignalIndex:
        with self._lock:
            index = self.indexes.get((bank_id, signal))
            if index is None:
                index = self.indexes[(bank_id, signal)] = get_signal(signal).make_index()
            return index

    def _add_rows(
        self, bank_id: int, lo: int | None, hi: int | None, signals: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Add the bank's active entries of ``signals`` (default: every in-memory signal), ids ``lo..hi``;
        returns the ids added per signal."""
        signals = self.signals if signals is None else signals
        present: dict[str, list[np.ndarray]] = {}
        pending: dict[str, tuple[list[int], list[str]]] = {}

        def flush(signal: str) -> None:
            ids, values = pending.pop(signal)
            arr = np.asarray(ids, np.int64)
            self._index(bank_id, signal).add(arr, values)
            present.setdefault(signal, []).append(arr)

        if signals:
            for entry_id, signal, value in self.store.active_values(bank_id, signals, lo, hi):
                if self.shard is not None and entry_id % self.shard[1] != self.shard[0]:
                    continue
                ids, values = pending.setdefault(signal, ([], []))
                ids.append(entry_id)
                values.append(value)
                if len(ids) >= _BATCH:
                    flush(signal)
        for signal in list(pending):
            flush(signal)
        self._add_variant_rows(bank_id, lo, hi, signals)
        return {s: np.concatenate(parts) for s, parts in present.items()}

    def _add_variant_rows(self, bank_id: int, lo: int | None, hi: int | None,
                          signals: list[str] | None = None) -> None:
        """Add the stored variants of the bank's active entries (ids ``lo..hi``) to its variant indexes."""
        wanted = [s for s in (self.variant_signals if signals is None else signals)
                  if s in self.variant_signals]
        if not wanted:
            return
        pending: dict[str, tuple[list[int], list[str]]] = {}
        for entry_id, signal, values in self.store.active_variant_values(bank_id, wanted, lo, hi):
            if self.shard is not None and entry_id % self.shard[1] != self.shard[0]:
                continue
            sig = get_signal(signal)
            good = [v for v in values if sig.is_canonical(v)][: VARIANT_SLOTS - 1]
            if not good:
                continue
            ids, vals = pending.setdefault(signal, ([], []))
            ids += [entry_id * VARIANT_SLOTS + k for k in range(1, len(good) + 1)]
            vals += good
            with self._lock:
                self._variant_count.setdefault((bank_id, signal), {})[entry_id] = len(good)
        for signal, (ids, vals) in pending.items():
            with self._lock:
                index = self.variant_indexes.get((bank_id, signal))
                if index is None:
                    index = self.variant_indexes[(bank_id, signal)] = get_signal(signal).make_index()
            index.add(np.asarray(ids, np.int64), vals)

    def variant_index(self, bank_id: int, signal: str) -> SignalIndex | None:
        """The index of the stored variants of a bank's entries of ``signal`` (None when there are none)."""
        with self._lock:
            index = self.variant_indexes.get((bank_id, signal))
        return index if index is not None and len(index) else None

    # -- keeping in step ---------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply the database changes made since the last refresh; returns how many were applied."""
        applied = 0
        with self.refresh_lock:
            while True:
                new_seq, changes = self.store.changes_since(self.seq)
                if not changes:
                    break
                for c in changes:
                    if c.op == "bank":
                        bank = self.store.get_bank_by_id(c.bank_id)
                        with self._lock:
                            if bank is None:
                                self.banks.pop(c.bank_id, None)
                                for key in [k for k in self.indexes if k[0] == c.bank_id]:
                                    del self.indexes[key]
                                for key in [k for k in self.variant_indexes if k[0] == c.bank_id]:
                                    del self.variant_indexes[key]
                                    self._variant_count.pop(key, None)
                            else:
                                self.banks[bank.id] = bank
                    elif c.op == "sync" and c.lo is not None and c.hi is not None:
                        self._sync(c.bank_id, c.lo, c.hi)
                self.seq = new_seq
                applied += len(changes)
        return applied

    def _sync(self, bank_id: int, lo: int, hi: int) -> None:
        if bank_id not in self.banks and self.store.get_bank_by_id(bank_id) is None:
            return  # bank deleted later in the log
        present = self._add_rows(bank_id, lo, hi)
        # Whatever in lo..hi is no longer an active entry of a signal leaves that signal's index.
        with self._lock:
            held = [(sig, ix) for (b, sig), ix in self.indexes.items() if b == bank_id]
        if not held:
            return
        span = np.arange(lo, hi + 1, dtype=np.int64)
        for signal, index in held:
            gone = np.setdiff1d(span, present.get(signal, np.zeros(0, np.int64)), assume_unique=True)
            if len(gone):
                index.remove(gone)
                self._remove_variants(bank_id, signal, gone)

    def _remove_variants(self, bank_id: int, signal: str, gone: np.ndarray) -> None:
        """Drop the stored variants of entries ``gone`` (no longer active entries of ``signal``)."""
        with self._lock:
            counts = self._variant_count.get((bank_id, signal))
            index = self.variant_indexes.get((bank_id, signal))
        if not counts or index is None:
            return
        ids = [e * VARIANT_SLOTS + k for e in gone.tolist() for k in range(1, counts.pop(e, 0) + 1)]
        if ids:
            index.remove(np.asarray(ids, np.int64))

    # -- reading -----------------------------------------------------------------------------------------

    def targets(self, signal: str) -> list[tuple[Bank, SignalIndex]]:
        """The enabled banks holding entries of ``signal``, with their index (a snapshot)."""
        with self._lock:
            return [
                (self.banks[b], ix)
                for (b, sig), ix in self.indexes.items()
                if sig == signal and b in self.banks and self.banks[b].enabled and len(ix)
            ]

    def enabled_bank_ids(self) -> set[int]:
        with self._lock:
            return {b.id for b in self.banks.values() if b.enabled}

    def stats(self) -> dict[str, Any]:
        """Indexed entries per bank and signal, and the change seq these indexes are at."""
        with self._lock:
            banks: dict[str, dict[str, int]] = {}
            for (b, sig), ix in self.indexes.items():
                name = self.banks[b].name if b in self.banks else str(b)
                banks.setdefault(name, {})[sig] = len(ix)
            variants: dict[str, dict[str, int]] = {}
            for (b, sig), ix in self.variant_indexes.items():
                name = self.banks[b].name if b in self.banks else str(b)
                variants.setdefault(name, {})[sig] = len(ix)
            return {"seq": self.seq, "loaded_from": self.loaded_from, "banks": banks,
                    "stored_variants": variants}

    # -- saving ------------------------------------------------------------------------------------------

    def save(self) -> Path:
        """Write every persistable index and the manifest atomically; returns the manifest path."""
        if self.index_dir is None:
            raise StorageError("this matcher has no index folder to save to")
        with self.refresh_lock:
            # Catch up first, so a save never moves the shared manifest back behind another worker's.
            self.refresh()
            self.index_dir.mkdir(parents=True, exist_ok=True)
            manifest_path = self.index_dir / MANIFEST
            names: dict[str, str] = {}
            with self._lock:
                held = list(self.indexes.items())
            persisted = [s for s in self.signals if hasattr(get_signal(s).make_index(), "save")]
            for (bank_id, signal), index in held:
                if signal not in persisted:
                    continue  # rebuilt from the database at each start
                name = f"{signal}-{self.store_id[:8]}-bank{bank_id}-seq{self.seq}.hidx"
                cast(Any, index).save(
                    self.index_dir / name,
                    {"store_id": self.store_id, "bank_id": bank_id, "signal": signal, "seq": self.seq},
                )
                names[f"{bank_id}/{signal}"] = name
            tmp = manifest_path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(
                json.dumps(
                    {"store_id": self.store_id, "seq": self.seq, "signals": persisted, "indexes": names,
                     "shard": list(self.shard) if self.shard else None}
                )
            )
            os.replace(tmp, manifest_path)
            (self.index_dir / _OLD_MANIFEST).unlink(missing_ok=True)
            keep = set(names.values())
            for f in self.index_dir.iterdir():
                m = INDEX_FILE.match(f.name)
                if m and f.name not in keep and (m["store"] != self.store_id[:8] or int(m["seq"]) < self.seq):
                    f.unlink(missing_ok=True)
        return manifest_path
