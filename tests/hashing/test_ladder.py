"""The upscaled PDQ look-up values of small images (``haven.hashing.ladder``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from haven.hashing import _pdq, hash_bytes, pdq_from_pixels
from haven.hashing.ladder import LADDER_SIDES, axis_band, rung_sides, upscaled_pdq
from haven_testdata import PDQ_REF, PHOTOS


def bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def photo(name: str, side: int) -> Image.Image:
    with Image.open(PHOTOS / name) as im:
        out = im.convert("RGB")
    out.thumbnail((side, side))
    return out


def pillow_upscaled_pdq(im: Image.Image, side: int) -> tuple[str, int]:
    f = side / max(im.size)
    up = im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.BICUBIC)
    h = pdq_from_pixels(np.asarray(up))
    return h.hash, h.quality


PHOTO_NAMES = sorted(p.name for p in PHOTOS.glob("*.jpg"))


def test_operator_at_the_image_own_size_is_pdq_bit_for_bit() -> None:
    """The banded-operator form of PDQ's blur and decimation, at the image's own size (no
    upscaling), gives exactly the kernel's hash: the box windows, edges and sample positions are
    PDQ's."""
    images = sorted(PDQ_REF.rglob("*.jpg")) + sorted(PDQ_REF.rglob("*.png"))
    assert images, f"no reference images in {PDQ_REF}"
    for path in images[:: max(1, len(images) // 12)]:
        with Image.open(path) as im:
            px = np.asarray(im.convert("RGB"))
        h, w = px.shape[:2]
        (raw,) = _pdq.ladder(px, w, h, 3, [axis_band(h, h) + axis_band(w, w)])
        assert raw.hex() == pdq_from_pixels(px).hash, path.name


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(PHOTO_NAMES[::40]),
    st.integers(16, 767),
    st.integers(16, 767),
)
def test_each_rung_is_the_pdq_of_the_pillow_upscaled_image(name: str, w: int, h: int) -> None:
    """Within a few bits (Pillow rounds the upscaled pixels to 8 bits; the operator does not), where
    PDQ's quality is high enough for the hash to be compared at all. (Under about 16 px on a side
    a picture is nearly flat once upscaled; its bits sit on the median and that rounding moves them.)"""
    small = photo(name, 800).resize((w, h), Image.Resampling.BILINEAR)
    values = upscaled_pdq(np.asarray(small))
    assert sorted(values) == rung_sides(w, h) == [s for s in LADDER_SIDES if s > max(w, h)]
    for side, value in values.items():
        reference, quality = pillow_upscaled_pdq(small, side)
        if quality >= 50:
            assert bits(value, reference) <= 10, (w, h, side)


def test_rungs_only_for_small_images() -> None:
    assert upscaled_pdq(np.asarray(photo("0001.jpg", 768))) == {}
    assert sorted(upscaled_pdq(np.asarray(photo("0001.jpg", 300)))) == [384, 512, 768]
    assert upscaled_pdq(np.zeros((4, 200, 3), np.uint8)) == {}  # under PDQ's 5 px: no hash at all
    grey = np.asarray(photo("0001.jpg", 200).convert("L"))
    rgb = np.asarray(photo("0001.jpg", 200).convert("L").convert("RGB"))
    for side, value in upscaled_pdq(grey).items():
        assert bits(value, upscaled_pdq(rgb)[side]) <= 2


def test_ladder_kernel_refuses_bands_outside_the_image() -> None:
    px = np.zeros((20, 30, 3), np.uint8)
    good_y, good_x = axis_band(20, 256), axis_band(30, 384)
    assert len(_pdq.ladder(px, 30, 20, 3, [good_y + good_x])) == 1
    starts = np.full(64, 28, np.int32).tobytes()  # 28 + 6 taps runs past the 30 columns
    with pytest.raises(ValueError, match="inside the image"):
        _pdq.ladder(px, 30, 20, 3, [good_y + (starts, bytes(64 * 6 * 4), 6)])
    with pytest.raises(ValueError, match="inside the image"):
        _pdq.ladder(px, 30, 20, 3, [good_y + (good_x[0], good_x[1][:-4], good_x[2])])  # short weights
    with pytest.raises(ValueError, match="width\\*height"):
        _pdq.ladder(px, 31, 20, 3, [good_y + good_x])


def test_hash_bytes_reports_the_values_only_when_asked() -> None:
    buf = io.BytesIO()
    photo("0001.jpg", 200).save(buf, "JPEG", quality=90)
    plain = hash_bytes(buf.getvalue(), "small.jpg", ("pdq",))
    asked = hash_bytes(buf.getvalue(), "small.jpg", ("pdq",), upscaled=True)
    assert not plain.variants and "pdq_upscaled" not in plain.to_dict()
    assert asked.get("pdq") == plain.get("pdq")  # the file's own PDQ is never changed
    assert sorted(asked.to_dict()["pdq_upscaled"]) == ["256", "384", "512", "768"]


def test_ladder_finds_small_copies_plain_pdq_misses() -> None:
    """What the ladder is for, measured on the shared photos: 0.45x resizes (about 144 px) of
    320-px pictures, compared with the picture's own PDQ at the standard threshold 31. Plain PDQ
    misses a good share of them; with the ladder at most a few percent are missed, and no copy
    comes within 31 bits of another picture."""
    originals, copies = [], []
    for name in PHOTO_NAMES[::3]:
        whole = photo(name, 640)
        w, h = whole.size
        for box in ((0, 0, w // 2, h // 2), (w // 2, h // 2, w, h)):  # quarter crops, as the bench makes
            im = whole.crop(box)
            im.thumbnail((320, 320))
            ph = pdq_from_pixels(np.asarray(im))
            if ph.quality < 80:
                continue
            originals.append(ph.hash)
            small = im.resize((int(im.width * 0.45), int(im.height * 0.45)), Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            small.save(buf, "JPEG", quality=85)
            r = hash_bytes(buf.getvalue(), name, ("pdq",), upscaled=True)
            copies.append([r.hashes["pdq"], *(v.value for v in r.variants.get("pdq", ()))])
    assert len(originals) >= 60
    plain_miss = sum(bits(c[0], o) > 31 for c, o in zip(copies, originals, strict=True))
    ladder_miss = sum(min(bits(v, o) for v in c) > 31 for c, o in zip(copies, originals, strict=True))
    assert plain_miss >= 3 and ladder_miss * 3 <= plain_miss, (plain_miss, ladder_miss)
    assert ladder_miss / len(originals) <= 0.03, (ladder_miss, len(originals))
    for i, c in enumerate(copies):
        others = [o for j, o in enumerate(originals) if j != i]
        assert min(bits(v, o) for v in c for o in others) > 31
