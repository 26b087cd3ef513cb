"""Safety limits for walking containers: depth, per-member and per-source byte caps, compression ratio."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile archive (zip bomb, deep nesting) from exhausting the examiner's machine."""

    max_depth: int = 3  # containers inside containers; a container deeper than this is hashed, not opened
    max_member_bytes: int = 512 * MiB  # one archive member read into memory
    max_source_bytes: int = 64 * 1024 * MiB  # all members decompressed from one source, in total
    max_ratio: float = 200.0  # uncompressed / compressed size of one zip member
    ratio_min_bytes: int = 4 * MiB  # small members may compress well (text, blank images): not bombs
    max_members: int = 2_000_000  # entries in one container


class Budget:
    """Bytes decompressed so far from one source, checked against ``Limits.max_source_bytes``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.used = 0

    def fits(self, size: int) -> bool:
        return self.used + size <= self.limits.max_source_bytes

    def spend(self, size: int) -> None:
        self.used += size
