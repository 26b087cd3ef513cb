"""Dihedral variants (from one DCT) against hashes of the actually transformed pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from haven.hashing import pdq_from_pixels
from haven_testdata import PHOTOS

# Variant name → the PIL transpose that produces that image (PIL rotations are counter-clockwise).
TRANSPOSES = {
    "rot90": Image.Transpose.ROTATE_90,
    "rot180": Image.Transpose.ROTATE_180,
    "rot270": Image.Transpose.ROTATE_270,
    "flipx": Image.Transpose.FLIP_TOP_BOTTOM,
    "flipy": Image.Transpose.FLIP_LEFT_RIGHT,
    "flipplus1": Image.Transpose.TRANSPOSE,
    "flipminus1": Image.Transpose.TRANSVERSE,
}

LOSSLESS = sorted(PHOTOS.glob("*.png"))[:25]


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.mark.parametrize("path", LOSSLESS, ids=lambda p: p.name)
def test_dct_domain_variants_equal_transformed_images_at_64px(path) -> None:
    # At 64x64 the reference hashes pixels directly (no blur, symmetric sampling grid), so the DCT-domain
    # transforms must reproduce the hashes of the transformed images exactly.
    with Image.open(path) as src:
        im = src.convert("RGB").resize((64, 64))
    variants = pdq_from_pixels(np.asarray(im), dihedral=True).dihedral
    assert variants is not None
    for name, transpose in TRANSPOSES.items():
        assert variants[name] == pdq_from_pixels(np.asarray(im.transpose(transpose))).hash, name


def test_variants_stay_close_at_other_sizes() -> None:
    # Elsewhere the reference's decimation grid is not symmetric, so variants are close, not equal
    # (PDQ's own README warns of this). Record that they stay within the match threshold on average.
    distances = []
    for path in LOSSLESS[:10]:
        with Image.open(path) as src:
            im = src.convert("RGB").resize((640, 480))
        variants = pdq_from_pixels(np.asarray(im), dihedral=True).dihedral
        assert variants is not None
        for name, transpose in TRANSPOSES.items():
            distances.append(
                _distance(variants[name], pdq_from_pixels(np.asarray(im.transpose(transpose))).hash)
            )
    assert sum(distances) / len(distances) <= 31
    # flipplus1 is a pure transpose: the grid maps onto itself, so it is always exact.
