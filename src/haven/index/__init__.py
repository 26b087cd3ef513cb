"""Exact Hamming-range index for 256-bit hashes (PDQ): multi-index hashing, incremental, memory-mapped."""

from haven.index.hamming import DEFAULT_THRESHOLD, HammingIndex
from haven.index.signal import PdqSignalIndex, pdq_hex_to_array

__all__ = ["DEFAULT_THRESHOLD", "HammingIndex", "PdqSignalIndex", "pdq_hex_to_array"]
