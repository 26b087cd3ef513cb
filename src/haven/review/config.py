"""The review console's settings: wellness bounds, the daily cap, break prompts, leases and what a
confirmation does. Kept in the database (``review_config``) so an admin changes them from the console;
every field has a default and the reason for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sqlalchemy.orm import Session

from haven.errors import UsageError
from haven.review.models import ConfigRow

CLASSIFICATIONS = ("A1", "A2", "B1", "B2")  # Technology Coalition industry classification
CONFIRM_ACTIONS = ("quarantine", "report")


@dataclass(frozen=True)
class ReviewConfig:
    # Blur: a Gaussian radius in pixels of the preview (``preview_side`` px on its longer side). A reviewer
    # picks their own strength between the admin's bounds; below ~4 px shapes and faces begin to read.
    blur_min: int = 4
    blur_max: int = 24
    blur_default: int = 10
    preview_side: int = 480
    # Exposure: at most this many items handed to one reviewer per UTC day; a break prompt after this many
    # in a row. 0 turns either off.
    daily_cap: int = 150
    break_after: int = 20
    # Leases: an item not decided within this time goes back to the queue for someone else.
    lease_minutes: int = 10
    # Active time: a gap longer than this between a reviewer's actions is not counted as time in the queue.
    idle_minutes: int = 5
    # A skipped item is not handed to the same reviewer again for this long.
    skip_hours: int = 24
    # What "confirm" does: keep the content in the vault with the decision (quarantine) and draft a
    # CyberTipline report with the vault's file (report, needs ``reporter``).
    confirm_actions: tuple[str, ...] = ("quarantine", "report")
    reporter: dict[str, Any] = field(default_factory=dict)
    escalation_queue: str = "escalations"

    def __post_init__(self) -> None:
        if not 1 <= self.blur_min <= self.blur_default <= self.blur_max <= 64:
            raise UsageError("blur bounds must satisfy 1 <= min <= default <= max <= 64")
        if self.preview_side < 64 or self.preview_side > 1024:
            raise UsageError("preview_side must be between 64 and 1024 pixels")
        for name in ("daily_cap", "break_after", "skip_hours"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be 0 or more")
        for name in ("lease_minutes", "idle_minutes"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1")
        unknown = set(self.confirm_actions) - set(CONFIRM_ACTIONS)
        if unknown:
            raise UsageError(f"unknown confirm action(s) {sorted(unknown)}; choose from {CONFIRM_ACTIONS}")

    def clamp_blur(self, radius: int | None) -> int:
        """A reviewer's chosen radius, kept within the admin's bounds (the default when unset)."""
        if radius is None:
            return self.blur_default
        return max(self.blur_min, min(self.blur_max, radius))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["confirm_actions"] = list(self.confirm_actions)
        return d


_FIELDS = {f.name for f in fields(ReviewConfig)}


def load_config(s: Session) -> ReviewConfig:
    """The stored settings over the defaults."""
    stored = {r.key: r.value for r in s.query(ConfigRow).all() if r.key in _FIELDS}
    if "confirm_actions" in stored:
        stored["confirm_actions"] = tuple(stored["confirm_actions"])
    return replace(ReviewConfig(), **stored)


def save_config(s: Session, changes: dict[str, Any]) -> ReviewConfig:
    """Validate ``changes`` against the current settings and store them (the caller commits)."""
    unknown = set(changes) - _FIELDS
    if unknown:
        raise UsageError(f"unknown review setting(s) {sorted(unknown)}")
    current = load_config(s)
    if "confirm_actions" in changes:
        changes = {**changes, "confirm_actions": tuple(changes["confirm_actions"])}
    new = replace(current, **changes)  # validates
    for key in changes:
        value = getattr(new, key)
        row = s.get(ConfigRow, key)
        stored = list(value) if isinstance(value, tuple) else value
        if row is None:
            s.add(ConfigRow(key=key, value=stored))
        else:
            row.value = stored
    return new
