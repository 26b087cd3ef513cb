"""Border and letterbox detection: the box of the picture inside added borders, so it can be hashed
without them (``haven eval``'s ``trim`` improvement, on the bank side and the query side).

PDQ hashes the whole frame. A picture re-shared inside a border (black or white bars, a letterbox, the
picture itself stretched and blurred behind it, a screenshot's bars) is a different frame, and its PDQ is
far from the original's (0 % recall at a 20 % border). Here the border is found and cut, and the inner
box is hashed as an extra look-up value.

How: the image is reduced to grey at about ``WORK_SIDE`` px, and each row's (and column's) *detail* is
the mean absolute difference between neighbouring pixels along it. A border row has little:
a flat bar has none, a blurred fill a fraction of the picture's. From each side, rows are cut while their
detail is under ``RATIO`` × the 75th percentile of the rows' detail (and under ``FLAT`` grey levels, for a
flat bar on a flat picture), then the same for columns inside what is left, twice over (bars on the
sides change the rows' detail). A border is found only when a cut removes at least ``MIN_CUT`` of a side and
leaves at least ``MIN_KEEP`` of each dimension; once one side is cut, every side is cut by what it
found, so a picture's own thin margin is cut alike whether or not a border was added around it.

A third cut (``centred``) takes each pair of opposite sides by the smaller of its two cuts: a picture
centred on a blurred copy of itself (what phone apps do) keeps its own plain sky at one edge.

The box is a hint for extra look-up values, never the file's own hash: a picture with a plain sky at its
top edge is "trimmed" too, which costs one more value looked up, not a missed match.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

WORK_SIDE = 256  # longest side the detail profile is computed at
RATIO = 0.3  # a blurred border row's detail is under this share of the rows' 75th percentile
#: ``border_boxes``' cuts: bars only (no detail rule), bars and low-detail fills, and the same centred.
CUTS = ((0.0, False), (RATIO, False), (RATIO, True))
FLAT_RANGE = 8.0  # a bar's row: its 5th-95th percentile of grey within this many levels
MIN_CUT = 0.02  # a side is cut only when at least this share of the dimension goes
MIN_KEEP = 0.2  # never keep less than this share of a dimension

Box = tuple[int, int, int, int]  # (left, top, right, bottom), right and bottom exclusive


def _grey_small(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Grey float image reduced by an integer box filter to about ``WORK_SIDE`` px, and the factor."""
    f = max(1, max(pixels.shape[:2]) // WORK_SIDE)
    img = Image.fromarray(pixels)
    if f > 1:  # Pillow's box reduction: a block's mean, in C (the cut is then in whole blocks)
        img = img.crop((0, 0, (img.size[0] // f) * f, (img.size[1] // f) * f)).reduce(f)
    return np.asarray(img.convert("L"), dtype=np.float32), f


def _detail(g: np.ndarray) -> np.ndarray:
    """Per row of ``g``: the mean high-pass energy along it (|pixel − mean of it and its two neighbours
    in the row|). A bar's rows have none, a blurred fill's next to none, a picture's rows have texture
    and edges; the step from a bar into the picture runs along the rows and adds nothing."""
    if g.shape[1] < 3:
        return np.zeros(g.shape[0])
    hp = g[:, 1:-1] - (g[:, :-2] + g[:, 1:-1] + g[:, 2:]) / 3.0
    return np.asarray(np.abs(hp).mean(axis=1))


def _flat(g: np.ndarray) -> np.ndarray:
    """Per row of ``g``: True when the row is one level (a bar): its 5th to 95th percentile within
    ``FLAT_RANGE`` grey levels."""
    lo, hi = np.percentile(g, [5, 95], axis=1)
    return np.asarray(hi - lo <= FLAT_RANGE)


def _run(mask: np.ndarray) -> int:
    """Length of the run of True at the start of ``mask``."""
    return int(np.argmin(mask)) if not mask.all() else len(mask)


def _cut(g: np.ndarray, ratio: float) -> tuple[int, int]:
    """Rows to cut from the start and from the end of ``g``: a run of flat rows (bars, of any levels),
    else a run of rows with next to no detail (a blurred fill)."""
    flat = _flat(g)
    profile = _detail(g)
    n = len(profile)
    low = profile < ratio * float(np.percentile(profile, 75))
    out = []
    for f, lo_ in ((flat, low), (flat[::-1], low[::-1])):
        k = _run(f)
        while k < n:  # then a blurred fill, or a screenshot's caption lines, bars between them
            step = _run(lo_[k:])
            step += _run(f[k + step:])
            if not step:
                break
            k += step
        out.append(k)
    return out[0], out[1]


def border_box(pixels: np.ndarray, ratio: float = RATIO, *, centred: bool = False) -> Box | None:
    """The box of the picture inside the borders of ``pixels`` (H×W×3 or H×W uint8), in pixels of the
    image, or None when no border was found (or the image is too small to tell). ``centred``: the border is
    as wide on opposite sides (a picture centred on a fill, as phone apps do), so each pair of sides is cut
    by the smaller of its two cuts — a plain sky at one edge of the picture is not taken for border."""
    height, width = pixels.shape[:2]
    if min(height, width) < 32:
        return None
    g, f = _grey_small(pixels)
    top, left, bottom, right = 0, 0, g.shape[0], g.shape[1]
    for _ in range(2):
        inner = g[top:bottom, left:right]
        if min(inner.shape) < 8:
            return None
        a, b = _cut(inner, ratio)
        if centred:
            a = b = min(a, b)
        top, bottom = top + a, bottom - b
        inner = g[top:bottom, left:right]
        if min(inner.shape) < 8:
            return None
        a, b = _cut(inner.T, ratio)
        if centred:
            a = b = min(a, b)
        left, right = left + a, right - b
    rows, cols = g.shape
    # A border is found when some side loses at least MIN_CUT; then every side is cut by what it found
    # (a picture's own thin margin goes too, on the bank side as on the query side).
    if max(top / rows, (rows - bottom) / rows, left / cols, (cols - right) / cols) < MIN_CUT:
        return None
    t, l_ = top * f, left * f
    b_ = bottom * f if bottom < rows else height
    r_ = right * f if right < cols else width
    if r_ - l_ < MIN_KEEP * width or b_ - t < MIN_KEEP * height:
        return None
    return l_, t, r_, b_


def trim_borders(pixels: np.ndarray, ratio: float = RATIO) -> np.ndarray | None:
    """``pixels`` without their borders (a view), or None when there are none (``border_box``)."""
    box = border_box(pixels, ratio)
    if box is None:
        return None
    left, top, right, bottom = box
    return pixels[top:bottom, left:right]


def border_boxes(pixels: np.ndarray) -> list[Box]:
    """The distinct boxes found with each of ``CUTS``: flat bars alone (what a black, white or letterbox
    border is: cut the same way on every copy), bars with low-detail fills (blurred borders, a
    screenshot's captions; looser, so a second value), and that cut alike on opposite sides (a picture
    centred on a blurred copy of itself, whose own plain sky or wall at one edge is not border)."""
    out: list[Box] = []
    for ratio, centred in CUTS:
        box = border_box(pixels, ratio, centred=centred)
        if box is not None and box not in out:
            out.append(box)
    return out
