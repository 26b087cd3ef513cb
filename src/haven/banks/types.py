"""Plain data objects the bank store hands out and takes in (no SQLAlchemy attached)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

#: Feedback opinions that stop an entry from matching (its row and history stay).
DISABLING_FEEDBACK = frozenset({"false_positive", "disputed"})
#: Every accepted opinion; ``None`` clears it.
FEEDBACK_VALUES = frozenset({"confirmed", *DISABLING_FEEDBACK})
#: ``disable_until_ts`` magic values (HMA's): 0 keeps an entry off until it is changed, 1 (or none) is on.
DISABLED_TS, ENABLED_TS = 0, 1


def disabled_at(disable_until_ts: int | None, now: float) -> bool:
    """Whether an entry with this ``disable_until_ts`` is switched off at Unix time ``now``."""
    if disable_until_ts is None or disable_until_ts == ENABLED_TS:
        return False
    return disable_until_ts == DISABLED_TS or disable_until_ts > now


@overload
def utc(ts: datetime) -> datetime: ...
@overload
def utc(ts: None) -> None: ...
def utc(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every Haven timestamp is UTC."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


@dataclass(slots=True)
class EntryIn:
    """One hash to add to a bank, as read from a file or given on the command line / API."""

    signal: str
    value: str
    quality: int | None = None
    category: str | None = None
    category_scheme: str | None = None
    series: str | None = None
    victim_identified: bool | None = None
    note: str | None = None
    item: str | None = None
    feedback: str | None = None
    extra: dict[str, Any] | None = None
    disable_until_ts: int | None = None


#: Key in an entry's ``extra`` of the values stored beside it (``Variant.stored``: crops, rotations …
#: of the banked picture), ``{"family:key": value}``; a query matching one of them matches the entry.
VARIANTS_KEY = "variants"


def entries_from_hash(result: Any, **fields: Any) -> list[EntryIn]:
    """One entry per value a hashed file carries (a ``HashResult``: ``hashes``, ``quality`` and
    ``variants`` by signal), each with the same ``fields`` (category, note, item …). A signal's stored
    variants go into its entry's ``extra`` under ``VARIANTS_KEY``."""
    out = []
    for s, v in result.hashes.items():
        stored = {x.label: x.value for x in getattr(result, "variants", {}).get(s, ()) if x.stored}
        entry = EntryIn(signal=s, value=v, quality=result.quality.get(s), **fields)
        if stored:
            entry.extra = {**(entry.extra or {}), VARIANTS_KEY: stored}
        out.append(entry)
    return out


def stored_variants(extra: dict[str, Any] | None) -> dict[str, str]:
    """The stored variants an entry's ``extra`` holds (``{"family:key": value}``; empty when none)."""
    found = (extra or {}).get(VARIANTS_KEY)
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, str)}


@dataclass
class Bank:
    id: int
    name: str
    description: str | None
    source: str | None
    enabled: bool
    thresholds: dict[str, int]  # {signal: threshold, "signal.option": value}
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None
    enabled_ratio: float = 1.0  # the share of look-ups that use the bank (HMA's matching_enabled_ratio)

    def threshold(self, signal: str) -> int:
        """This bank's match threshold for ``signal`` (the signal's default when not set)."""
        from haven.signals import get_signal

        t = self.thresholds.get(signal)
        return get_signal(signal).default_threshold if t is None else t

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "enabled": self.enabled,
            "enabled_ratio": self.enabled_ratio,
            "thresholds": self.thresholds,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": _iso(self.updated_at),
            "updated_by": self.updated_by,
        }


@dataclass
class Entry:
    id: int
    bank_id: int
    bank: str
    signal: str
    value: str
    quality: int | None = None
    category: str | None = None
    category_scheme: str | None = None
    severity: int | None = None
    series: str | None = None
    victim_identified: bool | None = None
    item: str | None = None
    note: str | None = None
    extra: dict[str, Any] | None = None
    feedback: str | None = None
    feedback_by: str | None = None
    feedback_at: datetime | None = None
    import_id: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    disable_until_ts: int | None = None

    @property
    def active(self) -> bool:
        """False when feedback (false positive, disputed) has switched the entry off for matching."""
        return self.feedback not in DISABLING_FEEDBACK

    def matches_at(self, now: float) -> bool:
        """Whether the entry can match at Unix time ``now``: active, and not disabled until later."""
        return self.active and not disabled_at(self.disable_until_ts, now)

    def to_dict(self) -> dict[str, Any]:
        d = {
            k: getattr(self, k)
            for k in (
                "id",
                "bank",
                "signal",
                "value",
                "quality",
                "category",
                "category_scheme",
                "severity",
                "series",
                "victim_identified",
                "item",
                "note",
                "extra",
                "feedback",
                "feedback_by",
                "import_id",
                "created_by",
                "disable_until_ts",
            )
        }
        d["feedback_at"] = _iso(self.feedback_at)
        d["created_at"] = _iso(self.created_at)
        d["active"] = self.active
        return d


@dataclass
class Change:
    """One change-log row: ``sync`` (re-read entries ``lo..hi`` of a bank) or ``bank`` (bank row changed)."""

    seq: int
    op: str
    bank_id: int
    lo: int | None
    hi: int | None
    detail: str | None
    at: datetime | None
    actor: str | None


@dataclass
class ImportRecord:
    id: int
    bank_id: int
    path: str
    size: int
    sha256: str
    format: str
    status: str
    records_done: int
    rows_added: int
    errors: int
    warnings: int
    started_at: datetime | None
    finished_at: datetime | None
    actor: str | None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["started_at"] = _iso(self.started_at)
        d["finished_at"] = _iso(self.finished_at)
        return d


@dataclass
class ImportResult:
    """What one ``import_file`` call did (``resumed_from`` > 0 when it continued a killed import)."""

    import_id: int
    bank: str
    path: str
    format: str
    rows_added: int = 0
    records_read: int = 0
    errors: int = 0
    warnings: int = 0
    duplicates: int = 0  # values the bank already held (or the file held twice): not added again
    resumed_from: int = 0
    already_done: bool = False
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def dumps_extra(extra: dict[str, Any] | None) -> str | None:
    return json.dumps(extra, separators=(",", ":"), ensure_ascii=False) if extra else None


def loads_extra(raw: str | None) -> dict[str, Any] | None:
    return json.loads(raw) if raw else None
