"""The hash chain: how an entry's hash is computed, and how a broken chain is diagnosed.

An entry's hash is SHA-256 over a canonical JSON array of every other stored field, prefixed with a
version tag::

    sha256(b"haven-audit-v1\\n" + json([seq, at, event, actor, target, detail, prev_hash]))

``prev_hash`` is the hash of the entry before (64 zeros for the first), so changing, removing, adding or
moving any entry breaks either its own hash or the next entry's link. The hash is not keyed: anyone with
a copy of the table can verify it, and an attacker who can write the database could re-chain everything
after the point they changed — which is what anchors (``haven.audit.anchors``) held outside the database
catch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
TAG = b"haven-audit-v1\n"
#: How far from its stored position a moved entry is looked for when diagnosing a break.
SEARCH_WINDOW = 64


def canonical_json(value: Any) -> str:
    """The one JSON text of a value (sorted keys, no spaces, UTF-8 kept): what the hash covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    seq: int, at: str, event: str, actor: str, target: str | None, detail: str, prev_hash: str
) -> str:
    """The hash an entry with these stored fields must carry."""
    body = canonical_json([seq, at, event, actor, target, detail, prev_hash])
    return hashlib.sha256(TAG + body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Row:
    """An entry as read from the database."""

    seq: int
    at: str
    event: str
    actor: str
    target: str | None
    detail: str
    prev_hash: str
    hash: str

    def computed(self, seq: int | None = None) -> str:
        return entry_hash(
            self.seq if seq is None else seq,
            self.at,
            self.event,
            self.actor,
            self.target,
            self.detail,
            self.prev_hash,
        )


@dataclass(frozen=True)
class Problem:
    """The first place the chain is broken. ``kind`` is edited, deleted, inserted, reordered or truncated;
    ``seq`` names the first entry affected."""

    kind: str
    seq: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


def original_seq(row: Row) -> int | None:
    """The position an entry was written at, found by trying positions near where it is now (its hash
    covers its position); None when no nearby position matches, i.e. its contents were edited."""
    for d in range(SEARCH_WINDOW + 1):
        for candidate in {row.seq + d, row.seq - d}:
            if candidate >= 1 and row.computed(candidate) == row.hash:
                return candidate
    return None


def diagnose(row: Row, expected_seq: int, expected_prev: str, predecessor: int | None) -> Problem:
    """Name what happened at the first entry that does not continue the chain.

    ``predecessor`` is the current position of the entry whose hash ``row.prev_hash`` names (0 for the
    genesis link), or None when no entry in the log has that hash.
    """
    if row.seq > expected_seq:
        missing = (
            f"entry {expected_seq} is missing"
            if row.seq == expected_seq + 1
            else f"entries {expected_seq}-{row.seq - 1} are missing"
        )
        return Problem(
            "deleted",
            expected_seq,
            f"{missing} (deleted): the log jumps from {expected_seq - 1} to {row.seq}",
        )
    orig = original_seq(row)
    if orig is None:
        return Problem(
            "edited", row.seq, f"entry {row.seq} was edited: its stored fields no longer match its hash"
        )
    if orig == row.seq:
        # Intact itself, but it does not follow the entry before it.
        if predecessor is not None:
            return Problem(
                "reordered",
                row.seq,
                f"entry {row.seq} was written after entry {predecessor}, "
                f"not after entry {row.seq - 1} (entries were reordered)",
            )
        return Problem(
            "edited",
            row.seq - 1,
            f"entry {row.seq} links to an entry that is not in the log: "
            f"entry {row.seq - 1} was rewritten (and re-hashed), or entry "
            f"{row.seq} was forged",
        )
    if orig < row.seq:
        return Problem(
            "inserted",
            orig,
            f"entry {row.seq} was written as entry {orig}: "
            f"{row.seq - orig} entr{'y was' if row.seq - orig == 1 else 'ies were'} "
            f"inserted before it, from {orig}",
        )
    if predecessor is not None:
        return Problem(
            "reordered",
            row.seq,
            f"entry {row.seq} was written as entry {orig}, after entry "
            f"{predecessor} (entries were reordered)",
        )
    return Problem(
        "deleted",
        row.seq,
        f"entry {row.seq} was written as entry {orig}: {orig - row.seq} "
        f"entr{'y' if orig - row.seq == 1 else 'ies'} before it were deleted "
        "and the rest renumbered",
    )
