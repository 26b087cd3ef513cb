"""Bank file formats: ``csv`` (Haven), ``pytx`` (python-threatexchange), ``hma`` (HMA bank content),
``vics`` (Project VIC), ``hash-json`` (``haven hash --json`` output). ``get_format(name)`` and
``detect_format(path)``."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from haven.banks.formats import hash_json, haven_csv, hma, pytx, vics
from haven.banks.formats.base import Format, Record, WriteStats, open_text
from haven.errors import FormatError, UsageError

FORMATS: dict[str, Format] = {m.name: cast(Format, m) for m in (haven_csv, pytx, hma, vics, hash_json)}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}") from None


def detect_format(path: str | Path, *, label: str | None = None) -> str:
    """Pick the format from the file's first bytes (then its extension); FormatError if none fits.
    ``label`` names the file in errors (default: its path)."""
    shown = label or path
    with open_text(path) as f:
        try:
            head = f.read(16384)
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text: {exc.reason}", path=shown) from None
    for name in ("vics", "hma", "hash-json", "pytx", "csv"):
        if FORMATS[name].looks_like(head):
            return name
    ext = Path(label or path).suffix.lower()
    if ext == ".jsonl":
        return "hma"
    choices = "|".join(FORMATS)
    raise FormatError(f"cannot tell the format from the content; pass --format {choices}", path=shown)


__all__ = ["FORMATS", "Format", "Record", "WriteStats", "detect_format", "get_format", "open_text"]
