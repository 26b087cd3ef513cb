"""Haven CSV: one entry per row, every field Haven stores, so export → import is lossless.

Columns (header required; ``signal`` and ``value`` are mandatory, the rest optional, any order):
``signal,value,quality,category,category_scheme,severity,series,victim_identified,item,note,feedback,extra``.
``severity`` is written for readers and recomputed on import; ``extra`` is a JSON object.
A header with tabs instead of commas reads the same data as TSV.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import IO

from haven.banks.formats.base import Record, WriteStats, bool_text, parse_bool
from haven.banks.types import Entry, EntryIn
from haven.errors import FormatError

name = "csv"
description = "Haven CSV (every stored field, lossless)"
COLUMNS = ["signal", "value", "quality", "category", "category_scheme", "severity", "series",
           "victim_identified", "item", "note", "feedback", "extra"]
KNOWN = set(COLUMNS)

csv.field_size_limit(1 << 24)


def looks_like(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip().lower()
    cols = [c.strip() for c in first.replace("\t", ",").split(",")]
    return "signal" in cols and "value" in cols


def read(stream: IO[str], path: str, skip: int = 0) -> Iterator[Record | FormatError]:
    """Records in file order; the first ``skip`` records (non-blank rows) are passed over unparsed."""
    head = stream.readline()
    if not head:
        return
    delimiter = "\t" if "\t" in head and "," not in head else ","
    header = [h.strip().lower() for h in next(csv.reader([head], delimiter=delimiter))]
    if "signal" not in header or "value" not in header:
        raise FormatError(
            "Haven CSV needs a header with at least 'signal' and 'value' columns", path=path, line=1
        )
    unknown = [h for h in header if h not in KNOWN]
    if unknown:
        raise FormatError(
            f"unknown column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}", path=path, line=1
        )
    idx = {h: i for i, h in enumerate(header)}
    width = len(header)
    i_sig, i_val = idx["signal"], idx["value"]
    opt = [
        (k, idx[k]) for k in ("category", "category_scheme", "series", "item", "note", "feedback") if k in idx
    ]
    i_q, i_v, i_x = idx.get("quality"), idx.get("victim_identified"), idx.get("extra")
    reader = csv.reader(stream, delimiter=delimiter)
    prev = 1
    for row in reader:
        line = prev + 1
        prev = reader.line_num + 1  # header was consumed by readline
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if skip:
            skip -= 1  # committed by an earlier run: counted, not parsed
            continue
        if len(row) != width:
            yield FormatError(f"expected {width} fields, got {len(row)}", path=path, line=line)
            continue
        try:
            e = EntryIn(signal=row[i_sig].strip(), value=row[i_val])
            for k, i in opt:
                v = row[i]
                if v:
                    setattr(e, k, v)
            if i_q is not None and row[i_q].strip():
                e.quality = int(row[i_q])
            if i_v is not None:
                e.victim_identified = parse_bool(row[i_v], what="victim_identified")
            if i_x is not None and row[i_x].strip():
                extra = json.loads(row[i_x])
                if not isinstance(extra, dict):
                    raise FormatError("extra must be a JSON object")
                e.extra = extra
        except FormatError as exc:
            yield FormatError(exc.message, path=path, line=line)
            continue
        except ValueError as exc:  # int() or json
            yield FormatError(f"bad field: {exc}", path=path, line=line)
            continue
        yield Record(line, [e])


def write(entries: Iterable[Entry], out: IO[str], *, bank: str) -> WriteStats:
    stats = WriteStats()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for e in entries:
        w.writerow(
            [
                e.signal,
                e.value,
                "" if e.quality is None else e.quality,
                e.category or "",
                e.category_scheme or "",
                "" if e.severity is None else e.severity,
                e.series or "",
                bool_text(e.victim_identified),
                e.item or "",
                e.note or "",
                e.feedback or "",
                json.dumps(e.extra, separators=(",", ":"), ensure_ascii=False) if e.extra else "",
            ]
        )
        stats.written += 1
    return stats
