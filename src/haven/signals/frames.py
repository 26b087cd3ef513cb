"""Frame sets: the value of a ``LookupKind.FRAMES`` signal is a bag of per-frame hashes (vPDQ: one PDQ
value per sampled frame, with its quality and time). Two videos are compared as bags, ignoring order
and time. The rule, stated once here (and in docs/video.md):

1. Drop every frame whose quality is under ``quality`` (50), then keep one frame per distinct hash.
2. ``query_matched``: the query's frames with at least one compared frame within ``distance`` (≤ 31
   bits); ``compared_matched``: the same the other way round.
3. ``query_pct = 100 · query_matched / query frames``, ``compared_pct`` likewise (0 when a side has
   no frame left: never a division by zero).
4. Haven's default (``both = False``): a match when ``query_pct ≥ query_pct`` **or**
   ``compared_pct ≥ compared_pct`` (80 each) — a clip cut from a banked video is mostly found in it
   (query side), and a compilation holding a banked video holds most of its frames (compared side).
   ``both = True`` asks for both percentages: python-threatexchange's rule is ``both`` with
   ``query_pct = 80, compared_pct = 0``; Meta's vpdq README example is ``both`` with 0 and 80.

The C++ reference counts a frame pair as matched at a strictly smaller distance (``< 31``); that is
``distance = 30`` here. The matcher's index (``haven.index.frames.FrameSetIndex``) computes the same
numbers as ``compare`` below without comparing every pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from haven.signals.base import SignalOption

if TYPE_CHECKING:
    from haven.signals.base import SignalType


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a frame set: its hash (a value of the frame signal), quality, time and number."""

    hash: str
    quality: int
    timestamp: float
    number: int | None = None  # the frame's number in its video, where the value's source gave it


@dataclass(frozen=True)
class FrameRule:
    """The thresholds of the rule above (each configurable per bank)."""

    distance: int = 31
    quality: int = 50
    query_pct: int = 80
    compared_pct: int = 80
    both: bool = False

    def decide(self, query_pct: float, compared_pct: float) -> bool:
        q = query_pct >= self.query_pct
        c = compared_pct >= self.compared_pct
        return (q and c) if self.both else (q or c)


@dataclass(frozen=True)
class FrameSetMatch:
    """How two frame sets compare under a rule."""

    query_pct: float
    compared_pct: float
    query_matched: int
    compared_matched: int
    query_frames: int
    compared_frames: int
    matched: bool

    @property
    def distance(self) -> int:
        """0..100: the share of frames left unmatched on the better-covered side (0: one side is wholly
        found in the other). What a ``FRAMES`` signal reports as a match's distance."""
        return 100 - int(max(self.query_pct, self.compared_pct))

    def fields(self) -> dict[str, float | int]:
        """The members a match object carries (``haven match --json``, the API)."""
        return {
            "query_pct": round(self.query_pct, 2),
            "compared_pct": round(self.compared_pct, 2),
            "matched_frames": self.query_matched,
            "query_frames": self.query_frames,
            "compared_matched_frames": self.compared_matched,
            "compared_frames": self.compared_frames,
        }


def usable(frames: Iterable[Frame], quality: int) -> list[str]:
    """Step 1: the distinct hashes of the frames of at least ``quality``, in first-seen order."""
    seen: dict[str, None] = {}
    for f in frames:
        if f.quality >= quality:
            seen.setdefault(f.hash, None)
    return list(seen)


def percentages(
    query_matched: int, query_frames: int, compared_matched: int, compared_frames: int, rule: FrameRule
) -> FrameSetMatch:
    """Steps 3 and 4 from the counts. Two videos with no frame in common never match, whatever the
    percentages asked for (a bank set to 0 % would otherwise match every video against every other)."""
    q = 100.0 * query_matched / query_frames if query_frames else 0.0
    c = 100.0 * compared_matched / compared_frames if compared_frames else 0.0
    return FrameSetMatch(
        q,
        c,
        query_matched,
        compared_matched,
        query_frames,
        compared_frames,
        bool(query_frames and compared_frames and query_matched) and rule.decide(q, c),
    )


def compare(
    query: Sequence[Frame], compared: Sequence[Frame], rule: FrameRule, distance: Callable[[str, str], int]
) -> FrameSetMatch:
    """The rule by brute force over every pair (two values; the matcher uses an index instead)."""
    qs, cs = usable(query, rule.quality), usable(compared, rule.quality)
    near = [[distance(a, b) <= rule.distance for b in cs] for a in qs]
    q_matched = sum(any(row) for row in near)
    c_matched = sum(any(near[i][j] for i in range(len(qs))) for j in range(len(cs)))
    return percentages(q_matched, len(qs), c_matched, len(cs), rule)


class FrameSetSignal:
    """Mixin for a ``SignalType`` whose ``lookup`` is ``FRAMES``: its distance, match test and per-bank
    rule come from the frame-set rule above, over the frames its ``frames()`` lists, compared with its
    ``frame_signal``'s distance. A bank's threshold for the signal is the per-frame distance."""

    options: ClassVar[Mapping[str, SignalOption]] = {
        o.name: o
        for o in (
            SignalOption("quality", FrameRule.quality, 0, 100, "frames of a lower quality are left out"),
            SignalOption("query_pct", FrameRule.query_pct, 0, 100, "% of the query's frames found"),
            SignalOption(
                "compared_pct", FrameRule.compared_pct, 0, 100, "% of the banked video's frames found"
            ),
            SignalOption("both", 0, 0, 1, "1: both percentages must be reached; 0: either"),
        )
    }

    @classmethod
    def frame_rule(cls, threshold: int | None = None, settings: Mapping[str, int] | None = None) -> FrameRule:
        """The rule with a bank's settings (its thresholds; defaults where not set) and ``threshold`` as
        the per-frame distance (the signal's default when None)."""
        sig = cast("type[SignalType]", cls)
        return FrameRule(
            distance=sig.default_threshold if threshold is None else threshold,
            quality=sig.option("quality", settings),
            query_pct=sig.option("query_pct", settings),
            compared_pct=sig.option("compared_pct", settings),
            both=bool(sig.option("both", settings)),
        )

    @classmethod
    def compare_values(cls, query: str, compared: str, rule: FrameRule | None = None) -> FrameSetMatch:
        sig = cast("type[SignalType]", cls)
        assert sig.frame_signal is not None
        return compare(
            sig.frames(query), sig.frames(compared), rule or cls.frame_rule(), sig.frame_signal.distance
        )

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """``FrameSetMatch.distance`` under the default rule: 0 when one side is wholly in the other."""
        return 0 if a == b else cls.compare_values(a, b).distance

    @classmethod
    def matches(cls, a: str, b: str, threshold: int | None = None) -> bool:
        return cls.compare_values(a, b, cls.frame_rule(threshold)).matched

    @classmethod
    def make_index(cls) -> Any:
        """A ``FrameSetIndex``: the frame signal's own index over every frame, with ids back to values."""
        from haven.index.frames import FrameSetIndex

        sig = cast("type[SignalType]", cls)
        assert sig.frame_signal is not None
        return FrameSetIndex(sig.frames, sig.frame_signal.make_index)
