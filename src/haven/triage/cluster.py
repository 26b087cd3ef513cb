"""Near-duplicate clustering: union-find over the edges of HammingIndex range queries (O(n · candidates))."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from haven.index import HammingIndex

QUERY_CHUNK = 4096  # queries per index call: bounds memory, keeps the GIL-free kernel busy


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def components(self) -> list[list[int]]:
        """Every set as a sorted list of members, the sets ordered by their smallest member."""
        groups: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            groups.setdefault(self.find(i), []).append(i)
        return sorted(groups.values(), key=lambda g: g[0])


def near_pairs(hashes: np.ndarray, threshold: int, *, threads: int = 1) -> Iterator[tuple[int, int, int]]:
    """Every pair ``(i, j, distance)`` with ``i < j`` whose hashes differ in at most ``threshold`` bits,
    in order of ``i`` then distance then ``j`` (``threads``: index queries split over that many)."""
    n = len(hashes)
    if n < 2:
        return
    index = HammingIndex()
    index.add(np.arange(n, dtype=np.int64), hashes)
    index.optimize()
    chunk = QUERY_CHUNK * max(1, threads)
    for start in range(0, n, chunk):
        counts, ids, dists = index.query_flat(hashes[start : start + chunk], threshold, threads=threads)
        rows = start + np.repeat(np.arange(len(counts)), counts)
        keep = ids > rows  # each pair once, from its smaller end (self-matches dropped)
        yield from zip(rows[keep].tolist(), ids[keep].tolist(), dists[keep].tolist(), strict=True)


def cluster(
    hashes: np.ndarray, threshold: int, uf: UnionFind | None = None, *, threads: int = 1
) -> UnionFind:
    """Join every pair of hashes within ``threshold`` bits (into ``uf`` when given)."""
    uf = uf or UnionFind(len(hashes))
    for i, j, _ in near_pairs(hashes, threshold, threads=threads):
        uf.union(i, j)
    return uf
