"""Hostile and broken inputs: each gives its error code naming the file; none crashes or hangs."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from haven.errors import DecodeError, FileAccessError, ImageTooLargeError, InputError
from haven.hashing import hash_bytes, hash_file
from haven_testdata import PHOTOS


def png_bomb(path: Path, side: int = 50_000) -> Path:
    """A valid 1-bit PNG of side × side black pixels: ~300 KB on disk, 2.5 gigapixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def jpeg_bytes() -> bytes:
    return sorted(PHOTOS.glob("*.jpg"))[0].read_bytes()


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    return sorted(PHOTOS.glob("*.png"))[0].read_bytes()


def _code(exc: InputError) -> str:
    return exc.code


def test_truncated_jpeg(tmp_path: Path, jpeg_bytes: bytes) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpeg_bytes[: len(jpeg_bytes) // 2])
    with pytest.raises(DecodeError) as info:
        hash_file(path)
    assert info.value.code == "truncated" and str(path) in info.value.message


def test_truncated_png(tmp_path: Path, png_bytes: bytes) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(png_bytes[: len(png_bytes) // 2])
    with pytest.raises(DecodeError) as info:
        hash_file(path)
    assert info.value.code in ("truncated", "corrupt") and info.value.path == str(path)


def test_header_only_jpeg(tmp_path: Path, jpeg_bytes: bytes) -> None:
    path = tmp_path / "head.jpg"
    path.write_bytes(jpeg_bytes[:300])
    with pytest.raises(DecodeError):
        hash_file(path)


@pytest.mark.parametrize("ext", ["jpg", "png", "gif", "webp", "tif"])
def test_random_bytes_with_image_extension(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"noise.{ext}"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DecodeError) as info:
        hash_file(path)
    assert info.value.code == "not_image"


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image\n")
    with pytest.raises(DecodeError) as info:
        hash_file(path)
    assert info.value.code == "not_image"


def test_png_bomb_refused_before_decoding(tmp_path: Path) -> None:
    path = png_bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 2_000_000
    with pytest.raises(ImageTooLargeError) as info:
        hash_file(path)
    assert info.value.code == "decompression_bomb" and "50000x50000" in info.value.message


def test_pixel_limit_is_configurable(tmp_path: Path, jpeg_bytes: bytes) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_bytes)
    with pytest.raises(ImageTooLargeError):
        hash_file(path, max_pixels=1000)
    assert hash_file(path, max_pixels=100_000_000).get("pdq")


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(FileAccessError) as info:
        hash_file(path)
    assert info.value.code == "empty"
    with pytest.raises(FileAccessError):
        hash_bytes(b"", "upload")


def test_directory_named_like_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.mkdir()
    with pytest.raises(FileAccessError) as info:
        hash_file(path)
    assert info.value.code == "is_directory"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError) as info:
        hash_file(tmp_path / "nope.png")
    assert info.value.code == "not_found"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path, jpeg_bytes: bytes) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(jpeg_bytes)
    path.chmod(0)
    with pytest.raises(FileAccessError) as info:
        hash_file(path)
    assert info.value.code == "permission_denied"


def test_crypto_only_works_on_non_images(tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(b"hello")
    r = hash_file(path, ("md5",))
    assert r.get("md5") == "5d41402abc4b2a76b9719d911017c592"


def test_every_prefix_of_a_small_jpeg_fails_cleanly(jpeg_bytes: bytes) -> None:
    # Cheap exhaustive-ish fuzz: truncation at many offsets never crashes or hangs.
    import io

    from PIL import Image

    small = io.BytesIO()
    with Image.open(io.BytesIO(jpeg_bytes)) as im:
        im.convert("RGB").resize((96, 64)).save(small, "JPEG", quality=80)
    data = small.getvalue()
    for cut in range(1, len(data), max(1, len(data) // 200)):
        try:
            hash_bytes(data[:cut], "prefix.jpg")
        except InputError:
            pass
