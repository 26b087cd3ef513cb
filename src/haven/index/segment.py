"""An immutable run of (id, hash) rows sorted by id, with its multi-index hash tables and a tombstone mask.

A segment never changes after it is built except for its ``dead`` mask (removals are immediate and
cost one byte write). The index is a short list of segments plus an append-only buffer; see
``haven.index.hamming``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from haven.index import kernel

HASH_BYTES = 32


@dataclass(eq=False)
class Segment:
    """Rows sorted by id (unique), their hashes and, when large enough, one CSR bucket table per chunk."""

    ids: np.ndarray  # int64 (n,), strictly increasing
    hashes: np.ndarray  # uint8 (n, 32), C-contiguous
    widths: tuple[int, ...] = ()  # chunk widths in bits; () = no tables, queries scan
    tables: list[np.ndarray] = field(default_factory=list)  # per chunk: bucket table (kernel.build_tables)
    postings: list[np.ndarray] = field(default_factory=list)  # per chunk: uint32 (n,) rows by key
    dead: np.ndarray | None = None  # bool (n,): removed rows (in memory, never written to a mapped file)
    n_dead: int = 0
    _plans: dict[int, list[tuple] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, ids: np.ndarray, hashes: np.ndarray, widths: tuple[int, ...] | None = None) -> Segment:
        """Sort rows by id and build the bucket tables (``widths=None`` picks them from the row count)."""
        ids = np.asarray(ids, dtype=np.int64)
        out_ids = kernel.empty((len(ids),), np.int64)
        out_hashes = kernel.empty((len(ids), HASH_BYTES), np.uint8)
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            np.take(ids, order, out=out_ids)
            np.take(hashes, order, axis=0, out=out_hashes)
        else:
            out_ids[...] = ids
            out_hashes[...] = hashes
        ids, hashes = out_ids, out_hashes
        if widths is None:
            widths = kernel.choose_widths(len(ids))
        tables, postings = kernel.build_tables(hashes, widths) if widths else ([], [])
        return cls(ids=ids, hashes=hashes, widths=tuple(widths), tables=tables, postings=postings)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def live(self) -> int:
        return len(self.ids) - self.n_dead

    def find(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions in ids, rows)`` of the given ids that are live in this segment."""
        if len(self.ids) == 0 or len(ids) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows = np.searchsorted(self.ids, ids)
        rows_c = np.minimum(rows, len(self.ids) - 1)
        hit = self.ids[rows_c] == ids
        if self.dead is not None:
            hit &= ~self.dead[rows_c]
        pos = np.flatnonzero(hit)
        return pos, rows_c[pos].astype(np.int64)

    def kill(self, rows: np.ndarray) -> None:
        """Tombstone rows (duplicates and already-dead rows are ignored)."""
        if len(rows) == 0:
            return
        if self.dead is None:
            self.dead = np.zeros(len(self.ids), dtype=bool)
        rows = np.unique(rows)
        rows = rows[~self.dead[rows]]
        self.dead[rows] = True
        self.n_dead += len(rows)

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, hashes)`` of the live rows (views when nothing is dead)."""
        if self.dead is None or self.n_dead == 0:
            return self.ids, self.hashes
        keep = ~self.dead
        return self.ids[keep], self.hashes[keep]

    def plan(self, threshold: int) -> list[tuple] | None:
        """Kernel probe tables for ``threshold`` (None = scan), computed once per threshold."""
        try:
            return self._plans[threshold]
        except KeyError:
            p = self._plans[threshold] = kernel.plan(self, threshold)
            return p

    def query(self, queries: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(counts (q,), ids, dists)``: the live rows within ``threshold`` of each query, grouped by query."""
        dead = self.dead if self.n_dead else None
        counts, rows, dists = kernel.search(self, queries, threshold, dead)
        return counts, self.ids[rows], dists
