"""Types of the compiled multi-index-hashing kernel (``_mih.c``)."""

from typing import Any

import numpy as np

def prepare(tables: Any) -> object:
    """Parse a segment's probe tables once, for ``search_plan``."""

def search_plan(
    hashes: np.ndarray[Any, Any], dead: np.ndarray[Any, Any] | None, queries: np.ndarray[Any, Any],
    threshold: int, plan: object,
) -> tuple[bytes, bytes, bytes]:
    """Multi-index-hashing range search over one segment's plan: ``(counts, rows, distances)`` buffers."""

def scan(
    hashes: np.ndarray[Any, Any], dead: np.ndarray[Any, Any] | None, queries: np.ndarray[Any, Any],
    threshold: int,
) -> tuple[bytes, bytes, bytes]:
    """Exact linear-scan range search over one segment."""

def build(hashes: np.ndarray[Any, Any], start: int, width: int, offsets: np.ndarray[Any, Any],
          postings: np.ndarray[Any, Any]) -> None:
    """Build one chunk's CSR bucket table."""
