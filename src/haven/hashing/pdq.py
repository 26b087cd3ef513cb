"""PDQ hash and quality of decoded pixels, through the compiled kernel (``_pdq.c``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from haven.hashing import _pdq

# Names and order of the 8 dihedral variants, as the reference C++ returns them.
DIHEDRAL_NAMES = ("orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1")


@dataclass(frozen=True)
class PdqHash:
    hash: str  # 64 lower-case hex digits (the reference encoding)
    quality: int  # 0..100; the ecosystem ignores hashes under 50
    dihedral: dict[str, str] | None = None


def pdq_from_pixels(pixels: np.ndarray, *, dihedral: bool = False) -> PdqHash:
    """PDQ of an ``H×W×3`` RGB or ``H×W`` grey uint8 array.

    Bit-exact with ``pdqhash.compute`` on the same RGB pixels (tested on every reference vector
    and by property tests). Images under 5 px on a side hash to zero with quality 0, as the
    reference does.
    """
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"expected HxW or HxWx3 uint8 pixels, got {pixels.dtype} {pixels.shape}")
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else 3
    raw, quality = _pdq.hash(pixels, width, height, channels, dihedral)
    if dihedral:
        variants = {name: h.hex() for name, h in zip(DIHEDRAL_NAMES, raw, strict=True)}
        return PdqHash(variants["orig"], quality, variants)
    return PdqHash(raw.hex(), quality)
