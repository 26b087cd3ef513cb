"""Cutting a very large hash list into pieces that import independently (``haven spark import``).

A piece is a byte range of the file that starts and ends on a record boundary, plus the header line
the format needs repeated at its top, written out as a file of its own and imported by the ordinary
``import_file`` (its checkpoint and exactly-once rule then hold per piece: a rerun skips the finished
pieces and resumes the rest). Where a record ends depends on the format:

- ``csv`` and ``pytx``'s dataset CSV: a newline outside quotes (RFC 4180: a newline is inside a quoted
  field exactly when an odd number of ``"`` precede it in the record, since ``""`` escapes a quote);
  the header line is repeated in every piece;
- ``pytx``'s file-collab lines and ``hma``'s JSON Lines: any newline (JSON strings hold no raw newline);
- one JSON document (``vics``, an ``hma`` array): not cut; the file is one piece.

The cut points depend only on the file's bytes and the target size, so a rerun cuts the same pieces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Piece:
    """Bytes ``start``..``end`` of ``path``, whose first record is on line ``first_line`` of the file."""

    path: str
    index: int
    start: int
    end: int
    first_line: int
    header: bytes = b""


def record_rule(fmt: str, head: bytes) -> tuple[str, bytes]:
    """How a file of ``fmt`` starting with ``head`` is cut: ``("csv" | "lines" | "whole", header line)``."""
    text = head.lstrip(b"\xef\xbb\xbf")
    first = text.split(b"\n", 1)[0] + b"\n"
    if fmt == "csv":
        return "csv", first
    if fmt == "pytx":
        if first.strip().lower().startswith(b"signal_type,signal_str"):
            return "csv", first
        return "lines", b""
    if fmt == "hma" and not text.lstrip().startswith(b"["):
        return "lines", b""
    return "whole", b""


def plan(path: str | Path, fmt: str, target_bytes: int = 64 * 1024 * 1024) -> list[Piece]:
    """The pieces of ``path`` (about ``target_bytes`` each) for a file of format ``fmt``."""
    path = str(path)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(BLOCK)
    rule, header = record_rule(fmt, head)
    if rule == "whole" or size <= target_bytes:
        return [Piece(path, 0, 0, size, 1)]
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    start = bom + (len(header) if rule == "csv" else 0)  # the header itself belongs to no piece
    pieces: list[Piece] = []
    line = 2 if rule == "csv" else 1
    quotes = 0  # '"' seen since the last record boundary (csv)
    pos, piece_start, piece_line = start, start, line
    with open(path, "rb") as fh:
        fh.seek(start)
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            i = 0
            while True:
                nl = block.find(b"\n", i)
                if nl < 0:
                    quotes += block.count(b'"', i)
                    break
                quotes += block.count(b'"', i, nl)
                i = nl + 1
                line += 1
                if rule == "csv" and quotes % 2:
                    continue  # a newline inside a quoted field
                quotes = 0
                at = pos + i
                if at - piece_start >= target_bytes:
                    pieces.append(Piece(path, len(pieces), piece_start, at, piece_line, header))
                    piece_start, piece_line = at, line
            pos += len(block)
    if piece_start < size:
        pieces.append(Piece(path, len(pieces), piece_start, size, piece_line, header))
    return pieces


def write_piece(piece: Piece, folder: Path) -> Path:
    """The piece as a file of its own in ``folder`` (header first), written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"piece-{piece.index:06d}{Path(piece.path).suffix}"
    if out.exists() and out.stat().st_size == len(piece.header) + piece.end - piece.start:
        return out
    tmp = out.with_suffix(out.suffix + f".tmp{os.getpid()}")
    with open(piece.path, "rb") as src, open(tmp, "wb") as dst:
        dst.write(piece.header)
        src.seek(piece.start)
        left = piece.end - piece.start
        while left:
            block = src.read(min(BLOCK, left))
            if not block:
                break
            dst.write(block)
            left -= len(block)
    os.replace(tmp, out)
    return out


def file_line(piece: Piece, line: int | None) -> int | None:
    """A line number in a piece's file → the line in the original file."""
    if line is None:
        return None
    return piece.first_line + line - (2 if piece.header else 1)
