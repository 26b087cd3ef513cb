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

    ids: np.ndarray  # (n,) strictly increasing; int64, or uint32 offsets from id_base (see build)
    hashes: np.ndarray  # uint8 (n, 32), C-contiguous
    widths: tuple[int, ...] = ()  # chunk widths in bits; () = no tables, queries scan
    tables: list[np.ndarray] = field(default_factory=list)  # per chunk: bucket table (kernel.build_tables)
    postings: list[np.ndarray] = field(default_factory=list)  # per chunk: uint32 (n,) rows by key
    dead: np.ndarray | None = None  # bool (n,): removed rows (in memory, never written to a mapped file)
    n_dead: int = 0
    id_base: int = 0  # added to every stored id (non-zero only with uint32 ids)
    _plans: dict[int, object | None] = field(default_factory=dict, repr=False)  # threshold -> kernel.plan

    @classmethod
    def build(cls, ids: np.ndarray, hashes: np.ndarray, widths: tuple[int, ...] | None = None, *,
              owned: bool = False) -> Segment:
        """Sort rows by id and build the bucket tables (``widths=None`` picks them from the row count).

        ``owned``: the caller hands over ``ids`` and ``hashes`` (nobody else holds them), so rows
        already in id order are kept as they are instead of copied; at 100 M rows that copy was
        3.2 GB of the build's peak memory.

        Ids are stored as uint32 offsets from the smallest id when they span less than 2**32
        (bank entry ids do): half the memory of int64 (400 MB at 100 M rows).
        """
        ids = np.asarray(ids, dtype=np.int64)
        hashes = np.asarray(hashes, dtype=np.uint8)
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            out_ids = np.take(ids, order)
            out_hashes = kernel.empty((len(ids), HASH_BYTES), np.uint8)
            np.take(hashes, order, axis=0, out=out_hashes)
            ids, hashes = out_ids, out_hashes
        elif not (owned and hashes.flags.c_contiguous):
            ids, hashes = ids.copy(), np.array(hashes, order="C")
        id_base = 0
        if len(ids) and int(ids[-1]) - int(ids[0]) <= np.iinfo(np.uint32).max:
            id_base = int(ids[0])
            ids = (ids - id_base).astype(np.uint32)
        if widths is None:
            widths = kernel.choose_widths(len(ids))
        tables, postings = kernel.build_tables(hashes, widths) if widths else ([], [])
        return cls(ids=ids, hashes=hashes, widths=tuple(widths), tables=tables, postings=postings,
                   id_base=id_base)

    def ids_at(self, rows: np.ndarray | slice) -> np.ndarray:
        """The int64 ids of the given rows."""
        got = self.ids[rows]
        if self.ids.dtype == np.int64:
            return got
        return got.astype(np.int64) + self.id_base

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def live(self) -> int:
        return len(self.ids) - self.n_dead

    def find(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions in ids, rows)`` of the given ids that are live in this segment."""
        if len(self.ids) == 0 or len(ids) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.ids.dtype != np.int64:  # search the stored offsets, in their own type (no 64-bit copy)
            rel = np.asarray(ids, np.int64) - self.id_base
            inside = np.flatnonzero((rel >= 0) & (rel <= int(self.ids[-1])))
            pos, rows = self._find_stored(rel[inside].astype(self.ids.dtype))
            return inside[pos], rows
        return self._find_stored(ids)

    def _find_stored(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        """``(int64 ids, hashes)`` of the live rows (hashes are a view when nothing is dead)."""
        if self.dead is None or self.n_dead == 0:
            return self.ids_at(slice(None)), self.hashes
        keep = ~self.dead
        return self.ids_at(keep), self.hashes[keep]

    def plan(self, threshold: int) -> object | None:
        """The kernel's prepared probe tables for ``threshold`` (None = scan), made once per threshold."""
        try:
            return self._plans[threshold]
        except KeyError:
            p = self._plans[threshold] = kernel.plan(self, threshold)
            return p

    def query(self, queries: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(counts (q,), ids, dists)``: the live rows within ``threshold`` of each query, grouped by
        query."""
        dead = self.dead if self.n_dead else None
        counts, rows, dists = kernel.search(self, queries, threshold, dead)
        return counts, self.ids_at(rows), dists
