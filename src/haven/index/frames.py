"""``FrameSetIndex``: the in-memory index of a ``FRAMES`` signal (vPDQ) for one bank.

Every banked value (a video) is stored as its distinct frame hashes — one row per frame in the frame
signal's own index (PDQ: the exact multi-index ``HammingIndex``), each row carrying the id of its entry
and the frame's quality. A query video of N usable frames costs N range look-ups; the hits are then
counted per entry (query frames found, banked frames found) and the frame-set rule
(``haven.signals.frames``) decides. Results equal ``frames.compare`` on every pair, without the pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from haven.signals.frames import Frame, FrameRule, FrameSetMatch, percentages, usable


class _Grow:
    """An append-only numpy column (amortised doubling)."""

    def __init__(self, dtype: Any) -> None:
        self.a = np.zeros(1024, dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.a):
            b = np.zeros(max(need, 2 * len(self.a)), self.a.dtype)
            b[: self.n] = self.a[: self.n]
            self.a = b
        self.a[self.n : need] = values
        self.n = need


class FrameSetIndex:
    """Frame sets by entry id (see module docstring). ``frames_of`` parses a value into its frames;
    ``make_inner`` makes the frame signal's index (ids there are row numbers)."""

    def __init__(self, frames_of: Callable[[str], list[Frame]], make_inner: Callable[[], Any]) -> None:
        self.frames_of = frames_of
        self.inner = make_inner()
        self.row_entry = _Grow(np.int64)  # entry id of each row (-1 once removed)
        self.row_quality = _Grow(np.int16)
        self.rows_of: dict[int, np.ndarray] = {}  # entry id → its rows
        self.qualities_of: dict[int, np.ndarray] = {}  # entry id → its frames' qualities, sorted

    def __len__(self) -> int:
        return len(self.rows_of)

    def frame_count(self) -> int:
        return sum(len(r) for r in self.rows_of.values())

    def add(self, ids: np.ndarray | Sequence[int], values: Sequence[str]) -> None:
        """Add (or replace) the frame sets of entries ``ids``."""
        ids = [int(i) for i in ids]
        again = [i for i in ids if i in self.rows_of]
        if again:
            self.remove(again)
        hashes: list[str] = []
        entries: list[int] = []
        qualities: list[int] = []
        for entry_id, value in zip(ids, values, strict=True):
            best: dict[str, int] = {}
            for f in self.frames_of(value):
                if f.quality > best.get(f.hash, -1):
                    best[f.hash] = f.quality
            start = self.row_entry.n + len(hashes)
            self.rows_of[entry_id] = np.arange(start, start + len(best), dtype=np.int64)
            self.qualities_of[entry_id] = np.sort(np.fromiter(best.values(), np.int16, len(best)))
            hashes += best
            entries += [entry_id] * len(best)
            qualities += best.values()
        if hashes:
            rows = np.arange(self.row_entry.n, self.row_entry.n + len(hashes), dtype=np.int64)
            self.row_entry.extend(np.asarray(entries, np.int64))
            self.row_quality.extend(np.asarray(qualities, np.int16))
            self.inner.add(rows, hashes)

    def remove(self, ids: Iterable[int] | np.ndarray) -> None:
        gone = [self.rows_of.pop(int(i)) for i in ids if int(i) in self.rows_of]
        for i in ids:
            self.qualities_of.pop(int(i), None)
        if gone:
            rows = np.concatenate(gone)
            self.row_entry.a[rows] = -1
            self.inner.remove(rows)

    def match(
        self, values: Sequence[str], rule: FrameRule, *, threads: int = 1
    ) -> list[list[tuple[int, FrameSetMatch]]]:
        """For each query value, the entries the rule matches, with how they compare."""
        return [self._match_one(v, rule, threads, keep_all=False) for v in values]

    def compare_all(
        self, value: str, rule: FrameRule, *, threads: int = 1
    ) -> list[tuple[int, FrameSetMatch]]:
        """Every entry sharing a frame with ``value`` within the rule's distance, matched or not."""
        return self._match_one(value, rule, threads, keep_all=True)

    def _match_one(
        self, value: str, rule: FrameRule, threads: int, *, keep_all: bool
    ) -> list[tuple[int, FrameSetMatch]]:
        query = usable(self.frames_of(value), rule.quality)
        if not query or not self.rows_of:
            return []
        counts, rows, _ = self.inner.query_flat(query, rule.distance, threads=threads)
        k = np.repeat(np.arange(len(query), dtype=np.int64), counts)
        entry = self.row_entry.a[rows]
        keep = (entry >= 0) & (self.row_quality.a[rows] >= rule.quality)
        k, rows, entry = k[keep], rows[keep], entry[keep]
        if not len(rows):
            return []
        # Query frames found per entry: distinct (entry, query frame) pairs; banked frames: distinct rows.
        pairs = np.unique(entry * len(query) + k)
        q_ent, q_counts = np.unique(pairs // len(query), return_counts=True)
        c_ent, c_counts = np.unique(self.row_entry.a[np.unique(rows)], return_counts=True)
        found = dict(zip(c_ent.tolist(), c_counts.tolist(), strict=True))
        out = []
        for e, qm in zip(q_ent.tolist(), q_counts.tolist(), strict=True):
            quals = self.qualities_of[e]
            total = len(quals) - int(np.searchsorted(quals, rule.quality, side="left"))
            m = percentages(qm, len(query), found[e], total, rule)
            if keep_all or m.matched:
                out.append((e, m))
        return out

    def query_flat(
        self, values: Sequence[str], threshold: int, *, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``SignalIndex`` protocol: per value, the entries sharing a frame (any quality) within
        ``threshold``, at ``FrameSetMatch.distance`` — the matcher itself uses ``match``."""
        counts, ids, dists = [], [], []
        for v in values:
            hits = self._match_one(v, FrameRule(distance=threshold, quality=0), threads, keep_all=True)
            counts.append(len(hits))
            ids += [e for e, _ in hits]
            dists += [m.distance for _, m in hits]
        return np.asarray(counts, np.int64), np.asarray(ids, np.int64), np.asarray(dists, np.int32)
