"""Search kernels: multi-index hashing (compiled) with an exact linear scan as the fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from haven.index import _numpy_kernel

if TYPE_CHECKING:
    from haven.index.segment import Segment


def choose_widths(n: int) -> tuple[int, ...]:
    """Chunk widths for a segment of ``n`` rows; () means no tables (scan)."""
    return ()


def build_tables(hashes: np.ndarray, widths: tuple[int, ...]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    raise NotImplementedError


def search(seg: Segment, queries: np.ndarray, threshold: int, dead: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts, rows, dists)`` for each query against one segment, exact for every threshold."""
    return _numpy_kernel.scan(seg.hashes, dead, queries, threshold)
