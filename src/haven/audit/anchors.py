"""Anchors: the chain head copied out of the database, so a log cut short or rewritten is caught.

An anchor is ``{"seq", "hash", "at"}`` of the newest entry at some moment. Kept where the database's
writers cannot reach (a file on another system, a notary, a ticket, a printed line), it proves the log
held at least ``seq`` entries ending in that hash. ``haven audit anchor --out FILE`` appends one JSON line
to FILE; the service does so on a schedule; ``haven audit verify --anchors FILE`` checks them all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haven.errors import FormatError


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at}


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one anchor line to ``path`` (created if missing) and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(anchor.to_dict(), sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in a file of JSON lines; ``FormatError`` naming the line for anything else."""
    anchors = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FormatError(f"cannot read the anchors file: {exc.strerror}", path=path) from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            anchor = Anchor(int(obj["seq"]), str(obj["hash"]), obj.get("at"))
        except (ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"not an anchor ({exc.__class__.__name__})", path=path, line=n) from None
        if len(anchor.hash) != 64 or anchor.seq < 1:
            raise FormatError("not an anchor (seq ≥ 1 and a 64-hex hash expected)", path=path, line=n)
        anchors.append(anchor)
    return anchors
