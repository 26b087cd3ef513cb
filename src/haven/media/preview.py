"""Derived previews of sensitive images (and strips of a video's key frames): small, blurred (optionally
grey) JPEGs made on the server, so a person orienting in a case or a result sees "a photo", never its
content. The one preview helper of the
web UI, the triage report and the review console.
"""

from __future__ import annotations

import base64
import io
import warnings
from typing import Any

from PIL import Image, ImageFilter, ImageOps


def blurred_preview(data: bytes, *, side: int, radius: float, quality: int = 60, grayscale: bool = False
                    ) -> bytes | None:
    """A JPEG of the image shrunk to ``side`` px and blurred with ``radius``; None when it cannot be decoded
    (a preview is never worth failing the page or the report for)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as opened:
                opened.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced size, cheaply
                im = ImageOps.exif_transpose(opened).convert("L" if grayscale else "RGB")
        im.thumbnail((side, side))
        im = im.filter(ImageFilter.GaussianBlur(radius))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
    except Exception:  # noqa: BLE001 - undecodable, a bomb, a decoder bug: no preview, and say nothing more
        return None
    return buf.getvalue()


def data_url(jpeg: bytes) -> str:
    """``jpeg`` as a ``data:`` URL (pages and self-contained reports embed previews; nothing is fetched)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def blurred_strip(frames: list[Any], *, side: int, radius: float, quality: int = 60,
                  grayscale: bool = False) -> bytes | None:
    """A JPEG of a video's frames (``H×W×3`` RGB arrays) side by side, each shrunk to ``side`` px and
    blurred with ``radius`` like an image's preview (no blur at radius 0); None when there is none or it
    cannot be made."""
    mode = "L" if grayscale else "RGB"
    try:
        tiles = []
        for rgb in frames:
            im = Image.fromarray(rgb).convert(mode)
            im.thumbnail((side, side))
            tiles.append(im.filter(ImageFilter.GaussianBlur(radius)) if radius > 0 else im)
        if not tiles:
            return None
        width = sum(t.width for t in tiles) + 2 * (len(tiles) - 1)
        strip = Image.new(mode, (width, max(t.height for t in tiles)), 255 if grayscale else (255, 255, 255))
        x = 0
        for t in tiles:
            strip.paste(t, (x, 0))
            x += t.width + 2
        buf = io.BytesIO()
        strip.save(buf, "JPEG", quality=quality)
    except Exception:  # noqa: BLE001 - as for an image: no preview, and say nothing more
        return None
    return buf.getvalue()
