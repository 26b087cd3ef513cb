"""HMA (Hasher-Matcher-Actioner / OpenMediaMatch) bank content, as JSON Lines.

HMA has no bulk file export; its curation API returns one *bank content* object per item
(``GET /c/bank/<name>/content/<id>``: ``id``, ``signals {type: value}``, ``metadata``, ``note``,
``disable_until_ts`` …). This format is one such object per line (a JSON array of them is also read).
Each signal becomes one entry; the object's other fields are kept so the export gives them back.
Signal names come from each signal's ``aliases["hma"]`` (``pdq`` ↔ pdq, ``video_md5`` ↔ md5, ``vpdq`` ↔
vpdq, whose value is python-threatexchange's JSON list of ``"pdq_hex,quality,timestamp"``).
Source: facebook/ThreatExchange
hasher-matcher-actioner/src/OpenMediaMatch/blueprints/curation.py.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from haven.banks.formats.base import Record, WriteStats
from haven.banks.formats.jsonstream import ArrayStream, json_values
from haven.banks.types import Entry, EntryIn
from haven.errors import FormatError
from haven.signals import aliases, get_signal

name = "hma"
description = "HMA bank content objects: JSON Lines, pretty-printed objects or a JSON array"


def to_haven() -> dict[str, str]:
    """hma signal type → Haven signal, from the signals' own aliases (plugins included)."""
    return aliases("hma")


def from_haven() -> dict[str, str]:
    return {v: k for k, v in aliases("hma").items()}


def looks_like(head: str) -> bool:
    s = head.lstrip("\ufeff \t\r\n")
    return (s.startswith("{") or s.startswith("[")) and '"signals"' in s[:4096] and "odata" not in s[:4096]


def _record(line: int, obj: Any, path: str) -> Record | FormatError:
    if not isinstance(obj, dict):
        return FormatError("want a JSON object", path=path, line=line)
    signals = obj.get("signals")
    if not isinstance(signals, dict) or not signals:
        return FormatError("object has no 'signals' {type: value}", path=path, line=line)
    keep = {k: v for k, v in obj.items() if k not in ("signals", "note")}
    note = obj.get("note")
    item = f"hma:{obj['id']}" if "id" in obj else None
    until = obj.get("disable_until_ts")  # enforced in matching (Entry.matches_at), kept for the export too
    if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until < 0):
        return FormatError(f"disable_until_ts {until!r} is not a Unix time", path=path, line=line)
    entries, warnings = [], []
    for stype, value in signals.items():
        if stype not in to_haven():
            warnings.append(f"line {line}: signal type {stype!r} not supported by Haven, skipped")
            continue
        if not isinstance(value, str):
            return FormatError(f"signal {stype} is not a string", path=path, line=line)
        entries.append(
            EntryIn(
                signal=to_haven()[stype],
                value=value,
                note=note if isinstance(note, str) else None,
                item=item,
                extra={"hma": keep} if keep else None,
                disable_until_ts=until,
            )
        )
    if not entries:
        return FormatError(
            f"no signal Haven supports ({', '.join(to_haven())})",
            path=path,
            line=line,
            code="unsupported_signal",
        )
    return Record(line, entries, warnings)


def read(stream: IO[str], path: str) -> Iterator[Record | FormatError]:
    skipped_lines = 0
    first = stream.read(1)
    while first and first in "\ufeff \t\r\n":
        skipped_lines += first == "\n"
        first = stream.read(1)
    if first == "[":
        arr = ArrayStream(stream, path)
        for line, obj in arr.items():
            yield _record(line, obj, path)
        return
    # JSON Lines, or objects pretty-printed over several lines (as HMA's API returns one).
    rest_of_line = stream.readline() if first else ""
    for item in json_values(itertools.chain([first + rest_of_line], stream), path, first_line=skipped_lines):
        yield item if isinstance(item, FormatError) else _record(*item, path)


def write(entries: Iterable[Entry], out: IO[str], *, bank: str) -> WriteStats:
    stats = WriteStats()
    group: list[Entry] = []

    def flush() -> None:
        if not group:
            return
        head = group[0]
        obj: dict[str, Any] = dict((head.extra or {}).get("hma") or {"id": head.id})
        obj["signals"] = {
            from_haven()[e.signal]: get_signal(e.signal).to_external("hma", e.value) for e in group
        }
        if head.note:
            obj["note"] = head.note
        out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        stats.written += len(group)
        group.clear()

    for e in entries:
        if e.signal not in from_haven():
            stats.skip(f"entry {e.id}: {e.signal} has no HMA signal type")
            continue
        # Signals of one HMA content share ``item``; a signal type may appear once per content.
        same = (
            group
            and e.item is not None
            and e.item == group[0].item
            and all(g.signal != e.signal for g in group)
        )
        if not same:
            flush()
        group.append(e)
    flush()
    return stats
