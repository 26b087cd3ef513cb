"""Border detection (``haven.hashing.borders``): the picture's box is found inside flat, letterbox and
blurred borders, and a picture without borders is left alone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from haven.eval.transforms import BY_NAME
from haven.hashing.borders import border_box, border_boxes, trim_borders


def textured(w: int = 400, h: int = 300, seed: int = 1) -> Image.Image:
    """A picture with detail everywhere (smoothed noise plus edges), no border of its own."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 10, w // 10, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.integers(-25, 25, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, int) + noise, 0, 255).astype(np.uint8))


def test_no_border_is_left_alone() -> None:
    assert border_box(np.asarray(textured())) is None


@pytest.mark.parametrize("name", ["pad_20_black", "pad_20_white", "pad_20_blur", "letterbox_16_9"])
def test_border_found_within_a_few_pixels(name: str) -> None:
    pic = textured()
    framed = BY_NAME[name].apply(pic)
    box = border_box(np.asarray(framed))
    assert box is not None
    w, h = pic.size
    fw, fh = framed.size
    want = ((fw - w) // 2, (fh - h) // 2, (fw - w) // 2 + w, (fh - h) // 2 + h)
    assert all(abs(a - b) <= 6 for a, b in zip(box, want, strict=True)), (box, want)


def test_trim_returns_the_inner_pixels_or_none() -> None:
    pic = np.asarray(textured())
    assert trim_borders(pic) is None
    framed = np.asarray(BY_NAME["pad_20_black"].apply(Image.fromarray(pic)))
    inner = trim_borders(framed)
    assert inner is not None and abs(inner.shape[0] - 300) <= 12 and abs(inner.shape[1] - 400) <= 12


def test_a_centred_fill_is_not_confused_with_a_plain_sky_at_one_edge() -> None:
    """A picture whose top third is a smooth sky, on a blurred fill: cut side by side, the sky is taken
    for border; the centred cut (each pair of sides cut by the smaller) finds the picture."""
    pic = np.asarray(textured()).copy()
    sky = np.linspace(150, 190, 100)[:, None, None] + np.zeros((1, 400, 3))
    pic[:100] = sky.astype(np.uint8)
    framed = np.asarray(BY_NAME["pad_20_blur"].apply(Image.fromarray(pic)))
    fh, fw = framed.shape[:2]
    want = ((fw - 400) // 2, (fh - 300) // 2, (fw - 400) // 2 + 400, (fh - 300) // 2 + 300)
    side_by_side = border_box(framed)
    assert side_by_side is not None and side_by_side[1] - want[1] > 30  # the sky went with the border
    centred = border_box(framed, centred=True)
    assert centred is not None and all(abs(a - b) <= 6 for a, b in zip(centred, want, strict=True)), centred
    assert centred in border_boxes(framed)
