"""Derived previews of sensitive images: small, blurred (optionally grey) JPEGs made on the server, so a
person orienting in a case or a result sees "a photo", never its content. The one preview helper of the
web UI, the triage report and the review console.
"""

from __future__ import annotations

import base64
import io
import warnings

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
