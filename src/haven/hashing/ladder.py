"""PDQ of a small image as if it had been upscaled: extra look-up values for thumbnails.

Why: PDQ blurs with a box of about side/128 px (an integer, so 1–3 px under 384 px) and samples a
64×64 grid. On a small copy of a picture that blur differs from what the original got, and the
copy's hash drifts: on Haven's synthetic seizure, 17 % of 0.45× resizes of 320-px pictures were
more than 31 bits from their original. Hashing the small copy *as if* it had been bicubic-upscaled
to a few sizes (the "ladder") gives values that land near the original's hash again (BENCHMARKS.md,
triage Runs 6–11: known recall of resized and recompressed files 97.3 % → 99.1 %, precision 1.0).

These values are for look-ups only. A file's PDQ is always its own standard hash; a match found
through a ladder value says so (``upscaled_to`` on a match, ``upscaled_side`` in triage). Each rung is
one more value looked up, so the chance of
an unrelated image coming within the threshold grows with the number of rungs (at most 4).

How: PDQ's blur and 64×64 decimation are linear and separable, and so is bicubic interpolation, so
"upscale to side S, then blur and sample as PDQ does at S" is one 64×n matrix per axis, and each of
its rows is a short run of weights (a band). The bands are built here once per (n, S); the C kernel
(``_pdq.ladder``) applies them to the image's luma and finishes each hash with PDQ's DCT and median
split. The upscaled image is never materialised: four rungs cost about as much as hashing the small
image itself. Pillow's BICUBIC filter is followed (Keys cubic, a = -0.5), without its rounding to
8 bits, so a rung agrees with ``pdq_from_pixels`` of the Pillow-upscaled image within a few bits
(tested), not bit for bit.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from haven.hashing import _pdq

#: Longest sides a small image is hashed at, besides its own. An image gets the rungs above its own
#: longest side; from 768 px up it gets none.
LADDER_SIDES = (256, 384, 512, 768)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, as Pillow's BICUBIC uses."""
    a = -0.5
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _upscale_rows(n: int, size: int, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``j`` of Pillow's bicubic resize from n to ``size`` samples (size ≥ n), as (taps, weights),
    each ``len(j) × 5``: output sample j is the weighted sum of input samples ``taps``."""
    if size == n:
        taps = j[:, None] + np.arange(5)[None, :]
        return taps, np.where(np.arange(5)[None, :] == 0, 1.0, 0.0).repeat(len(j), axis=0)
    center = (j + 0.5) * (n / size)
    lo = np.maximum((center - 1.5).astype(np.int64), 0)  # Pillow: int(center - support + 0.5), clipped
    hi = np.minimum((center + 2.5).astype(np.int64), n)
    taps = lo[:, None] + np.arange(5)[None, :]  # the support of 2 covers at most 5 samples
    weight = np.where(taps < hi[:, None], _cubic(taps - center[:, None] + 0.5), 0.0)
    return taps, weight / weight.sum(axis=1, keepdims=True)


def _box_window(o: np.ndarray, size: int, full: int) -> tuple[np.ndarray, np.ndarray]:
    """PDQ's box filter at outputs ``o``: the inputs each averages (``… × full``) and whether each is
    inside the window (clipped at the edges, where the mean is over fewer samples)."""
    half = (full + 2) // 2
    lo = np.maximum(o - (full - half), 0)
    hi = np.minimum(o + half - 1, size - 1)
    idx = lo[..., None] + np.arange(full)
    return np.minimum(idx, size - 1), idx <= hi[..., None]


def axis_operator(n: int, size: int) -> np.ndarray:
    """``64 × n``: upscale n samples to ``size``, blur twice and sample 64, as PDQ does at ``size``.

    Only the samples the 64 outputs depend on are visited (64 × window² × 5 weights), never the
    ``size × n`` matrices."""
    full = (size + 2 * 64 - 1) // (2 * 64)
    rows = np.array([int(((k + 0.5) * size) / 64) for k in range(64)])
    q, q_in = _box_window(rows, size, full)  # 64 × full: the second pass averages these
    j, j_in = _box_window(q, size, full)  # 64 × full × full: the first pass averages these
    weight = (j_in / j_in.sum(axis=-1, keepdims=True)) * (q_in / q_in.sum(axis=-1, keepdims=True))[..., None]
    taps, tap_weight = _upscale_rows(n, size, j.ravel())
    weight = weight.reshape(64, -1, 1) * tap_weight.reshape(64, -1, 5)
    flat = (np.arange(64)[:, None, None] * (n + 5) + taps.reshape(64, -1, 5)).ravel()
    out = np.bincount(flat, weights=weight.ravel(), minlength=64 * (n + 5)).reshape(64, n + 5)
    return out[:, :n]


Band = tuple[bytes, bytes, int]


@lru_cache(maxsize=4096)  # a band is about 3.5 KiB (64 × ~12 floats), so at most ~14 MiB; a 39 k-file
# seizure used 5,778 distinct (n, size) pairs, and a miss costs ~0.3 ms
def axis_band(n: int, size: int) -> Band:
    """``axis_operator`` as the kernel takes it: each output's weights are one run of ``taps``
    consecutive inputs from ``start`` (int32[64], float32[64 × taps], as bytes), zero-padded."""
    op = axis_operator(n, size)
    nonzero = op != 0
    first = nonzero.argmax(axis=1)
    last = n - 1 - nonzero[:, ::-1].argmax(axis=1)
    taps = int((last - first).max()) + 1
    start = np.minimum(first, n - taps)
    weights = op[np.arange(64)[:, None], start[:, None] + np.arange(taps)[None, :]]
    return start.astype(np.int32).tobytes(), weights.astype(np.float32).tobytes(), taps


def rung_sides(width: int, height: int, sides: tuple[int, ...] = LADDER_SIDES) -> list[int]:
    """The ladder sides above an image's longest side."""
    return [s for s in sides if s > max(width, height)]


def upscaled_pdq(pixels: np.ndarray, sides: tuple[int, ...] = LADDER_SIDES) -> dict[int, str]:
    """``{side: pdq_hex}``: the PDQ of ``pixels`` (H×W×3 RGB or H×W grey uint8) as if upscaled so
    its longest side is ``side``, for each ladder side above its own (empty for big images)."""
    height, width = pixels.shape[:2]
    rungs = rung_sides(width, height, sides)
    if not rungs or min(width, height) < 5:
        return {}
    longest = max(width, height)
    bands = [
        axis_band(height, round(height * side / longest)) + axis_band(width, round(width * side / longest))
        for side in rungs
    ]
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    channels = 1 if pixels.ndim == 2 else 3
    hashes = _pdq.ladder(pixels, width, height, channels, bands)
    return {side: raw.hex() for side, raw in zip(rungs, hashes, strict=True)}
