"""Brute-force reference and data builders shared by the index tests."""

from __future__ import annotations

import numpy as np


def brute(ids: np.ndarray, hashes: np.ndarray, q: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference answer by unpacking bits (independent of the kernels): sorted by (distance, id)."""
    if len(ids) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    d = np.unpackbits(hashes ^ q, axis=1).sum(axis=1)
    keep = d <= t
    order = np.lexsort((ids[keep], d[keep]))
    return ids[keep][order].astype(np.int64), d[keep][order].astype(np.int32)


def flip(h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``h`` with exactly ``k`` distinct bits flipped."""
    bits = np.unpackbits(h)
    bits[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits)
