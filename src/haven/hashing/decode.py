"""Safe image decoding: every failure becomes a typed InputError naming the file.

What pixels are hashed (documented in docs/hashing.md):
- Every mode goes through Pillow's ``convert("RGB")`` — the exact pixels the PDQ ecosystem
  (pdqhash on PIL, python-threatexchange, HMA) hashes, so Haven's values match theirs.
  Palette ('P', 'PA') images are hashed from their real colours, not their palette indices.
  Alpha ('RGBA', 'LA', 'PA') is dropped without compositing, as the reference does.
  16-bit and float modes ('I;16', 'I', 'F') are converted by Pillow's rules; CMYK, YCbCr, LAB
  through Pillow's conversions. Grey ('L') is hashed directly as grey (same luma as RGB).
- Animated images (GIF, APNG, WebP): the first frame.
- EXIF orientation is *not* applied (neither does the reference; hashes would otherwise differ).
- A decompression bomb (width × height over ``max_pixels``) is refused from its header,
  before any pixel is decoded.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from haven.config import DEFAULT_MAX_PIXELS
from haven.errors import DecodeError, ImageTooLargeError, InputError

try:  # HEIC/HEIF/AVIF through the well-kept libheif binding, when it is installed.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - optional
    HEIF_SUPPORTED = False

ImageFile.LOAD_TRUNCATED_IMAGES = False
# Haven enforces its own, configurable pixel limit in ``open_image`` (so ``--max-pixels`` can raise
# it past Pillow's fixed one). Every Haven code path opens images through ``open_image``.
Image.MAX_IMAGE_PIXELS = None

# Side of the JPEG draft (DCT-domain down-scaling) used by the fast path: the decoder
# skips detail PDQ never sees; measured in BENCHMARKS.md ("fast path deviation").
FAST_DRAFT_SIDE = 512

_DECODER_ERRORS = (OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError, KeyError,
                   TypeError, ZeroDivisionError, zlib.error, MemoryError, RuntimeError)


def open_image(
    source: str | Path | BinaryIO, *, label: str, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Open an image lazily, refusing non-images and bombs before any pixel is decoded."""
    try:
        im = Image.open(source)
    except UnidentifiedImageError as exc:
        raise DecodeError("not a recognised image format", path=label, code="not_image") from exc
    except InputError:
        raise
    except _DECODER_ERRORS as exc:
        raise DecodeError(f"cannot read image header: {exc}", path=label, code="corrupt") from exc
    width, height = im.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        im.close()
    if width <= 0 or height <= 0:
        raise DecodeError(f"invalid image size {width}x{height}", path=label, code="corrupt")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
            " (possible decompression bomb); raise --max-pixels / HAVEN_MAX_PIXELS to allow it",
            path=label,
            code="decompression_bomb",
        )
    return im


def decode_cost(im: Image.Image, *, fast: bool = False) -> int:
    """About how many bytes decoding ``im`` and hashing its pixels takes at the peak, from its header.

    Pillow's image (1, 2 or 4 bytes a pixel by mode), a conversion to RGB where the mode needs
    one (4), the pixel array (3) and the PDQ kernel's float luma and work buffer (8). ``fast``
    counts a JPEG at the size its draft decode gives.
    """
    width, height = im.size
    if fast and im.format == "JPEG":
        reduce = min(width // FAST_DRAFT_SIDE, height // FAST_DRAFT_SIDE)
        scale = next(s for s in (8, 4, 2, 1) if reduce >= s or s == 1)
        width, height = -(-width // scale), -(-height // scale)
    stored = 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4
    converted = 0 if im.mode in ("L", "RGB") else 4
    return width * height * (stored + converted + 3 + 8)


def load_pixels(im: Image.Image, *, label: str, fast: bool = False) -> np.ndarray:
    """Decode to an ``H×W×3`` (or ``H×W`` for grey) uint8 array, as documented above.

    ``fast`` lets JPEG decode at a reduced size (``draft``); other formats decode in full.
    """
    try:
        if fast and im.format == "JPEG":
            im.draft("RGB" if im.mode not in ("L",) else "L", (FAST_DRAFT_SIDE, FAST_DRAFT_SIDE))
        im.load()
        rgb = im if im.mode in ("L", "RGB") else im.convert("RGB")
        arr = np.asarray(rgb)
    except InputError:
        raise
    except OSError as exc:
        text = str(exc)
        code = "truncated" if "truncated" in text or "broken data stream" in text else "corrupt"
        raise DecodeError(f"cannot decode image: {text}", path=label, code=code) from exc
    except _DECODER_ERRORS as exc:
        raise DecodeError(f"cannot decode image: {exc!r}", path=label, code="corrupt") from exc
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr


def image_from_bytes(data: bytes, *, label: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """``open_image`` for bytes already in memory (uploads, archive members)."""
    return open_image(io.BytesIO(data), label=label, max_pixels=max_pixels)
