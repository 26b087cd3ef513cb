"""Safety limits for walking containers, and the per-source byte budget that enforces them.

One mechanism for every container kind (zip, tar and its compressed forms, disk images, and
any nesting of them): every byte a container yields — members read, members skipped over in a
stream, files read off a disk image — is spent from its source's ``Budget`` as it is produced,
in blocks. A source may yield its own size plus a bounded multiple of it; past that it is a
decompression bomb, whatever shape it has (one huge member, many members just under the
per-member check, a nest of archives, overlapping entries, cross-linked disk clusters).
"""

from __future__ import annotations

from dataclasses import dataclass

from haven.errors import BombError
from haven.media.evidence import EvidencePath
from haven.media.items import Problem

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile evidence (bombs, deep nesting, huge members) from exhausting the machine."""

    max_depth: int = 3  # containers inside containers; a container deeper than this is hashed, not opened
    max_member_bytes: int = 512 * MiB  # the largest member held in memory (to decode or to open); see hold
    max_ratio: float = 200.0  # expansion: declared/packed size of one member, and yield/size of a source
    ratio_min_bytes: int = 4 * MiB  # a member smaller than this may compress well (text, blank images)
    source_min_bytes: int = 256 * MiB  # a source may always yield this much, whatever its ratio
    max_source_bytes: int = 16 * GiB  # bytes a source may yield beyond its own size, at most
    max_members: int = 1_000_000  # entries in one container


class Budget:
    """Bytes yielded so far by the containers of one source, against what that source may yield.

    A source of ``size`` bytes may yield ``size + min(max_source_bytes, max(source_min_bytes,
    max_ratio × size))``: a disk image or a zip of photos (about 1:1) never comes near it, a
    bomb reaches it after a bounded amount of work.
    """

    def __init__(self, limits: Limits, source_size: int) -> None:
        self.limits = limits
        self.used = 0
        self.allowance = 0
        self.rebase(source_size)

    def rebase(self, source_size: int) -> None:
        """Recompute the allowance for a source whose content is ``source_size`` bytes (an E01's media)."""
        lim = self.limits
        extra = min(lim.max_source_bytes, max(lim.source_min_bytes, int(lim.max_ratio * source_size)))
        self.allowance = source_size + extra

    @property
    def remaining(self) -> int:
        return max(0, self.allowance - self.used)

    def fits(self, size: int) -> bool:
        return self.used + size <= self.allowance

    def spend(self, size: int, where: EvidencePath) -> None:
        """Count ``size`` more bytes yielded at ``where``; a ``BombError`` naming it once over the
        allowance."""
        self.used += size
        if self.used > self.allowance:
            raise self.exhausted(where)

    def exhausted(self, where: EvidencePath) -> BombError:
        return BombError(
            f"its source has yielded {self.used:,} bytes, over the {self.allowance:,} it may "
            f"(decompression bomb); not read",
            path=str(where),
        )


def unsafe_member_name(name: str) -> bool:
    """True for names that would escape an extraction folder: absolute, drive-letter or ``..`` parts."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in name.replace("\\", "/").split("/"))


def check_member(
    child: EvidencePath, name: str, size: int, packed: int | None, limits: Limits, budget: Budget
) -> list[Problem]:
    """Problems known from a member's header, before reading it; a ``skipped`` one means: do not read it."""
    out = []
    if unsafe_member_name(name):
        out.append(
            Problem.warning(
                child,
                f"member name {name!r} points outside the archive (path traversal); read in memory only",
                "path_traversal",
            )
        )
    if packed is not None and size >= limits.ratio_min_bytes and size > limits.max_ratio * max(packed, 1):
        out.append(
            Problem.skip(
                child,
                f"compression ratio {size / max(packed, 1):.0f}:1 exceeds {limits.max_ratio:.0f}:1 "
                "(zip bomb); skipped",
                "zip_bomb",
            )
        )
    elif not budget.fits(size):
        out.append(
            Problem.skip(
                child,
                f"declares {size:,} bytes, more than the {budget.remaining:,} its source may still yield "
                "(decompression bomb); skipped",
                "zip_bomb",
            )
        )
    return out
