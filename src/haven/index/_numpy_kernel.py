"""Pure-NumPy reference kernel: a vectorised linear scan, used when the C kernel is unavailable and by
tests."""

from __future__ import annotations

import numpy as np


def scan(
    hashes: np.ndarray, dead: np.ndarray | None, queries: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row within ``threshold`` of each query: ``(counts (q,), rows, dists)`` grouped by query."""
    words = hashes.view(np.uint64).reshape(len(hashes), 4) if len(hashes) else np.zeros((0, 4), np.uint64)
    qwords = np.ascontiguousarray(queries).view(np.uint64).reshape(len(queries), 4)
    counts = np.zeros(len(queries), np.int64)
    rows_out: list[np.ndarray] = []
    dists_out: list[np.ndarray] = []
    for qi in range(len(queries)):
        d = np.bitwise_count(words ^ qwords[qi]).sum(axis=1, dtype=np.int32)
        hit = d <= threshold
        if dead is not None:
            hit &= ~dead
        rows = np.flatnonzero(hit)
        counts[qi] = len(rows)
        rows_out.append(rows.astype(np.int64))
        dists_out.append(d[rows].astype(np.int32))
    if not rows_out:
        return counts, np.zeros(0, np.int64), np.zeros(0, np.int32)
    return counts, np.concatenate(rows_out), np.concatenate(dists_out)
