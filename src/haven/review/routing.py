"""Routing: which queue an item goes to. Rules are tried in order and the first whose conditions all hold
wins; an item no rule takes goes to ``default``.

A rule's conditions (every one given must hold):

| key            | holds when                                                    |
|----------------|---------------------------------------------------------------|
| ``bank``       | a match is from this bank (or one of a list)                  |
| ``category``   | a match has this category (or one of a list)                  |
| ``signal``     | a match is by this signal (or one of a list)                  |
| ``min_severity`` | the highest severity of the matches is at least this        |
| ``known``      | the item matched a bank (true) or was escalated by hand (false) |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from haven.errors import UsageError

DEFAULT_QUEUE = "default"
CONDITIONS = ("bank", "category", "signal", "min_severity", "known")


@dataclass(frozen=True)
class Facts:
    """What routing (and the dashboard) knows of an item."""

    banks: frozenset[str]
    categories: frozenset[str]
    signals: frozenset[str]
    severity: int | None
    known: bool

    @classmethod
    def of(cls, matches: Sequence[Mapping[str, Any]], *, known: bool = True) -> Facts:
        sev = [int(m["severity"]) for m in matches if m.get("severity") is not None]
        return cls(
            banks=frozenset(str(m["bank"]) for m in matches if m.get("bank")),
            categories=frozenset(str(m["category"]) for m in matches if m.get("category")),
            signals=frozenset(str(m["signal"]) for m in matches if m.get("signal")),
            severity=max(sev) if sev else None,
            known=known,
        )


def _one_of(value: Any) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list | tuple) else {str(value)}


def check_when(when: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's conditions, checked; ``UsageError`` naming an unknown or badly typed one."""
    unknown = set(when) - set(CONDITIONS)
    if unknown:
        raise UsageError(f"unknown routing condition(s) {sorted(unknown)}; use {', '.join(CONDITIONS)}")
    out = dict(when)
    if "min_severity" in out:
        try:
            out["min_severity"] = int(out["min_severity"])
        except (TypeError, ValueError):
            raise UsageError("min_severity must be a whole number") from None
    if "known" in out and not isinstance(out["known"], bool):
        raise UsageError("known must be true or false")
    return out


def holds(when: Mapping[str, Any], facts: Facts) -> bool:
    """Whether every condition of ``when`` holds for ``facts``."""
    if "bank" in when and not (_one_of(when["bank"]) & facts.banks):
        return False
    if "category" in when and not (_one_of(when["category"]) & facts.categories):
        return False
    if "signal" in when and not (_one_of(when["signal"]) & facts.signals):
        return False
    if "min_severity" in when and (facts.severity is None or facts.severity < int(when["min_severity"])):
        return False
    return not ("known" in when and bool(when["known"]) != facts.known)


def route(rules: Sequence[tuple[Mapping[str, Any], str]], facts: Facts) -> str:
    """The queue of the first rule (conditions, queue) that holds, else ``default``."""
    for when, queue in rules:
        if holds(when, facts):
            return queue
    return DEFAULT_QUEUE
