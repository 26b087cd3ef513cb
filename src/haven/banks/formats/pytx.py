"""python-threatexchange formats.

Reads both
- the dataset CSV of ``threatexchange dataset -P --csv``: header
``signal_type,signal_str,collab,category,tags``
  (category = aggregate opinion name, tags space-joined), and
- the file-collab text of ``LocalFileSignalExchangeAPI``: ``<type> <signal>`` per line (or a bare signal).
Writes the dataset CSV. Signal names: ``pdq`` ↔ pdq, ``video_md5`` ↔ md5 (pytx has no photo MD5 type;
it is the same MD5 of the file bytes). SHA-1/SHA-256 have no pytx type and are skipped on export.
Opinions: NEGATIVE_CLASS ↔ feedback ``false_positive``, DISPUTED ↔ ``disputed``.
Source: facebook/ThreatExchange python-threatexchange (cli/dataset_cmd.py, exchanges/impl/file_api.py).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from typing import IO

from haven.banks.categories import SCHEMES
from haven.banks.formats.base import Record, WriteStats
from haven.banks.types import Entry, EntryIn
from haven.errors import FormatError
from haven.signals import aliases, get_signal

name = "pytx"
description = "python-threatexchange dataset CSV (and file-collab 'type signal' lines)"
HEADER = ["signal_type", "signal_str", "collab", "category", "tags"]


def to_haven() -> dict[str, str]:
    """pytx signal type → Haven signal, from the signals' own aliases (plugins included)."""
    return aliases("pytx")


def from_haven() -> dict[str, str]:
    return {v: k for k, v in aliases("pytx").items()}


OPINIONS = {"NEGATIVE_CLASS", "INVESTIGATION_SEED", "POSITIVE_CLASS", "DISPUTED"}
FEEDBACK_OF = {"NEGATIVE_CLASS": "false_positive", "DISPUTED": "disputed"}
OPINION_OF = {v: k for k, v in FEEDBACK_OF.items()}
US_CLASSES = set(SCHEMES["us-industry"])


def looks_like(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip()
    if first.lower().startswith("signal_type,signal_str"):
        return True
    parts = first.split()
    return len(parts) == 2 and parts[0].lower() in to_haven()


def _entry(signal_type: str, value: str, *, collab: str = "", category: str = "", tags: str = "") -> EntryIn:
    st = signal_type.strip().lower()
    if st not in to_haven():
        raise FormatError(
            f"signal type {signal_type!r} is not supported by Haven (supported: {', '.join(to_haven())})",
            code="unsupported_signal",
        )
    cat = category.strip().upper()
    if cat and cat not in OPINIONS:
        raise FormatError(f"unknown opinion category {category!r}; want one of {', '.join(sorted(OPINIONS))}")
    e = EntryIn(signal=to_haven()[st], value=value.strip())
    e.feedback = FEEDBACK_OF.get(cat)
    tag_list = tags.split()
    # NCMEC's industry classification (A1 … B2) arrives as an opinion tag through threatexchange.
    classes = [t.upper() for t in tag_list if t.upper() in US_CLASSES]
    if classes:
        e.category, e.category_scheme = classes[0], "us-industry"
    pytx: dict[str, str] = {}
    if collab:
        pytx["collab"] = collab
    if cat and cat not in ("POSITIVE_CLASS", *FEEDBACK_OF):
        pytx["category"] = cat
    if tag_list:
        pytx["tags"] = " ".join(tag_list)
    e.extra = {"pytx": pytx} if pytx else None
    return e


def _guess_type(value: str) -> str | None:
    """The pytx type of a bare signal: the one aliased signal whose canonical form it has, if exactly one."""
    fits = [pytx for pytx, signal in to_haven().items() if get_signal(signal).is_canonical(value.lower())]
    return fits[0] if len(fits) == 1 else None


def read(stream: IO[str], path: str) -> Iterator[Record | FormatError]:
    first = stream.readline()
    if first.strip().lower().startswith("signal_type,signal_str"):
        reader = csv.reader(stream)
        prev = 1
        for row in reader:
            line, prev = prev + 1, reader.line_num + 1
            if not row:
                continue
            if len(row) != len(HEADER):
                yield FormatError(f"expected {len(HEADER)} fields, got {len(row)}", path=path, line=line)
                continue
            try:
                yield Record(line, [_entry(row[0], row[1], collab=row[2], category=row[3], tags=row[4])])
            except FormatError as exc:
                yield FormatError(exc.message, path=path, line=line, code=exc.code)
        return
    # File-collab text: "<type> <signal>" or a bare signal (type guessed from its length).
    line = 0
    for raw in itertools.chain([first] if first else [], stream):
        line += 1
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        try:
            if len(parts) == 2:
                yield Record(line, [_entry(parts[0], parts[1])])
            elif len(parts) == 1 and (guess := _guess_type(parts[0])) is not None:
                yield Record(line, [_entry(guess, parts[0])])
            else:
                raise FormatError("want '<signal_type> <signal>'")
        except FormatError as exc:
            yield FormatError(exc.message, path=path, line=line, code=exc.code)


def write(entries: Iterable[Entry], out: IO[str], *, bank: str) -> WriteStats:
    stats = WriteStats()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for e in entries:
        if e.signal not in from_haven():
            stats.skip(f"entry {e.id}: {e.signal} has no python-threatexchange signal type")
            continue
        pytx = (e.extra or {}).get("pytx", {})
        category = OPINION_OF.get(e.feedback or "") or pytx.get("category") or "POSITIVE_CLASS"
        tags = pytx.get("tags")
        if tags is None:
            tags = e.category if e.category_scheme == "us-industry" and e.category else ""
        w.writerow([from_haven()[e.signal], e.value, pytx.get("collab", bank), category, tags])
        stats.written += 1
    return stats
