"""Hostile evidence for `haven triage`, built inside the tests (issue 23's findings, each reproduced).

Small on disk: the big payloads are zeros through a streaming compressor, repeated at the level of
the compressed format (concatenated bzip2/xz streams; deflate blocks after a full flush, which refer
to nothing before them), so a gigabyte costs a few kilobytes and a fraction of a second to build.
Every byte the formats carry is real: the tests never rely on a file being other than it says.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import shutil
import struct
import subprocess
import tarfile
import zipfile
import zlib
from functools import cache
from pathlib import Path

from PIL import Image

MiB = 1024 * 1024
GiB = 1024 * MiB


def jpeg(color: str = "red", size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "JPEG")
    return buf.getvalue()


# --- compressed zeros --------------------------------------------------------------------------


@cache
def _bz2_zeros(chunk: int) -> bytes:
    return bz2.compress(bytes(chunk), 9)


@cache
def _xz_zeros(chunk: int) -> bytes:
    return lzma.compress(bytes(chunk), preset=0)


def _stream_of(compress, pieces: list[bytes | int], chunk: int) -> bytes:
    """Concatenated compressed streams: bytes pieces as they are, int pieces as that many zero bytes."""
    out = []
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(compress(piece))
            continue
        whole, rest = divmod(piece, chunk)
        out.append(compress(None) * whole if whole else b"")
        if rest:
            out.append(compress(bytes(rest)))
    return b"".join(out)


def _tar_layout(members: list[tuple[str, int]]) -> list[bytes | int]:
    """A ustar archive of zero-filled members as pieces: header bytes, then a count of zero bytes."""
    pieces: list[bytes | int] = []
    for name, size in members:
        info = tarfile.TarInfo(name)
        info.size = size
        pieces.append(info.tobuf(tarfile.USTAR_FORMAT))
        pieces.append(size + (-size % 512))
    pieces.append(1024)  # end of archive
    return pieces


def tar_bz2_of_zeros(members: list[tuple[str, int]], chunk: int = 16 * MiB) -> bytes:
    return _stream_of(
        lambda b: _bz2_zeros(chunk) if b is None else bz2.compress(b, 9), _tar_layout(members), chunk
    )


def tar_xz_of_zeros(members: list[tuple[str, int]], chunk: int = 16 * MiB) -> bytes:
    return _stream_of(
        lambda b: _xz_zeros(chunk) if b is None else lzma.compress(b, preset=0), _tar_layout(members), chunk
    )


@cache
def _deflated_zeros_block(chunk: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    # From a fresh compressor, up to a full flush: refers to nothing before it, so copies can follow it.
    return c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)


def deflate_zeros(size: int, chunk: int = 64 * MiB) -> bytes:
    """A raw deflate stream of ``size`` zero bytes."""
    whole, rest = divmod(size, chunk)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = c.compress(bytes(rest)) + c.flush()
    return _deflated_zeros_block(chunk) * whole + tail


def crc_zeros(size: int, chunk: int = 64 * MiB) -> int:
    crc, block = 0, bytes(min(size, chunk))
    while size:
        n = min(size, chunk)
        crc = zlib.crc32(block[:n], crc)
        size -= n
    return crc


# --- zip, written by hand (raw names, lying or overlapping headers) ----------------------------


def _local(name: bytes, flags: int, method: int, crc: int, packed: int, size: int) -> bytes:
    return (
        struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, packed, size, len(name), 0)
        + name
    )


def _central(name: bytes, flags: int, method: int, crc: int, packed: int, size: int, offset: int) -> bytes:
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            packed,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        + name
    )


def _end(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def raw_zip(members: list[tuple[bytes, bytes]], flags: int = 0) -> bytes:
    """A stored zip of ``(raw name, data)``, names written byte for byte (duplicates, NULs, bad UTF-8
    kept)."""
    body, cd = bytearray(), bytearray()
    for name, data in members:
        crc = zlib.crc32(data)
        cd += _central(name, flags, 0, crc, len(data), len(data), len(body))
        body += _local(name, flags, 0, crc, len(data), len(data)) + data
    return bytes(body + cd + _end(len(members), len(cd), len(body)))


def zip_lying_sizes(n: int = 8, declared: int = 511 * MiB, actual: int = 512 * 1024) -> bytes:
    """Members declared as stored, ``declared`` bytes each, holding ``actual`` bytes (issue 23: 8 × 511
    MiB)."""
    body, cd = bytearray(), bytearray()
    for i in range(n):
        name = f"big{i}.bin".encode()
        cd += _central(name, 0, 0, 0, declared, declared, len(body))
        body += _local(name, 0, 0, 0, declared, declared) + bytes(actual)
    return bytes(body + cd + _end(n, len(cd), len(body)))


def zip_member_larger_than_declared(size: int = GiB, declared: int = 1000) -> bytes:
    """One honest deflated member of ``size`` zero bytes whose headers declare ``declared`` bytes."""
    data = deflate_zeros(size)
    name = b"zeros.bin"
    crc = crc_zeros(size)
    local = _local(name, 0, 8, crc, len(data), declared)
    cd = _central(name, 0, 8, crc, len(data), declared, 0)
    return local + data + cd + _end(1, len(cd), len(local) + len(data))


def zip_overlapping(n: int = 2000, kernel_size: int = 4 * MiB - 64 * 1024) -> bytes:
    """Fifield's overlapping-entries zip bomb: each entry's deflate data quotes the next local header
    (a stored block) and runs on into the next entry's data, down to one shared kernel of zeros.
    Every member is under 4 MiB; together they inflate to about ``n`` × 4 MiB."""
    names = [f"m{i:05d}.bin".encode() for i in range(n)]
    kernel = deflate_zeros(kernel_size)
    # Sizes from the last entry back: entry i inflates to its successor's header + its successor's bytes.
    sizes, packed = [0] * n, [0] * n
    sizes[-1], packed[-1] = kernel_size, len(kernel)
    for i in range(n - 2, -1, -1):
        header_len = 30 + len(names[i + 1])
        sizes[i] = header_len + sizes[i + 1]
        packed[i] = 5 + header_len + packed[i + 1]
    body, offsets = bytearray(), []
    for i in range(n):
        offsets.append(len(body))
        body += _local(names[i], 0, 8, 0, packed[i], sizes[i])
        if i + 1 < n:
            header_len = 30 + len(names[i + 1])
            body += b"\x00" + struct.pack("<HH", header_len, header_len ^ 0xFFFF)  # a stored block quoting it
    body += kernel
    cd = b"".join(_central(names[i], 0, 8, 0, packed[i], sizes[i], offsets[i]) for i in range(n))
    return bytes(body) + cd + _end(n, len(cd), len(body))


def zip_fully_overlapping(n: int = 2000, size: int = 4 * MiB - 1) -> bytes:
    """``n`` central-directory entries, all pointing at the same local header and its deflated zeros."""
    data = deflate_zeros(size)
    crc = crc_zeros(size)
    local = _local(b"kernel.bin", 0, 8, crc, len(data), size)
    cd = b"".join(_central(f"f{i:05d}.bin".encode(), 0, 8, crc, len(data), size, 0) for i in range(n))
    return local + data + cd + _end(n, len(cd), len(local) + len(data))


def zip_nest(fanout: int = 16, levels: int = 3, leaf: int = 4 * MiB - 1) -> bytes:
    """A nest of zips whose leaves stay just under the per-member ratio check (16 GiB from a few KB)."""
    level = _zip_of({f"leaf{i:02d}.bin": bytes(leaf) for i in range(fanout)})
    for depth in range(levels - 1):
        level = _zip_of({f"n{depth}_{i:02d}.zip": level for i in range(fanout)})
    return level


def _zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    return _zip_of(members)


# --- tar ----------------------------------------------------------------------------------------


def tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_info(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", major: int = 0, minor: int = 0
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.devmajor, info.devminor = major, minor
    return info


def sparse_tar(path: Path, members: list[tuple[str, bytes, int]]) -> None:
    """An uncompressed tar written sparsely: each member is ``head`` then zeros up to ``size`` (holes on
    disk)."""
    with open(path, "wb") as fh:
        for name, head, size in members:
            info = tarfile.TarInfo(name)
            info.size = size
            fh.write(info.tobuf(tarfile.GNU_FORMAT))
            fh.write(head)
            fh.seek(size - len(head) + (-size % 512), os.SEEK_CUR)
        fh.write(bytes(1024))


# --- PNG ------------------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">L", len(body)) + kind + body + struct.pack(">L", zlib.crc32(kind + body))


def _zlib_zeros(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes (raw deflate between a zlib header and the Adler-32)."""
    adler, left, block = 1, size, bytes(min(size, 64 * MiB))
    while left:
        n = min(left, len(block))
        adler = zlib.adler32(block[:n], adler)
        left -= n
    return b"\x78\xda" + deflate_zeros(size) + struct.pack(">L", adler)


def png(width: int = 64, height: int = 48, extra: list[bytes] = (), color: int = 90) -> bytes:
    """An RGB PNG (rows of gradient, so it has a PDQ worth the name), with ``extra`` chunks before IDAT."""
    rows = b"".join(
        b"\x00" + bytes((x * 4 + y + color) % 256 for x in range(width) for _ in range(3))
        for y in range(height)
    )
    ihdr = struct.pack(">LLBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def ztxt(size: int, keyword: bytes = b"Comment") -> bytes:
    return _chunk(b"zTXt", keyword + b"\x00\x00" + _zlib_zeros(size))


def iccp(size: int) -> bytes:
    return _chunk(b"iCCP", b"icc\x00\x00" + _zlib_zeros(size))


def huge_png(side: int = 13_000) -> bytes:
    """A ``side`` × ``side`` RGB PNG of black (about ``side``² × 3 bytes to decode; a few hundred KB on
    disk)."""
    ihdr = struct.pack(">LLBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", _zlib_zeros(side * (1 + 3 * side)))
        + _chunk(b"IEND", b"")
    )


# --- disk images ----------------------------------------------------------------------------------


def fat_image(tmp: Path, files: dict[str, bytes]) -> Path | None:
    """A 4 MiB FAT image holding ``files`` (mkfs.vfat + mtools), or None when the tools are missing."""
    mkfs = shutil.which("mkfs.vfat", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if not (mkfs and shutil.which("mcopy")):
        return None
    tmp.mkdir(parents=True, exist_ok=True)
    img = tmp / "card.dd"
    with open(img, "wb") as fh:
        fh.truncate(4 * MiB)
    subprocess.run([mkfs, "-n", "CARD", str(img)], check=True, capture_output=True)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    for name, data in files.items():
        src = tmp / f"src-{name}"
        src.write_bytes(data)
        subprocess.run(
            ["mcopy", "-i", str(img), str(src), f"::{name}"], check=True, capture_output=True, env=env
        )
    return img


def e01_of(raw: Path) -> Path | None:
    """An EnCase image of ``raw`` (ewfacquire), or None when ewf-tools is missing."""
    if not shutil.which("ewfacquire"):
        return None
    target = raw.with_suffix("")
    subprocess.run(
        ["ewfacquire", "-u", "-t", str(target), "-f", "encase6", "-c", "none", "-S", "1GiB", "-q", str(raw)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return target.with_suffix(".E01")
