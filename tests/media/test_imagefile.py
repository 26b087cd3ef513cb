"""Where an image ends (trailing data, polyglots) and PNGs stripped to the chunks that decide their pixels."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

import hostile_evidence as hb
from haven.hashing import hash_bytes
from haven.media.imagefile import image_end, png_pixels_only

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos"


def _jpeg(**save: object) -> bytes:
    with Image.open(min(PHOTOS.glob("*.jpg"))) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", **save)
    return buf.getvalue()


def test_jpeg_end_baseline_progressive_and_restart_markers() -> None:
    for data in (_jpeg(quality=80), _jpeg(progressive=True), _jpeg(quality=70, restart_marker_blocks=1)):
        assert image_end(data, "image/jpeg") == len(data)
        appended = data + hb.zip_of({"x.jpg": hb.jpeg()})
        assert image_end(appended, "image/jpeg") == len(data)
    with_thumbnail = _jpeg(exif=Image.Exif().tobytes())  # an APP1 segment is skipped whole
    assert image_end(with_thumbnail, "image/jpeg") == len(with_thumbnail)
    assert image_end(b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg") is None  # cut short: unknown, not 0


def test_png_webp_bmp_ends() -> None:
    png = hb.png()
    assert image_end(png + b"tail", "image/png") == len(png)
    for fmt, mime in (("WEBP", "image/webp"), ("BMP", "image/bmp")):
        buf = io.BytesIO()
        Image.new("RGB", (30, 20), "red").save(buf, fmt)
        assert image_end(buf.getvalue() + b"x" * 100, mime) == len(buf.getvalue())


def test_stripping_ancillary_chunks_keeps_the_pixels_and_their_pdq() -> None:
    plain = hb.png(width=96, height=80)
    noisy = hb.png(width=96, height=80, extra=[hb.ztxt(1000), hb.iccp(2000)])
    slim, dropped = png_pixels_only(noisy)
    assert dropped == len(noisy) - len(plain) and slim == plain
    assert hash_bytes(slim, "slim", ("pdq",)).hashes == hash_bytes(noisy, "noisy", ("pdq",)).hashes
    assert png_pixels_only(plain) is None  # nothing to leave out
