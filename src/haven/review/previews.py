"""What a reviewer's browser receives of an item: derived previews made here, on the server.

- an image: shrunk to the preview size, grayscale, Gaussian-blurred at the reviewer's strength (JPEG);
- a video: a strip of up to four key frames, each grayscale and blurred the same way (JPEG) — only the
  video stream is decoded, so there is no sound, and a picture cannot autoplay;
- after a reveal: the original image's bytes, or for a video the same key frames in colour, unblurred.

Nothing here returns the original bytes of an unrevealed item; ``haven.review.service`` decides who may ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from haven.hashing.video import keyframes
from haven.media.preview import blurred_preview, blurred_strip
from haven.media.sniff import HEADER_BYTES, kind_of, sniff

STRIP_FRAMES = 4


@dataclass(frozen=True)
class Derived:
    data: bytes
    media_type: str


def media_kind(content: bytes, declared: str | None = None) -> str:
    """``image``, ``video`` or ``other``, by the content's first bytes (the declared type only as a hint
    for containers the sniffer does not know)."""
    kind = kind_of(sniff(content[:HEADER_BYTES]))
    if kind in ("image", "video"):
        return kind
    if declared and kind_of(declared) in ("image", "video"):
        return kind_of(declared)
    return "other"


def _strip(content: bytes, *, side: int, radius: int, grayscale: bool, label: str) -> bytes | None:
    try:
        frames = keyframes(content, label=label, count=STRIP_FRAMES)
    except Exception:  # noqa: BLE001 - an undecodable video has no preview, like an undecodable image
        return None
    return blurred_strip(frames, side=max(64, side // 2), radius=radius, grayscale=grayscale, quality=70)


def blurred(
    content: bytes, *, radius: int, side: int, declared: str | None = None, label: str = "item"
) -> Derived | None:
    """The grayscale, blurred preview of an image or video; None when none can be made."""
    kind = media_kind(content, declared)
    if kind == "video":
        data = _strip(content, side=side, radius=radius, grayscale=True, label=label)
    else:
        data = blurred_preview(content, side=side, radius=radius, grayscale=True, quality=70)
    return Derived(data, "image/jpeg") if data is not None else None


def revealed(
    content: bytes, *, side: int, declared: str | None = None, label: str = "item"
) -> Derived | None:
    """What a reveal shows: an image's original bytes (its own type), a video's key frames unblurred."""
    kind = media_kind(content, declared)
    if kind == "video":
        data = _strip(content, side=side * 2, radius=0, grayscale=False, label=label)
        return Derived(data, "image/jpeg") if data is not None else None
    if kind == "image":
        return Derived(content, sniff(content[:HEADER_BYTES]))
    return None
