"""``Match``: one bank entry that a hash matched — the one result type of every shell (the CLI's
``--json``, the API, triage's case, reports)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from haven.banks.types import Entry
from haven.signals import Variant, get_signal


@dataclass(frozen=True)
class Match:
    """One bank entry matched by a hash (``distance`` 0 for exact signals; for frame-set signals the share
    of frames left unmatched, 0-100). ``variant`` is set when the entry was found through another value of
    the query (a rotation, the image as if upscaled); ``detail`` holds what a frame-set match measured
    (``query_pct``, ``compared_pct``, ``matched_frames`` …)."""

    bank: str
    signal: str
    value: str
    distance: int
    category: str | None = None
    severity: int | None = None
    entry_id: int | None = None
    series: str | None = None
    victim_identified: bool | None = None
    category_scheme: str | None = None
    variant: Variant | None = None
    detail: Mapping[str, Any] | None = None
    item: str | None = None  # the entry's media group (``haven.banks.content``); not part of the output

    @classmethod
    def from_entry(cls, entry: Entry, distance: int, variant: Variant | None = None,
                   detail: Mapping[str, Any] | None = None) -> Match:
        return cls(bank=entry.bank, signal=entry.signal, value=entry.value, distance=distance,
                   category=entry.category, severity=entry.severity, entry_id=entry.id, series=entry.series,
                   victim_identified=entry.victim_identified, category_scheme=entry.category_scheme,
                   variant=variant, detail=detail, item=entry.item)

    def to_dict(self) -> dict[str, Any]:
        """The match object of ``haven match --json`` and the API (variant members only when set, in the
        shape the signal defines: PDQ's upscaled look-ups say ``upscaled_to``)."""
        out: dict[str, Any] = {
            "bank": self.bank, "signal": self.signal, "distance": self.distance, "category": self.category,
            "category_scheme": self.category_scheme, "severity": self.severity, "entry_id": self.entry_id,
            "value": self.value, "series": self.series, "victim_identified": self.victim_identified}
        if self.variant is not None:
            out.update(get_signal(self.signal).variant_match_fields(self.variant))
        if self.detail:
            out.update(self.detail)
        return out


def sort_matches(matches: Iterable[Match]) -> list[Match]:
    """Closest first, then the most severe, then the oldest entry."""
    return sorted(matches, key=lambda m: (m.distance, -(m.severity if m.severity is not None else -1),
                                          m.entry_id if m.entry_id is not None else -1))
