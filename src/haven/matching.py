"""The Matcher: hashes → bank hits. The one orchestrator the CLI, the service and triage call.

PDQ hashes are searched in one in-memory ``HammingIndex`` per bank; MD5/SHA hashes are looked up
in the database through its digest index (always fresh). The PDQ indexes follow the database through
the store's change log: ``refresh()`` reads the changes after the last ``seq`` it applied and re-reads
just those entries (adds, removals, feedback), and bank rows (enabled, thresholds, deleted) — no full
rebuild. Match calls refresh at most every ``auto_refresh`` seconds, so a hash added by any process is
matched by every matcher within about that long. ``save_index()`` writes the indexes and a manifest
(with the store id and seq) atomically under ``index_dir``; a new Matcher maps them and catches up.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from haven.banks.store import BankStore
from haven.banks.types import Bank, Entry
from haven.errors import FormatError, StorageError
from haven.hashing import HashResult, hash_file
from haven.signals import get_signal

MANIFEST = "pdq-manifest.json"
INDEX_FILE = re.compile(r"^pdq-(?P<store>[0-9a-f]{8})-bank(?P<bank>\d+)-seq(?P<seq>\d+)\.hidx$")
DIGEST_SIGNALS = ("md5", "sha1", "sha256")


@dataclass
class Match:
    """One bank entry matched by a hash."""

    bank: str
    signal: str
    value: str
    distance: int
    category: str | None
    severity: int | None
    entry_id: int
    series: str | None = None
    victim_identified: bool | None = None
    category_scheme: str | None = None
    upscaled_to: int | None = None  # found by the image's PDQ as if upscaled to this side (hashing/ladder.py)

    def to_dict(self) -> dict[str, Any]:
        """The match object of ``haven match --json`` and the API (``upscaled_to`` only when set)."""
        out = {"bank": self.bank, "signal": self.signal, "distance": self.distance, "category": self.category,
               "category_scheme": self.category_scheme, "severity": self.severity, "entry_id": self.entry_id,
               "value": self.value, "series": self.series, "victim_identified": self.victim_identified}
        if self.upscaled_to is not None:
            out["upscaled_to"] = self.upscaled_to
        return out


def _match(entry: Entry, distance: int) -> Match:
    return Match(bank=entry.bank, signal=entry.signal, value=entry.value, distance=distance,
                 category=entry.category, severity=entry.severity, entry_id=entry.id, series=entry.series,
                 victim_identified=entry.victim_identified, category_scheme=entry.category_scheme)


def _sort(matches: list[Match]) -> list[Match]:
    return sorted(matches, key=lambda m: (m.distance, -(m.severity if m.severity is not None else -1), m.entry_id))


class Matcher:
    """Matches hashes against every enabled bank of a ``BankStore`` (see module docstring)."""

    def __init__(self, store: BankStore, *, index_dir: Path | None = None, auto_refresh: float | None = 0.5,
                 load_saved: bool = True) -> None:
        from haven.config import Settings
        from haven.index import HammingIndex

        self._HammingIndex = HammingIndex
        self.store = store
        self.index_dir = Path(index_dir) if index_dir is not None else Settings.from_env().data_dir / "index"
        self.auto_refresh = auto_refresh
        self._lock = threading.RLock()  # guards the dicts below; held only briefly
        self._refresh_lock = threading.RLock()  # one refresh / save at a time; matches never wait for it
        self.banks: dict[int, Bank] = {}
        self.indexes: dict[int, Any] = {}
        self.seq = 0
        self.store_id = store.store_id()
        self._last_refresh = 0.0
        self.loaded_from = "database"
        if not (load_saved and self._open_saved()):
            self._load_all()
        self.refresh()

    # -- loading -----------------------------------------------------------------------------------------

    def _open_saved(self) -> bool:
        path = self.index_dir / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        if manifest.get("store_id") != self.store_id:
            return False
        if int(manifest.get("seq", -1)) > self.store.last_seq():
            return False  # the database was restored from an older backup: the index is from its future
        try:
            indexes = {int(b): self._HammingIndex.open(self.index_dir / f) for b, f in manifest["banks"].items()}
        except (OSError, ValueError, KeyError, StorageError, FormatError):
            return False
        self.indexes = indexes
        self.seq = int(manifest["seq"])
        self.banks = {b.id: b for b in self.store.list_banks()}
        self.loaded_from = str(path)
        return True

    def _load_all(self) -> None:
        # Read the high-water mark first: changes committed while loading are replayed (idempotently).
        self.seq = self.store.last_seq()
        self.banks = {b.id: b for b in self.store.list_banks()}
        self.indexes = {}
        for bank_id in self.banks:
            self.indexes[bank_id] = self._load_bank(bank_id)

    def _load_bank(self, bank_id: int, lo: int | None = None, hi: int | None = None) -> Any:
        index = self._HammingIndex()
        self._add_rows(index, bank_id, lo, hi)
        return index

    def _add_rows(self, index: Any, bank_id: int, lo: int | None, hi: int | None) -> np.ndarray:
        present: list[np.ndarray] = []
        ids: list[int] = []
        values: list[str] = []

        def flush() -> None:
            if ids:
                arr = np.asarray(ids, np.int64)
                index.add(arr, np.frombuffer(bytes.fromhex("".join(values)), np.uint8).reshape(len(ids), 32))
                present.append(arr)
                ids.clear()
                values.clear()

        for entry_id, value in self.store.active_pdq(bank_id, lo, hi):
            ids.append(entry_id)
            values.append(value)
            if len(ids) >= 100_000:
                flush()
        flush()
        return np.concatenate(present) if present else np.zeros(0, np.int64)

    # -- keeping in step ---------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Apply the database changes made since the last refresh; returns how many were applied."""
        applied = 0
        with self._refresh_lock:
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
                                self.indexes.pop(c.bank_id, None)
                            else:
                                self.banks[bank.id] = bank
                                self.indexes.setdefault(bank.id, self._HammingIndex())
                    elif c.op == "sync" and c.lo is not None and c.hi is not None:
                        self._sync(c.bank_id, c.lo, c.hi)
                self.seq = new_seq
                applied += len(changes)
            self._last_refresh = time.monotonic()
        return applied

    def _sync(self, bank_id: int, lo: int, hi: int) -> None:
        index = self.indexes.get(bank_id)
        if index is None:
            if self.store.get_bank_by_id(bank_id) is None:
                return  # bank deleted later in the log
            with self._lock:
                index = self.indexes.setdefault(bank_id, self._HammingIndex())
        present = self._add_rows(index, bank_id, lo, hi)
        # Whatever in lo..hi is no longer an active PDQ entry of this bank leaves the index.
        gone = np.setdiff1d(np.arange(lo, hi + 1, dtype=np.int64), present, assume_unique=True)
        if len(gone):
            index.remove(gone)

    def _maybe_refresh(self) -> None:
        if self.auto_refresh is not None and time.monotonic() - self._last_refresh >= self.auto_refresh:
            self.refresh()

    def save_index(self) -> Path:
        """Write every bank's PDQ index and the manifest atomically; returns the manifest path."""
        with self._refresh_lock:
            # Catch up first, so a save never moves the shared manifest back behind another worker's.
            self.refresh()
            self.index_dir.mkdir(parents=True, exist_ok=True)
            manifest_path = self.index_dir / MANIFEST
            names: dict[str, str] = {}
            for bank_id, index in list(self.indexes.items()):
                name = f"pdq-{self.store_id[:8]}-bank{bank_id}-seq{self.seq}.hidx"
                index.meta = {"store_id": self.store_id, "bank_id": bank_id, "seq": self.seq}
                index.save(self.index_dir / name)
                names[str(bank_id)] = name
            tmp = manifest_path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"store_id": self.store_id, "seq": self.seq, "banks": names}))
            os.replace(tmp, manifest_path)
            keep = set(names.values())
            for f in self.index_dir.iterdir():
                m = INDEX_FILE.match(f.name)
                if m and f.name not in keep and (m["store"] != self.store_id[:8] or int(m["seq"]) < self.seq):
                    f.unlink(missing_ok=True)
        return manifest_path

    def stats(self) -> dict[str, Any]:
        """Indexed PDQ entries per bank and the change seq this matcher is at."""
        with self._lock:
            return {"seq": self.seq, "loaded_from": self.loaded_from,
                    "banks": {self.banks[b].name if b in self.banks else str(b): len(ix)
                              for b, ix in self.indexes.items()}}

    # -- matching ----------------------------------------------------------------------------------------

    def _pdq_hits(self, arr: np.ndarray, threshold: int | None, threads: int = 1) -> list[dict[int, int]]:
        """For each query row, ``{entry_id: distance}`` over every enabled bank."""
        hits: list[dict[int, int]] = [{} for _ in range(len(arr))]
        with self._lock:
            targets = [(self.banks[b], ix) for b, ix in self.indexes.items() if b in self.banks]
        for bank, index in targets:
            if not bank.enabled or not len(index):
                continue
            t = bank.threshold("pdq") if threshold is None else threshold
            counts, ids, dists = index.query_flat(arr, t, threads=threads)
            rows = np.repeat(np.arange(len(arr)), counts)  # one pass over the hits, not over every query
            for k, i, d in zip(rows.tolist(), ids.tolist(), dists.tolist(), strict=True):
                hits[k][i] = d
        return hits

    def _entries(self, ids: set[int]) -> dict[int, Entry]:
        """Current rows for hit ids; only active entries of enabled banks (guards against refresh lag)."""
        if not ids:
            return {}
        with self._lock:
            enabled = {b.id for b in self.banks.values() if b.enabled}
        return {e.id: e for e in self.store.get_entries(ids) if e.active and e.bank_id in enabled}

    def match_many_pdq(self, hashes: Sequence[str], *, threshold: int | None = None, threads: int = 1
                       ) -> list[list[Match]]:
        """Match a batch of PDQ hashes (one index query per bank for the whole batch, split over
        ``threads`` threads when it is large)."""
        self._maybe_refresh()
        if not hashes:
            return []
        from haven.index import pdq_hex_to_array

        hits = self._pdq_hits(pdq_hex_to_array(hashes), threshold, threads)
        entries = self._entries({i for h in hits for i in h})
        return [_sort([_match(entries[i], d) for i, d in h.items() if i in entries]) for h in hits]

    def match_many_digests(self, signal: str, values: Sequence[str]) -> list[list[Match]]:
        """Exact matches of a batch of digests of one signal (md5, sha1, sha256), in input order."""
        self._maybe_refresh()
        sig = get_signal(signal)
        found = self.store.lookup_digests(sig.name, values)
        return [_sort([_match(e, 0) for e in found.get(sig.validate(v), [])]) for v in values]

    def match_hashes(self, hashes: Mapping[str, str], *, threshold: int | None = None) -> list[Match]:
        """Match ``{"pdq": hex, "md5": hex, …}``: PDQ within the threshold, digests exactly."""
        self._maybe_refresh()
        matches: list[Match] = []
        for signal, value in hashes.items():
            if value is None:
                continue
            sig = get_signal(signal)
            if sig.name == "pdq":
                matches.extend(self.match_many_pdq([value], threshold=threshold)[0])
            else:
                matches.extend(self.match_many_digests(sig.name, [value])[0])
        return _sort(matches)

    def match_result(self, result: HashResult, *, threshold: int | None = None) -> list[Match]:
        """Match every hash a ``HashResult`` carries. When its own PDQ matches nothing and it carries
        upscaled PDQ values (a small image hashed with ``upscaled=True``), those are looked up too, at
        the same threshold; each entry they find is reported once, at its smallest distance, with
        ``upscaled_to`` set."""
        hashes = {s: getattr(result, s) for s in ("pdq", *DIGEST_SIGNALS) if getattr(result, s, None)}
        matches = self.match_hashes(hashes, threshold=threshold)
        if result.pdq_upscaled and not any(m.signal == "pdq" for m in matches):
            sides = list(result.pdq_upscaled)
            found = self.match_many_pdq([result.pdq_upscaled[s] for s in sides], threshold=threshold)
            best: dict[int, Match] = {}
            for side, ms in zip(sides, found, strict=True):
                for m in ms:
                    if m.entry_id not in best or m.distance < best[m.entry_id].distance:
                        m.upscaled_to = side
                        best[m.entry_id] = m
            matches = _sort(matches + list(best.values()))
        return matches

    def match_file(self, path: str | Path, *, fast: bool = False, upscaled: bool = False,
                   threshold: int | None = None) -> tuple[HashResult, list[Match]]:
        """Hash one file (PDQ + digests) and match it; InputError if it cannot be hashed."""
        result = hash_file(path, fast=fast, upscaled=upscaled)
        return result, self.match_result(result, threshold=threshold)
