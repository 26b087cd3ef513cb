"""``HammingIndex``: an exact range index over 256-bit hashes with int64 ids; incremental and persistent.

Structure (a small log-structured merge design):

* ``segments``: immutable runs of rows sorted by id, each with its multi-index-hashing tables
  (one may be a memory-mapped file). Removal sets a byte in the segment's in-memory ``dead``
  mask, so it is immediate and never touches the mapping.
* ``buffer``: an append-only array for recent additions, scanned linearly. When it fills it is
  sealed into a segment, and segments of similar size are merged (binary-counter style), so a
  stream of small additions costs O(log n) rebuild work per row, not a rebuild per call.
* ``save`` folds everything (dropping dead rows) into one segment and writes it atomically.

Every id is live in at most one place. Queries snapshot the structure and never block on writers
beyond a short lock; the compiled kernel releases the GIL, so threads query in parallel.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from haven.errors import UsageError
from haven.index import fileformat
from haven.index.segment import HASH_BYTES, Segment

DEFAULT_THRESHOLD = 31
#: A batch query is split over threads only in chunks of at least this many rows.
MIN_THREAD_ROWS = 256
#: Rows kept in the linearly scanned buffer before it is sealed into an indexed segment.
BUFFER_ROWS = 16384


class _Buffer:
    """Append-only rows with tombstones; readers snapshot ``(ids, hashes, dead, n)`` safely."""

    def __init__(self, capacity: int = 1024) -> None:
        self.ids = np.zeros(capacity, np.int64)
        self.hashes = np.zeros((capacity, HASH_BYTES), np.uint8)
        self.dead = np.zeros(capacity, bool)
        self.n = 0
        self.n_dead = 0
        self.row_of: dict[int, int] = {}

    @property
    def live(self) -> int:
        return self.n - self.n_dead

    def append(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        need = self.n + len(ids)
        if need > len(self.ids):
            cap = max(need, 2 * len(self.ids))
            # New arrays: a reader holding the old ones keeps a consistent snapshot.
            new_ids = np.zeros(cap, np.int64)
            new_hashes = np.zeros((cap, HASH_BYTES), np.uint8)
            new_dead = np.zeros(cap, bool)
            new_ids[: self.n] = self.ids[: self.n]
            new_hashes[: self.n] = self.hashes[: self.n]
            new_dead[: self.n] = self.dead[: self.n]
            self.ids, self.hashes, self.dead = new_ids, new_hashes, new_dead
        self.ids[self.n:need] = ids
        self.hashes[self.n:need] = hashes
        for k, i in enumerate(ids.tolist()):
            self.row_of[i] = self.n + k
        self.n = need

    def kill(self, id_: int) -> bool:
        row = self.row_of.pop(id_, None)
        if row is None:
            return False
        self.dead[row] = True
        self.n_dead += 1
        return True

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        keep = ~self.dead[: self.n]
        return self.ids[: self.n][keep], self.hashes[: self.n][keep]


def _as_ids(ids: Any) -> np.ndarray:
    arr = np.asarray(ids if not isinstance(ids, (int, np.integer)) else [ids])
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer)):
        raise UsageError("ids must be a 1-D sequence of integers")
    return arr.astype(np.int64, copy=False)


def _as_hashes(hashes: Any) -> np.ndarray:
    arr = np.asarray(hashes)
    if arr.ndim == 1 and arr.dtype == np.uint8 and arr.size == HASH_BYTES:
        arr = arr.reshape(1, HASH_BYTES)
    if arr.ndim != 2 or arr.shape[1] != HASH_BYTES or arr.dtype != np.uint8:
        raise UsageError(f"hashes must be a uint8 array of shape (n, {HASH_BYTES})")
    return np.ascontiguousarray(arr)


def _check_threshold(threshold: int) -> int:
    t = int(threshold)
    if t < 0:
        raise UsageError("threshold must be >= 0")
    return t


class HammingIndex:
    """Exact range index over 256-bit hashes with int64 ids."""

    def __init__(self) -> None:
        self._segments: list[Segment] = []
        self._buffer = _Buffer()
        # Additions not yet placed: consecutive add() calls coalesce here, so a bulk load in many
        # batches builds one segment at the next read instead of one per batch.
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._lock = threading.RLock()
        self._path: Path | None = None
        self._writable = True
        self.meta: dict[str, str | int] = {}

    # ---- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            self._settle_locked()
            return sum(s.live for s in self._segments) + self._buffer.live

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, (int, np.integer)):
            return False
        with self._lock:
            self._settle_locked()
            if int(id) in self._buffer.row_of:
                return True
            one = np.array([id], np.int64)
            return any(len(s.find(one)[0]) for s in self._segments)

    def ids(self) -> np.ndarray:
        """All live ids, ascending."""
        with self._lock:
            self._settle_locked()
            parts = [s.live_rows()[0] for s in self._segments] + [self._buffer.live_rows()[0]]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def get(self, ids: Any) -> np.ndarray:
        """Hashes of the given ids (uint8 (n, 32)); raises ``KeyError`` for an absent id."""
        ids = _as_ids(ids)
        out = np.zeros((len(ids), HASH_BYTES), np.uint8)
        found = np.zeros(len(ids), bool)
        with self._lock:
            self._settle_locked()
            for s in self._segments:
                pos, rows = s.find(ids)
                out[pos] = s.hashes[rows]
                found[pos] = True
            for k, i in enumerate(ids.tolist()):
                row = self._buffer.row_of.get(i)
                if row is not None:
                    out[k] = self._buffer.hashes[row]
                    found[k] = True
        if not found.all():
            raise KeyError(int(ids[np.flatnonzero(~found)[0]]))
        return out

    def query(self, hashes: np.ndarray, threshold: int = DEFAULT_THRESHOLD, *, threads: int = 1
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query row: ``(ids int64, distances int32)`` within ``threshold``, by distance then id.

        ``threads`` > 1 splits a large batch over that many threads (the kernel releases the GIL)."""
        q = _as_hashes(hashes)
        if threads <= 1 or len(q) < 2 * MIN_THREAD_ROWS:
            return self._query(q, threshold)
        return _split_flat(*self.query_flat(q, threshold, threads=threads))

    def query_flat(self, hashes: np.ndarray, threshold: int = DEFAULT_THRESHOLD, *, threads: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``query`` for many rows at once without a pair of arrays per row: ``(counts, ids, distances)``,
        where the first ``counts[0]`` ids and distances belong to row 0, the next ``counts[1]`` to row 1,
        and so on, each row's by distance then id. ``threads`` as for ``query``."""
        q = _as_hashes(hashes)
        t = _check_threshold(threshold)
        parts = self._snapshot()
        if threads <= 1 or len(q) < 2 * MIN_THREAD_ROWS:
            return _merge_flat(len(q), [p.query(q, t) for p in parts])
        from concurrent.futures import ThreadPoolExecutor

        # Contiguous chunks, several per thread (queries differ in cost), all on one snapshot;
        # each chunk's results are grouped by query in order, so concatenating them keeps the order.
        step = max(MIN_THREAD_ROWS, -(-len(q) // (4 * threads)))
        chunks = [q[i : i + step] for i in range(0, len(q), step)]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            done = list(pool.map(lambda c: _merge_flat(len(c), [p.query(c, t) for p in parts]), chunks))
        return (np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done]),
                np.concatenate([d[2] for d in done]))

    def _query(self, q: np.ndarray, threshold: int) -> list[tuple[np.ndarray, np.ndarray]]:
        t = _check_threshold(threshold)
        return _merge_results(len(q), [p.query(q, t) for p in self._snapshot()])

    def _snapshot(self) -> list[Segment]:
        """The live segments, and the buffer as one more segment, as they are now (queries never
        block writers beyond this short lock)."""
        with self._lock:
            self._settle_locked()
            segments = [s for s in self._segments if s.live]
            buf = self._buffer
            snap = (buf.ids, buf.hashes, buf.dead, buf.n, buf.n_dead)
        b_ids, b_hashes, b_dead, b_n, b_ndead = snap
        if b_n - b_ndead > 0:
            segments.append(
                Segment(ids=b_ids[:b_n], hashes=b_hashes[:b_n], dead=b_dead[:b_n], n_dead=b_ndead)
            )
        return segments

    def query_one(self, hash32: bytes, threshold: int = DEFAULT_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, distances)`` of stored hashes within ``threshold`` of one 32-byte hash."""
        if len(hash32) != HASH_BYTES:
            raise UsageError(f"a hash is {HASH_BYTES} bytes, got {len(hash32)}")
        return self._query(np.frombuffer(bytes(hash32), np.uint8).reshape(1, HASH_BYTES), threshold)[0]

    # ---- writing ---------------------------------------------------------------------------

    def add(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        """Add rows; an id already present is replaced (the last row added for an id wins).

        Rows are placed at the next read (query, len, save …), so many add() calls in a row cost one
        table build, not one each; every read sees every completed add().
        """
        ids = _as_ids(ids)
        h = _as_hashes(hashes) if len(ids) else np.zeros((0, HASH_BYTES), np.uint8)
        if len(ids) != len(h):
            raise UsageError(f"{len(ids)} ids but {len(h)} hashes")
        if len(ids) == 0:
            return
        with self._lock:
            self._pending.append((ids.copy(), h.copy()))  # copies: the caller may reuse its arrays

    def _settle_locked(self) -> None:
        """Place pending additions: into the scanned buffer when few, as a new indexed segment when many."""
        if not self._pending:
            return
        if len(self._pending) == 1:
            ids, h = self._pending[0]
        else:
            ids = np.concatenate([p[0] for p in self._pending])
            h = np.concatenate([p[1] for p in self._pending])
        self._pending = []
        # Last occurrence wins (strictly increasing ids, the bulk-load case, skip the sort).
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            _, last = np.unique(ids[::-1], return_index=True)
            if len(last) != len(ids):
                keep = np.sort(len(ids) - 1 - last)
                ids, h = ids[keep], h[keep]
        self._remove_locked(ids)
        if len(ids) >= BUFFER_ROWS:
            self._segments.append(Segment.build(ids, h, owned=True))  # private copies made by add()
            self._compact_locked()
        else:
            self._buffer.append(ids, h)
            if self._buffer.n >= BUFFER_ROWS:
                self._seal_locked()

    def remove(self, ids: Iterable[int] | np.ndarray) -> None:
        """Remove ids now; unknown ids are ignored."""
        arr = np.unique(_as_ids(list(ids) if not isinstance(ids, np.ndarray) else ids))
        with self._lock:
            self._settle_locked()
            self._remove_locked(arr)

    def _remove_locked(self, ids: np.ndarray) -> None:
        for s in self._segments:
            _, rows = s.find(ids)
            s.kill(rows)
        if self._buffer.row_of:
            for i in ids.tolist():
                self._buffer.kill(i)

    def _seal_locked(self) -> None:
        ids, h = self._buffer.live_rows()
        self._buffer = _Buffer()
        if len(ids):
            self._segments.append(Segment.build(ids, h, owned=True))  # live_rows() copied them
            self._compact_locked()

    def _compact_locked(self) -> None:
        """Merge the newest segments while the older one is not much bigger (keeps O(log n) segments)."""
        segs = self._segments
        while len(segs) >= 2 and segs[-2].live <= 2 * segs[-1].live:
            b, a = segs.pop(), segs.pop()
            segs.append(_merge([a, b]))

    def optimize(self) -> None:
        """Fold the buffer and every segment into one (dead rows dropped); queries get fastest."""
        with self._lock:
            self._settle_locked()
            parts = list(self._segments)
            clean = len(parts) == 1 and parts[0].n_dead == 0 and parts[0].widths == _widths_for(parts[0])
            if self._buffer.live:
                ids, h = self._buffer.live_rows()
                parts.append(Segment(ids=ids, hashes=h))  # unsorted: only ever an input to _merge
                clean = False
            self._buffer = _Buffer()
            if not clean:
                self._segments = [_merge(parts)] if parts else []

    # ---- persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the index atomically (temp file + fsync + rename) and continue on the saved file."""
        if path is None:
            if self._path is None:
                raise UsageError("save() needs a path for an index that was not opened from a file")
            if not self._writable:
                raise UsageError(f"{self._path} was opened read-only; pass a path or open(writable=True)")
            path = self._path
        path = Path(path)
        with self._lock:
            self.optimize()
            seg = self._segments[0] if self._segments else Segment.build(np.zeros(0, np.int64),
                                                                        np.zeros((0, HASH_BYTES), np.uint8))
            fileformat.write_segment(path, seg, dict(self.meta))
            # Continue on the mapping so the in-memory copy can be freed.
            mapped, _ = fileformat.read_segment(path)
            self._segments = [mapped] if len(mapped) else []
            if self._path is None or self._path == path:
                self._path = path

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, writable: bool = False, verify: bool = False
    ) -> HammingIndex:
        """Map a saved index; additions and removals stay in memory until ``save``.

        ``writable`` allows ``save()`` with no path to replace the file this index came from.
        ``verify`` checks every table's contents too (a second or so per 10 M rows): use it for
        index files that did not come from this Haven installation.
        """
        seg, meta = fileformat.read_segment(path)
        if verify:
            fileformat.verify_segment(seg, path)
        idx = cls()
        idx._segments = [seg] if len(seg) else []
        idx.meta = meta
        idx._path = Path(path)
        idx._writable = writable
        return idx

    def stats(self) -> dict[str, Any]:
        """Counts and layout, for ``haven index stats`` and monitoring."""
        with self._lock:
            self._settle_locked()
            return {
                "count": len(self),
                "segments": [
                    {"rows": len(s), "dead": s.n_dead, "widths": list(s.widths)} for s in self._segments
                ],
                "buffer_rows": self._buffer.live,
                "path": str(self._path) if self._path else None,
            }


def _widths_for(seg: Segment) -> tuple[int, ...]:
    from haven.index import kernel

    return tuple(kernel.choose_widths(seg.live))


def _merge(parts: list[Segment]) -> Segment:
    rows = [p.live_rows() for p in parts]  # once per part: each call builds int64 ids (and masks dead rows)
    ids, hashes = np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    return Segment.build(ids, hashes, owned=True)


def _merge_flat(
    nq: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine per-segment grouped results into ``(counts per query, ids, distances)``, the ids and
    distances grouped by query in query order, each group sorted by (distance, id)."""
    if not parts:
        return np.zeros(nq, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32)
    counts = parts[0][0].astype(np.int64, copy=True)
    for c, _, _ in parts[1:]:
        counts += c
    ids = np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False)
    dists = np.concatenate([p[2] for p in parts]).astype(np.int32, copy=False)
    if len(parts) > 1 or (counts > 1).any():
        qidx = np.concatenate([np.repeat(np.arange(nq), c) for c, _, _ in parts])
        order = np.lexsort((ids, dists, qidx))
        ids, dists = ids[order], dists[order]
    return counts, ids, dists


def _merge_results(
    nq: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Combine per-segment grouped results into per-query arrays sorted by (distance, id)."""
    if not parts:
        return [(np.zeros(0, np.int64), np.zeros(0, np.int32)) for _ in range(nq)]
    if len(parts) == 1 and nq == 1:  # the common single-query case, kept cheap
        _, ids, dists = parts[0]
        if len(ids) > 1:
            order = np.lexsort((ids, dists))
            ids, dists = ids[order], dists[order]
        return [(ids.astype(np.int64, copy=False), dists)]
    return _split_flat(*_merge_flat(nq, parts))


def _split_flat(
    counts: np.ndarray, ids: np.ndarray, dists: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Flat ``(counts, ids, distances)`` as one ``(ids, distances)`` pair per query."""
    bounds = np.cumsum(counts)[:-1].tolist()
    return list(zip(np.split(ids, bounds), np.split(dists, bounds), strict=True))
