"""``PdqSignalIndex``: the ``haven.signals.SignalIndex`` adapter over ``HammingIndex`` (64-hex PDQ values)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from haven.errors import FormatError
from haven.index.hamming import DEFAULT_THRESHOLD, HammingIndex


def pdq_hex_to_array(values: Sequence[str]) -> np.ndarray:
    """64-hex PDQ strings → uint8 (n, 32) (raises ``FormatError`` on a malformed value)."""
    # Fast path, one decode for the lot: sound because every value is 64 characters and any
    # non-hex character (whitespace included, which fromhex skips) would leave fewer than 32 bytes.
    try:
        if all(len(v) == 64 for v in values):
            raw = bytes.fromhex("".join(values))
            if len(raw) == 32 * len(values):
                return np.frombuffer(raw, np.uint8).reshape(len(values), 32).copy()
    except (TypeError, ValueError):
        pass
    out = np.zeros((len(values), 32), np.uint8)
    for k, v in enumerate(values):
        try:
            raw = bytes.fromhex(v) if isinstance(v, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise FormatError(f"not a valid PDQ hash (want 64 hex digits): {v!r:.80}")
        out[k] = np.frombuffer(raw, np.uint8)
    return out


class PdqSignalIndex:
    """PDQ values by integer id, queried by Hamming distance: the ``SignalIndex`` of the PDQ signal,
    over a ``HammingIndex`` (which it exposes as ``index`` for saving and statistics)."""

    def __init__(self, index: HammingIndex | None = None) -> None:
        self.index = index if index is not None else HammingIndex()

    def add(self, ids: np.ndarray | Sequence[int], values: Sequence[str]) -> None:
        if len(ids) != len(values):
            raise FormatError(f"{len(ids)} ids but {len(values)} values")
        if len(values):
            self.index.add(np.asarray(ids, np.int64), pdq_hex_to_array(values))

    def remove(self, ids: Iterable[int] | np.ndarray) -> None:
        self.index.remove(ids if isinstance(ids, np.ndarray) else list(ids))

    def query_flat(self, values: Sequence[str], threshold: int = DEFAULT_THRESHOLD, *, threads: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.index.query_flat(pdq_hex_to_array(values), threshold, threads=threads)

    def query(self, value: str, threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
        ids, dists = self.index.query(pdq_hex_to_array([value]), threshold)[0]
        return list(zip(ids.tolist(), dists.tolist(), strict=True))

    def save(self, path: Path, meta: dict[str, str | int]) -> None:
        """Write the index atomically with ``meta`` in its header (``HammingIndex.save``)."""
        self.index.meta = dict(meta)
        self.index.save(path)

    @classmethod
    def open(cls, path: Path) -> PdqSignalIndex:
        return cls(HammingIndex.open(path))

    def __len__(self) -> int:
        return len(self.index)
