"""What pixels are hashed for each image mode (palette, alpha, 16-bit, animated …)."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
from PIL import Image

from haven.hashing import hash_bytes, hash_file, pdq_from_pixels
from haven_testdata import PHOTOS


def _hex(bits) -> str:  # type: ignore[no-untyped-def]
    return "{:064x}".format(int("".join(str(int(b)) for b in bits), 2))


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _load(path, mode: str | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    with Image.open(path) as im:
        return np.asarray(im.convert(mode) if mode else im)


def _palette_photos() -> list:
    out = []
    for p in sorted(PHOTOS.glob("*.png")):
        with Image.open(p) as im:
            if im.mode == "P":
                out.append(p)
    return out


def test_palette_photos_hashed_from_real_colours() -> None:
    palette = _palette_photos()
    assert len(palette) >= 10
    far_for_index_hashing = 0
    for path in palette:
        rgb = _load(path, "RGB")
        haven = hash_file(path, ("pdq",)).get("pdq")
        assert haven == pdq_from_pixels(rgb).hash, path.name  # exactly the RGB rendering
        # What python-threatexchange does: np.asarray of the 'P' image (palette indices), stacked to 3
        # channels.
        indices = _load(path)
        index_hash = _hex(pdqhash.compute(np.ascontiguousarray(np.dstack([indices] * 3)))[0])
        if _distance(index_hash, haven) > 31:
            far_for_index_hashing += 1
    # The difference is real: hashing indices lands most palette photos outside the match threshold.
    assert far_for_index_hashing >= len(palette) // 2


def test_la_and_alpha_drop_alpha_without_compositing() -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (80, 90, 1), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(buf, "PNG")
    assert hash_bytes(buf.getvalue(), "rgba.png", ("pdq",)).get("pdq") == pdq_from_pixels(rgb).hash


def test_sixteen_bit_grey_uses_pillow_rgb_conversion() -> None:
    arr = (np.arange(100 * 120, dtype=np.uint16).reshape(100, 120) * 5).astype(np.uint16)
    im = Image.fromarray(arr)  # mode I;16
    buf = io.BytesIO()
    im.save(buf, "PNG")
    decoded = Image.open(io.BytesIO(buf.getvalue()))
    want = _hex(pdqhash.compute(np.asarray(decoded.convert("RGB")))[0])
    assert hash_bytes(buf.getvalue(), "i16.png", ("pdq",)).get("pdq") == want


def test_animated_gif_hashes_first_frame() -> None:
    rng = np.random.default_rng(3)
    frames = [
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).convert("P") for _ in range(3)
    ]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    first = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert hash_bytes(buf.getvalue(), "a.gif", ("pdq",)).get("pdq") == pdq_from_pixels(first).hash


def test_every_common_format_hashes(tmp_path) -> None:
    src = Image.fromarray(_load(sorted(PHOTOS.glob("*.jpg"))[0], "RGB")).resize((200, 150))
    for fmt, ext in [
        ("JPEG", "jpg"),
        ("PNG", "png"),
        ("GIF", "gif"),
        ("BMP", "bmp"),
        ("TIFF", "tif"),
        ("WEBP", "webp"),
    ]:
        path = tmp_path / f"x.{ext}"
        src.save(path, fmt)
        r = hash_file(path)
        assert r.get("pdq") and len(r.get("pdq")) == 64 and r.width == 200 and r.height == 150, fmt


def test_crypto_digests_match_hashlib(tmp_path) -> None:
    import hashlib

    data = np.random.default_rng(1).bytes(3 * 1024 * 1024 + 17)  # spans several read chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    r = hash_file(path, ("md5", "sha1", "sha256"))
    assert (r.get("md5"), r.get("sha1"), r.get("sha256")) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
    assert r.get("pdq") is None and r.size == len(data)


def test_heic_decodes_through_pillow_heif() -> None:
    from haven.hashing.decode import HEIF_SUPPORTED

    if not HEIF_SUPPORTED:
        import pytest

        pytest.skip("pillow-heif not installed")
    rgb = np.random.default_rng(5).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "HEIF")  # lossy: compare with the decoded pixels, not the source
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    r = hash_bytes(buf.getvalue(), "x.heic")
    assert (r.width, r.height) == (80, 64) and r.get("pdq") == pdq_from_pixels(decoded).hash
