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


def near_pairs(hashes: np.ndarray, threshold: int) -> Iterator[tuple[int, int, int]]:
    """Every pair ``(i, j, distance)`` with ``i < j`` whose hashes differ in at most ``threshold`` bits."""
    n = len(hashes)
    if n < 2:
        return
    index = HammingIndex()
    index.add(np.arange(n, dtype=np.int64), hashes)
    index.optimize()
    for start in range(0, n, QUERY_CHUNK):
        results = index.query(hashes[start : start + QUERY_CHUNK], threshold)
        for offset, (ids, dists) in enumerate(results):
            i = start + offset
            for j, d in zip(ids.tolist(), dists.tolist(), strict=True):
                if j > i:
                    yield i, j, d


def cluster(hashes: np.ndarray, threshold: int, uf: UnionFind | None = None) -> UnionFind:
    """Join every pair of hashes within ``threshold`` bits (into ``uf`` when given)."""
    uf = uf or UnionFind(len(hashes))
    for i, j, _ in near_pairs(hashes, threshold):
        uf.union(i, j)
    return uf
