"""Per-file work, run in worker processes: the digests of every file, the image signals of images
(PDQ, exact unless the run asked for the fast decode, with the upscaled look-up values of small images),
the video signals of videos (vPDQ, from the file or the member's bytes, within ``Work.video``'s limits),
EXIF leads, and what a
file hides after its image.

``process_batch`` is what a worker runs: a list of entries (a folder's file by path, which the
worker reads itself; an archive member by its bytes, held in memory by the parent's walk; or a
member too big to hold, already digested by the walk) in, one small ``FileRow`` per entry out,
in the same order.

Memory is bounded per file: digests always stream in blocks; only an image is read whole, and
only up to ``Work.hold_bytes``; an image whose decoding would take more than
``Work.decode_bytes`` (from its header) is refused with an error row before any pixel is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from haven.config import DEFAULT_MAX_PIXELS
from haven.errors import DecodeError, InputError
from haven.hashing import HashResult, hash_bytes, hash_file
from haven.hashing.video import VideoLimits
from haven.matching.matcher import QUERY_DEFAULTS
from haven.media import Entry, sniff
from haven.media.imagefile import image_end, png_pixels_only
from haven.media.items import os_error_text
from haven.media.limits import MiB
from haven.signals import Input
from haven.triage.casedb import FileRow, case_signals
from haven.triage.exif import read_exif


class WorkerHook(Protocol):
    """Called with each entry just before a worker processes it (tests inject failures through it)."""

    def __call__(self, entry: Entry) -> None: ...


@dataclass(frozen=True)
class Work:
    """How the per-file work is done, and the memory it may use (from the run's ``MemoryPlan``)."""

    fast: bool = False  # decode big JPEGs at reduced size: faster, image hashes a few bits off the exact ones
    robust: bool = False  # images also carry `haven match`'s query-side values (flips, …): `--robust`
    max_pixels: int = DEFAULT_MAX_PIXELS
    hold_bytes: int = 512 * MiB  # the biggest image read whole to be decoded; bigger ones get digests only
    decode_bytes: int | None = None  # an image whose decoding takes more (estimated) is refused
    frame_interval: float = 1.0  # videos: seconds between sampled frames
    video: VideoLimits = VideoLimits()
    hook: WorkerHook | None = None  # tests only; must be picklable to reach worker processes


def _signal_names() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The case's signals computed from the bytes of every file, from the pixels of images, and from the
    frames of videos."""
    signals = case_signals()
    return (tuple(s.name for s in signals if s.input is Input.BYTES),
            tuple(s.name for s in signals if s.input is Input.IMAGE),
            tuple(s.name for s in signals if s.input is Input.VIDEO))


def _hash_video(entry: Entry, row: FileRow, work: Work, videos: tuple[str, ...]) -> None:
    """The video signals of a video, from its file or its member's bytes (never sound: the decoder reads
    the video stream only)."""
    label = str(entry.path)
    options = {"frame_interval": work.frame_interval, "video_limits": work.video, "fast": work.fast}
    if entry.data is not None:
        result = hash_bytes(entry.data, label, videos, **options)  # type: ignore[arg-type]
    elif entry.os_path is not None:
        result = hash_file(entry.os_path, videos, **options)  # type: ignore[arg-type]
    else:  # a member too big to hold in memory: the walk gave its digests only
        row.error_code = "file_too_large"
        row.error_message = (
            f"{label}: video of {row.size:,} bytes is too big to hold for decoding; digests only"
        )
        return
    row.set_hashes(result)
    row.width, row.height = result.width, result.height


def _may_have_exif(data: bytes) -> bool:
    """Cheap pre-check before decoding EXIF (it sits in the first 64 KiB: JPEG APP1, PNG eXIf, TIFF)."""
    head = data[:65536]
    return b"Exif" in head or b"eXIf" in head or head[:4] in (b"II*\x00", b"MM\x00*")


def _image_bytes(entry: Entry, row: FileRow, work: Work, digests: tuple[str, ...]) -> bytes | None:
    """The image's bytes when it may be decoded (the byte signals set on ``row`` either way), else None."""
    label = str(entry.path)
    data = None
    if entry.digests is not None:  # a member too big to hold: the walk streamed it through the hashers
        row.hashes.update(entry.digests)
    elif entry.data is not None:
        data = entry.data
    elif entry.kind == "image" and entry.size <= work.hold_bytes:
        data = entry.read(work.hold_bytes + 1)
        if len(data) > work.hold_bytes:  # it grew since it was listed
            data = None
    if data is not None:
        row.size = len(data)
        row.set_hashes(hash_bytes(data, label, digests))  # first, so a file that fails to decode keeps them
        return data if entry.kind == "image" else None
    if entry.os_path is not None and entry.digests is None:
        row.set_hashes(hash_file(entry.os_path, digests))  # streamed in blocks, whatever the size
    if entry.kind == "image":
        row.error_code = "file_too_large"
        row.error_message = (
            f"{label}: image of {row.size:,} bytes is over the {work.hold_bytes:,}-byte limit for decoding "
            "(see --max-memory); digests only"
        )
    return None


def _hash_image(
    data: bytes, label: str, mime: str, row: FileRow, work: Work, images: tuple[str, ...]
) -> HashResult:
    def run(pixels_from: bytes) -> HashResult:
        return hash_bytes(
            pixels_from,
            label,
            images,
            fast=work.fast,
            upscaled=True,
            dihedral=work.robust and QUERY_DEFAULTS.dihedral,  # as `haven match` does, when asked
            robust=work.robust,
            max_pixels=work.max_pixels,
            max_decode_bytes=work.decode_bytes,
        )

    try:
        return run(data)
    except DecodeError:
        slim = png_pixels_only(data) if mime == "image/png" else None
        if slim is None:
            raise
    # Pillow refuses PNGs whose text or ICC chunks exceed its safety limits; browsers ignore them.
    result = run(slim[0])
    message = (
        f"{label}: {slim[1]:,} bytes of ancillary PNG chunks (text, ICC profile, private data) were "
        "over the decoder's limits and were skipped to hash the pixels"
    )
    row.warnings.append(("ancillary_chunks_skipped", message))
    return result


def _trailing(data: bytes, mime: str, label: str, row: FileRow) -> None:
    end = image_end(data, mime)
    if end is None or end >= len(data):
        return
    rest = data[end:]
    if not rest.strip(b"\x00\xff"):
        return  # padding
    message = (
        f"{label}: {len(rest):,} bytes after the image's end at byte {end:,} "
        f"(they look like {sniff(rest[:4096])}); an appended zip is walked as an archive"
    )
    row.warnings.append(("trailing_data", message))


def process_entry(entry: Entry, source: int, work: Work = Work()) -> FileRow:
    """Everything triage records about one file; a failure is recorded on the row, never raised."""
    label = str(entry.path)
    row = FileRow(
        path=label, source=source, depth=entry.path.depth, size=entry.size, mime=entry.mime, kind=entry.kind
    )
    digests, images, videos = _signal_names()
    try:
        data = _image_bytes(entry, row, work, digests)
        if entry.kind == "video" and videos:
            _hash_video(entry, row, work, videos)
            return row
        if data is None:
            return row
        result = _hash_image(data, label, entry.mime, row, work, images)
        row.set_hashes(result)
        row.width, row.height = result.width, result.height
        if _may_have_exif(data):
            row.exif = read_exif(data) or None
        _trailing(data, entry.mime, label, row)
    except InputError as exc:
        row.error_code, row.error_message = exc.code, exc.message
    except MemoryError:
        row.error_code = "out_of_memory"
        row.error_message = (
            f"{label}: processing it needed more memory than this worker may use (see --max-memory)"
        )
    except OSError as exc:
        row.error_code, row.error_message = "unreadable", f"{label}: {os_error_text(exc)}"
    return row


def process_batch(batch: Sequence[tuple[Entry, int]], work: Work = Work()) -> list[FileRow]:
    """``process_entry`` for each ``(entry, source)``, in order. Never raises for one file: an
    unexpected exception (a decoder bug) becomes that file's error row."""
    rows = []
    for entry, source in batch:
        if work.hook is not None:
            work.hook(entry)
        try:
            rows.append(process_entry(entry, source, work))
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
