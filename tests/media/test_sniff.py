"""Type by content, not by extension."""

from __future__ import annotations

import io
import tarfile
import zipfile

from PIL import Image

from haven.media import kind_of, sniff


def _img(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, fmt)
    return buf.getvalue()


def test_images() -> None:
    for fmt, mime in (
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("WEBP", "image/webp"),
    ):
        assert sniff(_img(fmt)) == mime
        assert kind_of(mime) == "image"


def test_containers_and_others() -> None:
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("a.txt", "x")
    assert sniff(zbuf.getvalue()) == "application/zip"
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    assert sniff(tbuf.getvalue()[:4096]) == "application/x-tar"
    assert sniff(b"\x1f\x8b\x08\x00") == "application/gzip"
    assert sniff(b"EVF\x09\x0d\x0a\xff\x00" + b"\x00" * 20) == "application/x-ewf"
    assert kind_of("application/x-ewf") == "disk"
    assert sniff(b"hello, world") == "application/octet-stream"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video/mp4"
    assert sniff(b"\x00\x00\x00\x18ftypheic") == "image/heic"
