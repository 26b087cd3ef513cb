"""Per-file work, run in worker processes: the digests of every file, the image signals of images
(PDQ on the fast path, with the upscaled look-up values of small images) and EXIF leads.

``process_batch`` is what a worker runs: a list of entries (a folder's file by path, which the
worker reads itself; an archive member by its bytes, already read in memory by the parent's walk)
in, one small ``FileRow`` per entry out, in the same order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence

from haven.config import DEFAULT_MAX_PIXELS
from haven.errors import InputError
from haven.hashing import hash_bytes, hash_file
from haven.media.walk import Entry
from haven.signals import Input
from haven.triage.casedb import FileRow, case_signals
from haven.triage.exif import read_exif

# Tests only: a worker process that reaches a file with this name dies at once (``os._exit``), as
# if a decoder had crashed, to exercise the pool's recovery. Never set in normal use.
_CRASH_ON = os.environ.get("HAVEN_TEST_WORKER_CRASH_ON")
STREAM_ABOVE = 256 * 1024 * 1024  # files on disk bigger than this are digested in blocks, never held whole


def _may_have_exif(data: bytes) -> bool:
    """Cheap pre-check before decoding EXIF (it sits in the first 64 KiB: JPEG APP1, PNG eXIf, TIFF)."""
    head = data[:65536]
    return b"Exif" in head or b"eXIf" in head or head[:4] in (b"II*\x00", b"MM\x00*")


def _signal_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The case's signals computed from the bytes of every file, and from the pixels of images."""
    signals = case_signals()
    return (tuple(s.name for s in signals if s.input is Input.BYTES),
            tuple(s.name for s in signals if s.input is Input.IMAGE))


def process_entry(
    entry: Entry, source: int, *, fast: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS
) -> FileRow:
    """Everything triage records about one file; a failure is recorded on the row, never raised."""
    label = str(entry.path)
    row = FileRow(
        path=label, source=source, depth=entry.path.depth, size=entry.size, mime=entry.mime, kind=entry.kind
    )
    digests, images = _signal_names()
    try:
        if entry.os_path is not None and entry.size > STREAM_ABOVE:
            row.set_hashes(hash_file(entry.os_path, digests))
            if entry.kind == "image":
                row.error_code, row.error_message = (
                    "file_too_large",
                    f"{label}: image over {STREAM_ABOVE} bytes",
                )
            return row
        data = entry.read()
        row.size = len(data)
        row.set_hashes(hash_bytes(data, label, digests))  # first, so a file that fails to decode keeps them
        if entry.kind == "image":
            result = hash_bytes(data, label, images, fast=fast, upscaled=True, max_pixels=max_pixels)
            row.set_hashes(result)
            row.width, row.height = result.width, result.height
            if _may_have_exif(data):
                row.exif = read_exif(data) or None
    except InputError as exc:
        row.error_code, row.error_message = exc.code, exc.message
    except OSError as exc:
        row.error_code, row.error_message = "unreadable", f"{label}: {exc}"
    return row


def process_batch(
    batch: Sequence[tuple[Entry, int]], fast: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[FileRow]:
    """``process_entry`` for each ``(entry, source)``, in order. Never raises for one file: an
    unexpected exception (a decoder bug, MemoryError) becomes that file's error row."""
    rows = []
    for entry, source in batch:
        if _CRASH_ON is not None and entry.path.name == _CRASH_ON and multiprocessing.parent_process():
            os._exit(70)
        try:
            rows.append(process_entry(entry, source, fast=fast, max_pixels=max_pixels))
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the triage
            rows.append(failed_row(entry, source, "failed", f"{entry.path}: {type(exc).__name__}: {exc}"))
    return rows


def failed_row(entry: Entry, source: int, code: str, message: str) -> FileRow:
    """The row for a file whose processing failed outside the per-file error handling."""
    return FileRow(
        path=str(entry.path),
        source=source,
        depth=entry.path.depth,
        size=entry.size,
        mime=entry.mime,
        kind=entry.kind,
        error_code=code,
        error_message=message,
    )
