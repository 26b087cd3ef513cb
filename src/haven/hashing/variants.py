"""Extra PDQ values of one picture, linked to the picture (``haven eval``'s improvements):

- *bank side* (``bank_variants``): hashes of systematic crops, of small rotations and of the picture
  without its borders, stored beside a bank entry, so a query that was cropped, rotated or framed lands
  near one of them and the match reports the entry;
- *query side* (``trimmed_values``, ``pixel_dihedral``): the hash of the query without its borders, and
  for a small image the hashes of its rotated and flipped pixels;
- *bank side* also (``tone_values``): the picture under a darker and a lighter brightness curve;
- *both sides* (``equalized_value``): the hash of the picture after histogram equalisation, which
  undoes a global brightness curve (gamma, contrast) before PDQ sees it;
- *both sides* (``half_values``): the hashes of each half of the picture (top, bottom, left, right), so
  a caption, banner or watermark laid over one part leaves the other half's value unchanged.

PDQ hashes the whole frame, so a 5 % crop on every side moves it ~70 bits (0 % recall at 31), a 4°
rotation with black corners ~60. A stored crop or rotation of the banked picture is a frame much
closer to what the query shows. The grids are below; what each buys and costs (values per entry, false
matches) is measured by ``haven eval`` and recorded in docs/eval.md. Values whose quality is under
PDQ's floor (a crop of a flat corner) are left out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from haven.hashing.borders import CUTS, border_box
from haven.hashing.pdq import pdq_from_pixels

#: Centred crops: the share cut from every side.
CROPS = (0.02, 0.04, 0.06, 0.08, 0.10)
#: One-sided crops: the share cut from the sides named (l, t, r, b).
SIDE_CROPS: tuple[tuple[float, str], ...] = ()
#: Rotations (degrees, counter-clockwise), same canvas, black corners.
ROTATIONS = (-5.0, -2.5, 2.5, 5.0)
#: Rotations (degrees) cut to the inner box without corners (a straightened photo).
ROTATE_CROPS = (-5.0, -2.5, 2.5, 5.0)
#: Brightness curves (gamma) the banked picture is also hashed under: a darker and a lighter one.
TONES = (1.5, 0.67)
#: Pictures are rotated at most this size (longest side; larger ones are reduced first).
ROTATE_SIDE = 512
MIN_QUALITY = 50

#: Below this longest side, the 8 rotations and flips are hashed from moved pixels (PDQ's own dihedral
#: values, derived from one hash, are off by up to ~30 bits on small images).
PIXEL_DIHEDRAL_SIDE = 1024

#: Halves: (key, top, bottom, left, right) as shares of the height and width.
HALVES = (("top", 0.0, 0.5, 0.0, 1.0), ("bottom", 0.5, 1.0, 0.0, 1.0),
          ("left", 0.0, 1.0, 0.0, 0.5), ("right", 0.0, 1.0, 0.5, 1.0))

TRIM = "trim"
HALF = "half"
EQUALIZED = "equalized"
TONE = "tone"
CROP = "crop"
ROTATE = "rotate"


def _pdq(pixels: np.ndarray) -> tuple[str, int]:
    h = pdq_from_pixels(np.ascontiguousarray(pixels))
    return h.hash, h.quality


def crop_box(width: int, height: int, frac: float, sides: str = "ltrb") -> tuple[int, int, int, int]:
    dx, dy = round(width * frac), round(height * frac)
    return (dx if "l" in sides else 0, dy if "t" in sides else 0,
            width - (dx if "r" in sides else 0), height - (dy if "b" in sides else 0))


def crop_values(pixels: np.ndarray, crops: tuple[float, ...] = CROPS,
                side_crops: tuple[tuple[float, str], ...] = SIDE_CROPS) -> dict[str, str]:
    """``{key: pdq}`` of centred crops (key ``"c4"``: 4 % off every side) and one-sided crops
    (``"lt10"``: 10 % off the left and top)."""
    height, width = pixels.shape[:2]
    out: dict[str, str] = {}
    wanted = [(f"c{round(f * 100)}", f, "ltrb") for f in crops]
    wanted += [(f"{s}{round(f * 100)}", f, s) for f, s in side_crops]
    for key, frac, sides in wanted:
        l_, t, r, b = crop_box(width, height, frac, sides)
        if r - l_ < 16 or b - t < 16:
            continue
        value, quality = _pdq(pixels[t:b, l_:r])
        if quality >= MIN_QUALITY:
            out[key] = value
    return out


def _inner_box(width: int, height: int, degrees: float) -> tuple[int, int, int, int]:
    """The largest centred box of the picture's shape inside it rotated by ``degrees`` (no corners)."""
    a = np.radians(abs(degrees))
    k = 1 / (np.cos(a) + max(width / height, height / width) * np.sin(a))
    cw, ch = round(width * k), round(height * k)
    return (width - cw) // 2, (height - ch) // 2, (width - cw) // 2 + cw, (height - ch) // 2 + ch


def rotation_values(pixels: np.ndarray, angles: tuple[float, ...] = ROTATIONS,
                    cropped: tuple[float, ...] = ROTATE_CROPS) -> dict[str, str]:
    """``{key: pdq}`` of the picture rotated by each angle with black corners (key ``"r2.5"``, ``"r-5"``)
    and rotated by each of ``cropped`` then cut to the inner box without corners (``"rc2.5"``), as an
    editor's straighten tool does."""
    if min(pixels.shape[:2]) < 16:
        return {}
    img = Image.fromarray(pixels)
    if max(img.size) > ROTATE_SIDE:  # PDQ keeps a 64×64 grid: a reduced copy rotates for a fraction of it
        img = img.reduce(-(-max(img.size) // ROTATE_SIDE))
    out: dict[str, str] = {}
    black = 0 if img.mode == "L" else (0, 0, 0)
    for key, a, crop in [(f"r{a:g}", a, False) for a in angles] + [(f"rc{a:g}", a, True) for a in cropped]:
        rot = img.rotate(a, resample=Image.Resampling.BICUBIC, fillcolor=black)
        if crop:
            rot = rot.crop(_inner_box(img.size[0], img.size[1], a))
        value, quality = _pdq(np.asarray(rot))
        if quality >= MIN_QUALITY:
            out[key] = value
    return out


def trimmed_values(pixels: np.ndarray) -> dict[str, str]:
    """``{key: pdq}`` of ``pixels`` without their borders (``haven.hashing.borders.CUTS``): key ``"bars"``
    for flat bars cut, ``"fill"`` for bars and low-detail fills cut, ``"centred"`` for the same cut alike
    on opposite sides; a value only once; empty when there are no borders or the rest is too flat."""
    out: dict[str, str] = {}
    for key, (ratio, centred) in zip(("bars", "fill", "centred"), CUTS, strict=True):
        box = border_box(pixels, ratio, centred=centred)
        if box is None:
            continue
        left, top, right, bottom = box
        value, quality = _pdq(pixels[top:bottom, left:right])
        if quality >= MIN_QUALITY and value not in out.values():
            out[key] = value
    return out


def half_values(pixels: np.ndarray) -> dict[str, str]:
    """``{key: pdq}`` of each half of the picture (``HALVES``; key ``"top"``…), each hashed on its own:
    an overlay on one part (a caption across the lower third, a logo in a corner) changes the whole
    picture's hash but not the hash of a half it does not reach. Flat halves (quality under
    ``MIN_QUALITY``: a plain sky) are left out: they would match any other flat half."""
    height, width = pixels.shape[:2]
    if min(height, width) < 32:
        return {}
    out: dict[str, str] = {}
    for key, top, bottom, left, right in HALVES:
        part = pixels[round(height * top):round(height * bottom), round(width * left):round(width * right)]
        value, quality = _pdq(part)
        if quality >= MIN_QUALITY:
            out[key] = value
    return out


def tone_values(pixels: np.ndarray, gammas: tuple[float, ...] = TONES) -> dict[str, str]:
    """``{key: pdq}`` of the picture under each brightness curve ``v → 255·(v/255)^g`` (key ``"g1.5"``):
    a strong curve crushes shadows or highlights past what equalisation can restore."""
    if min(pixels.shape[:2]) < 5:
        return {}
    out: dict[str, str] = {}
    for g in gammas:
        lut = np.round(255 * (np.arange(256) / 255) ** g).astype(np.uint8)
        value, quality = _pdq(lut[pixels])
        if quality >= MIN_QUALITY:
            out[f"g{g:g}"] = value
    return out


def equalized_value(pixels: np.ndarray) -> str | None:
    """PDQ of ``pixels`` after histogram equalisation of their luma (PDQ hashes luma only, so the
    grey equalised image is enough): a monotone brightness curve leaves it nearly unchanged."""
    if min(pixels.shape[:2]) < 5:
        return None
    levels = np.asarray(Image.fromarray(pixels).convert("L"))
    hist = np.bincount(levels.ravel(), minlength=256)
    cdf = np.cumsum(hist).astype(np.float64)
    lo = cdf[hist > 0][0] if hist.any() else 0.0
    span = max(cdf[-1] - lo, 1.0)
    lut = np.clip(np.round((cdf - lo) / span * 255), 0, 255).astype(np.uint8)
    value, quality = _pdq(lut[levels])
    return value if quality >= MIN_QUALITY else None


def pixel_dihedral(pixels: np.ndarray) -> dict[str, str]:
    """``{name: pdq}`` of the 7 rotations and flips of a small image's pixels (longest side under
    ``PIXEL_DIHEDRAL_SIDE``; empty for larger ones), named as ``haven.hashing.pdq.DIHEDRAL_NAMES``."""
    if max(pixels.shape[:2]) >= PIXEL_DIHEDRAL_SIDE or min(pixels.shape[:2]) < 5:
        return {}
    a = pixels
    moved = {
        "rot90": np.rot90(a), "rot180": a[::-1, ::-1], "rot270": np.rot90(a, -1), "flipx": a[::-1],
        "flipy": a[:, ::-1], "flipplus1": np.swapaxes(a, 0, 1),
        "flipminus1": np.swapaxes(a[::-1, ::-1], 0, 1),
    }
    return {k: _pdq(v)[0] for k, v in moved.items()}


def bank_variants(
    pixels: np.ndarray, *, crops: bool = True, rotations: bool = True, trim: bool = True,
    equalized: bool = True, tones: bool = True, halves: bool = True,
) -> list[tuple[str, str, str]]:
    """``(family, key, pdq)`` of the bank-side variants of one picture (duplicates left out)."""
    out: list[tuple[str, str, str]] = []
    if equalized:
        e = equalized_value(pixels)
        if e is not None:
            out.append((EQUALIZED, "histogram", e))
    if trim:
        out += [(TRIM, k, v) for k, v in trimmed_values(pixels).items()]
    if tones:
        out += [(TONE, k, v) for k, v in tone_values(pixels).items()]
    if halves:
        out += [(HALF, k, v) for k, v in half_values(pixels).items()]
    if crops:
        out += [(CROP, k, v) for k, v in crop_values(pixels).items()]
    if rotations:
        out += [(ROTATE, k, v) for k, v in rotation_values(pixels).items()]
    seen: set[str] = set()
    unique = []
    for fam, key, value in out:
        if value not in seen:
            seen.add(value)
            unique.append((fam, key, value))
    return unique
