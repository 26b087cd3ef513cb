"""``Coverage``: what a match searched — the enabled banks (of those asked for), their active entries per
signal, and the change-log position — so "no match" can be told from "nothing was checked", and a
result can later be shown to have been made against exactly that state of the banks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HOW_TO_GET_A_BANK = (
    "create one and import a hash list (`haven bank create NAME`, then `haven bank import NAME FILE`), "
    "add files to it (`haven bank add NAME FILE...`), or build the demo bank (`haven bank demo`)"
)


@dataclass(frozen=True)
class BankSearched:
    """One bank a match searched: its name and its active entries per signal."""

    name: str
    entries: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "entries": dict(sorted(self.entries.items()))}


@dataclass(frozen=True)
class Coverage:
    """The banks searched (enabled, and among those named when the matcher was limited to some), with
    entry counts as read at change-log position ``seq`` of the store ``store_id``."""

    banks: tuple[BankSearched, ...]
    seq: int
    store_id: str
    #: Banks named that exist but are disabled, so were not searched.
    disabled: tuple[str, ...] = ()

    def entries(self, signals: Iterable[str] | None = None) -> int:
        """Active entries over every bank searched (only of ``signals`` when given)."""
        wanted = None if signals is None else set(signals)
        return sum(n for b in self.banks for s, n in b.entries.items() if wanted is None or s in wanted)

    def per_signal(self) -> dict[str, int]:
        """Active entries per signal over every bank searched."""
        out: dict[str, int] = {}
        for b in self.banks:
            for s, n in b.entries.items():
                out[s] = out.get(s, 0) + n
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """The full record (triage's run.log, case.db and summary): each bank with its counts."""
        return {
            "banks": [b.to_dict() for b in self.banks],
            "entries": self.per_signal(),
            "seq": self.seq,
            "store_id": self.store_id,
        }

    def summary(self, signals: Iterable[str] | None = None) -> dict[str, Any]:
        """The short form a match response carries: how many banks and entries (of ``signals``)."""
        return {"banks": len(self.banks), "entries": self.entries(signals), "seq": self.seq}

    def describe(self) -> str:
        """One line for people: ``searched 2 banks (demo: 40 md5, 40 pdq; iwf: 5 md5) at change 12``."""
        if not self.banks:
            return "searched no bank"
        parts = []
        for b in self.banks:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(b.entries.items())) or "no entries"
            parts.append(f"{b.name}: {counts}")
        plural = "s" if len(self.banks) != 1 else ""
        return f"searched {len(self.banks)} bank{plural} ({'; '.join(parts)}) at change {self.seq}"

    def problem(self, signals: Iterable[str] | None = None) -> str | None:
        """Why a match against these banks would check nothing (None when something is searched)."""
        if not self.banks and self.disabled:
            return f"the bank(s) named are disabled ({', '.join(self.disabled)}): `haven bank enable NAME`"
        if not self.banks:
            return "there is no enabled bank to match against; " + HOW_TO_GET_A_BANK
        wanted = None if signals is None else sorted(set(signals))
        if self.entries(wanted) == 0:
            names = ", ".join(b.name for b in self.banks)
            of = f" {'/'.join(wanted)}" if wanted else ""
            return f"the enabled bank(s) ({names}) hold no{of} entries; " + HOW_TO_GET_A_BANK
        return None
