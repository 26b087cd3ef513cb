"""Image container structure, read without decoding: where an image ends, and PNG chunks.

- ``image_end``: where the image's own bytes end (JPEG: its EOI marker, walked segment by
  segment; PNG: its IEND chunk; WebP: its RIFF size; BMP: its header's size). Bytes after it
  are *trailing data*: a zip or another file appended to a photo (a polyglot), or a phone's
  motion-photo video. Triage reports them; a trailing zip is also walked.
- ``png_pixels_only``: a PNG rebuilt from the chunks that decide its pixels, for a file whose
  ancillary chunks (text, ICC profile, private chunks) are too big for Pillow's safety limits,
  which browsers simply ignore.

Format facts: ITU T.81 (JPEG markers), the PNG specification (chunk layout; a chunk whose type
starts with a lower-case letter is ancillary), RIFF and BMP headers.
"""

from __future__ import annotations

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that decide the pixels Pillow decodes (first frame of an APNG included).
_PNG_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT"}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length


def image_end(data: bytes, mime: str) -> int | None:
    """Offset just past the image's own bytes, or None when unknown (other formats, or damaged)."""
    try:
        if mime == "image/jpeg":
            return _jpeg_end(data)
        if mime == "image/png":
            return _png_end(data)
        if mime == "image/webp" and len(data) >= 8:
            return min(len(data), 8 + int(struct.unpack_from("<L", data, 4)[0]) + (data[4] & 1))
        if mime == "image/bmp" and len(data) >= 6:
            end = int(struct.unpack_from("<L", data, 2)[0])
            return end if 0 < end <= len(data) else None
    except (struct.error, IndexError):
        return None
    return None


def _jpeg_end(data: bytes) -> int | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            return None  # not at a marker: damaged
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return pos
        if marker in _JPEG_STANDALONE:
            continue
        if pos + 2 > n:
            return None
        pos += int(struct.unpack_from(">H", data, pos)[0])
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker that is not RSTn
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                follower = data[pos + 1]
                if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
                    pos += 1 if follower == 0xFF else 2
                    continue
                break
    return None


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each chunk (start of its length field, end after its CRC), up to IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        return []
    out, pos = [], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">L4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        out.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    return out


def _png_end(data: bytes) -> int | None:
    chunks = png_chunks(data)
    return chunks[-1][2] if chunks and chunks[-1][0] == b"IEND" else None


def png_pixels_only(data: bytes) -> tuple[bytes, int] | None:
    """The PNG without its ancillary chunks other than those that decide pixels, and the bytes left out.

    None when it is not a PNG or nothing would be left out.
    """
    chunks = png_chunks(data)
    keep = [(s, e) for kind, s, e in chunks if kind in _PNG_PIXEL_CHUNKS]
    if not chunks or len(keep) == len(chunks):
        return None
    dropped = sum(e - s for kind, s, e in chunks if kind not in _PNG_PIXEL_CHUNKS)
    return _PNG_SIGNATURE + b"".join(data[s:e] for s, e in keep), dropped
