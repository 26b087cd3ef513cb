"""``haven hash --json`` output: one JSON object per hashed file (``path``, each signal's value under its
name, a rated signal's quality under its quality key), so files hashed on one machine can be banked on
another. Every registered signal the object carries becomes an entry; an object with ``error`` (a file
that could not be hashed) is skipped with a warning. The file's path is kept (``extra``) and written back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from haven.banks.formats.base import Record, WriteStats
from haven.banks.formats.jsonstream import json_values
from haven.banks.types import Entry, EntryIn
from haven.errors import FormatError
from haven.signals import all_signals, get_signal

name = "hash-json"
description = "`haven hash --json` output: one JSON object per file"


def looks_like(head: str) -> bool:
    s = head.lstrip("\ufeff \t\r\n")
    first = s[:4096]
    return (
        s.startswith("{")
        and '"path"' in first
        and '"signals"' not in first
        and any(f'"{sig.name}"' in first or '"error"' in first for sig in all_signals())
    )


def _record(line: int, obj: Any, path: str) -> Record | FormatError:
    if not isinstance(obj, dict):
        return FormatError("want a JSON object (a line of `haven hash --json`)", path=path, line=line)
    where = obj.get("path") if isinstance(obj.get("path"), str) else None
    if "error" in obj:
        err = obj["error"] if isinstance(obj["error"], dict) else {}
        why = err.get("code", "error")
        return Record(line, [], [f"line {line}: {where or 'a file'} was not hashed ({why}), skipped"])
    entries = []
    for sig in all_signals():
        value = obj.get(sig.name)
        if value is None:
            continue
        if not isinstance(value, str):
            return FormatError(f"{sig.name} is not a string", path=path, line=line)
        quality = obj.get(sig.quality_key()) if sig.min_quality is not None else None
        if quality is not None and not isinstance(quality, int):
            return FormatError(f"{sig.quality_key()} is not an integer", path=path, line=line)
        entries.append(EntryIn(signal=sig.name, value=value, quality=quality,
                               extra={"path": where} if where else None))
    if not entries:
        return FormatError(
            f"no hash Haven knows ({', '.join(s.name for s in all_signals())})", path=path, line=line,
            code="unsupported_signal",
        )
    return Record(line, entries)


def read(stream: IO[str], path: str) -> Iterator[Record | FormatError]:
    for item in json_values(stream, path):
        yield item if isinstance(item, FormatError) else _record(*item, path)


def write(entries: Iterable[Entry], out: IO[str], *, bank: str) -> WriteStats:
    """One object per file (consecutive entries with the same recorded path), else one per entry."""
    import json

    stats = WriteStats()
    obj: dict[str, Any] = {}

    def flush() -> None:
        if obj:
            out.write(json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n")
            obj.clear()

    for e in entries:
        where = (e.extra or {}).get("path")
        if not obj or obj.get("path") != where or e.signal in obj or where is None:
            flush()
            obj["path"] = where
        obj[e.signal] = e.value
        sig = get_signal(e.signal)
        if e.quality is not None and sig.min_quality is not None:
            obj[sig.quality_key()] = e.quality
        stats.written += 1
    flush()
    return stats
