"""``PdqSignalIndex``: the ``haven.signals.SignalIndex`` adapter over ``HammingIndex`` (64-hex PDQ values)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    """PDQ values by integer id, queried by Hamming distance."""

    def __init__(self, index: HammingIndex | None = None) -> None:
        self.index = index if index is not None else HammingIndex()

    def add(self, ids: Sequence[int], values: Sequence[str]) -> None:
        if len(ids) != len(values):
            raise FormatError(f"{len(ids)} ids but {len(values)} values")
        self.index.add(np.asarray(list(ids), np.int64), pdq_hex_to_array(list(values)))

    def remove(self, ids: Iterable[int]) -> None:
        self.index.remove(list(ids))

    def query(self, value: str, threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
        ids, dists = self.index.query(pdq_hex_to_array([value]), threshold)[0]
        return list(zip(ids.tolist(), dists.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self.index)
