"""A zip reader for hostile evidence: every central-directory entry, raw names, bounded member streams.

Python's ``zipfile`` is built for well-formed archives, and seized ones are not always:

- it refuses the whole archive when one name carries the UTF-8 flag but is not UTF-8
  (``unzip -l`` lists every member); here such bytes are kept as ``surrogateescape`` code
  points, which ``EvidencePath`` writes as ``%XX``, so the original bytes stay recoverable;
- it cuts names at a NUL byte, so two members that differ only after it collapse into one;
- its bzip2 and LZMA members decompress without a bound on one read's output;
- it hides the local-header offsets needed to see entries whose data overlap (the
  overlapping-entries zip bomb) before any byte is inflated.

So the central directory is parsed here (format facts from PKWARE's APPNOTE.TXT: the end
record, the Zip64 end record and locator, central-directory records, the Zip64 extra field),
and each member is read from its local header through a decompressor whose every call has a
``max_length``. Methods: stored, deflate, bzip2, LZMA. A zip appended to another file (a JPEG
with a zip after it; a self-extracting program) is found through its end record, as ``unzip``
does: its offsets are then relative to where the zip starts.
"""

from __future__ import annotations

import bz2
import lzma
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from haven.errors import ArchiveError
from haven.media.streams import ByteReader

END_SIGNATURE = _END = b"PK\x05\x06"
_END64 = b"PK\x06\x06"
_LOCATOR64 = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
END_SIZE = _END_SIZE = 22
_LOCATOR64_SIZE = 20
_END64_SIZE = 56
_CENTRAL_SIZE = 46
_LOCAL_SIZE = 30
_MAX_COMMENT = 0xFFFF
_UTF8_FLAG = 0x800
_ENCRYPTED = 0x1

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
_CHUNK = 64 * 1024  # compressed bytes per read


@dataclass(frozen=True)
class ZipMember:
    """One central-directory entry."""

    index: int  # its place in the central directory
    raw_name: bytes
    name: str  # decoded leniently: UTF-8 (flag set) or CP437; undecodable bytes as surrogateescape
    flags: int
    method: int
    crc: int
    packed: int
    size: int
    offset: int  # of the local header, from the start of the zip (the prefix of an appended zip added)
    mode: int  # Unix mode bits from the external attributes (0 when not made on Unix)

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & _ENCRYPTED)

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/") and self.size == 0

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


@dataclass
class Directory:
    members: list[ZipMember]
    prefix: int  # bytes before the zip (a file it was appended to)
    declared: int  # entries the end record announces


def _decode(raw: bytes, flags: int) -> str:
    if flags & _UTF8_FLAG:
        return raw.decode("utf-8", "surrogateescape")
    return raw.decode("cp437")  # every byte has a CP437 character: lossless, as the format specifies


def find_end(fh: BinaryIO, size: int) -> int | None:
    """Offset of the end-of-central-directory record (the last one whose comment fits), or None."""
    start = max(0, size - (_END_SIZE + _MAX_COMMENT))
    fh.seek(start)
    tail = fh.read(size - start)
    pos = len(tail)
    while True:
        pos = tail.rfind(_END, 0, pos)
        if pos < 0:
            return None
        if pos + _END_SIZE <= len(tail):
            (comment_len,) = struct.unpack_from("<H", tail, pos + 20)
            if pos + _END_SIZE + comment_len <= len(tail):
                return start + pos


def read_directory(fh: BinaryIO, size: int, max_members: int) -> Directory:
    """Parse the central directory; an ``ArchiveError`` when there is none or it is malformed."""
    end = find_end(fh, size)
    if end is None:
        raise ArchiveError(
            "no end-of-central-directory record: not a zip, or cut short", code="corrupt_archive"
        )
    fh.seek(end)
    rec = fh.read(_END_SIZE)
    _, _disk, _cd_disk, _n_here, count, cd_size, cd_offset, _clen = struct.unpack("<4s4H2LH", rec)
    cd_end = end
    if end >= _LOCATOR64_SIZE:
        fh.seek(end - _LOCATOR64_SIZE)
        loc = fh.read(_LOCATOR64_SIZE)
        if loc[:4] == _LOCATOR64 and end >= _LOCATOR64_SIZE + _END64_SIZE:
            fh.seek(end - _LOCATOR64_SIZE - _END64_SIZE)
            rec64 = fh.read(_END64_SIZE)
            if rec64[:4] == _END64:
                count, cd_size, cd_offset = struct.unpack_from("<QQQ", rec64, 32)
                cd_end = end - _LOCATOR64_SIZE - _END64_SIZE
    prefix = cd_end - cd_size - cd_offset
    if prefix < 0 or cd_size > size:
        raise ArchiveError("the central directory lies outside the file", code="corrupt_archive")
    fh.seek(cd_offset + prefix)
    data = fh.read(cd_size)
    if len(data) < cd_size:
        raise ArchiveError("the central directory is cut short", code="corrupt_archive")
    return Directory(list(_records(data, prefix, max_members)), prefix, count)


def _records(data: bytes, prefix: int, max_members: int) -> Iterator[ZipMember]:
    pos, index = 0, 0
    while pos + _CENTRAL_SIZE <= len(data) and index < max_members:
        if data[pos : pos + 4] != _CENTRAL:
            raise ArchiveError(
                f"central-directory record {index + 1} has a bad signature", code="corrupt_archive"
            )
        (
            create_system,
            flags,
            method,
            crc,
            packed,
            size,
            name_len,
            extra_len,
            comment_len,
            external,
            offset,
        ) = _unpack_central(data, pos)
        raw = data[pos + _CENTRAL_SIZE : pos + _CENTRAL_SIZE + name_len]
        extra = data[pos + _CENTRAL_SIZE + name_len : pos + _CENTRAL_SIZE + name_len + extra_len]
        size, packed, offset = _zip64(extra, size, packed, offset)
        mode = (external >> 16) if create_system == 3 else 0
        yield ZipMember(
            index, raw, _decode(raw, flags), flags, method, crc, packed, size, offset + prefix, mode
        )
        pos += _CENTRAL_SIZE + name_len + extra_len + comment_len
        index += 1


def _unpack_central(data: bytes, pos: int) -> tuple[int, ...]:
    f = struct.unpack_from("<4s4B4HL2L5H2L", data, pos)
    # signature, create version, create system, extract version, reserved, flags, method, time, date,
    # crc, packed, size, name len, extra len, comment len, disk, internal attr, external attr, offset
    return (f[2], f[5], f[6], f[9], f[10], f[11], f[12], f[13], f[14], f[17], f[18])


def _zip64(extra: bytes, size: int, packed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the Zip64 extra field, for those the record marks 0xFFFFFFFF."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 1:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if packed == 0xFFFFFFFF and values:
                packed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return size, packed, offset


def overlapping(members: list[ZipMember]) -> dict[int, ZipMember]:
    """Entries whose local header and data overlap another entry's: index → one entry it overlaps.

    Each entry spans at least its 30-byte local header plus its compressed size from its offset.
    Honest writers never overlap entries; overlap is how a small zip makes many members share
    one highly compressed kernel (the overlapping-entries zip bomb).
    """
    out: dict[int, ZipMember] = {}
    reach: ZipMember | None = None  # the entry reaching furthest so far, in offset order
    for m in sorted(members, key=lambda m: (m.offset, m.index)):
        if reach is not None and m.offset < reach.offset + _LOCAL_SIZE + reach.packed:
            out[m.index] = reach
            out.setdefault(reach.index, m)
        if reach is None or m.offset + _LOCAL_SIZE + m.packed > reach.offset + _LOCAL_SIZE + reach.packed:
            reach = m
    return out


def open_member(fh: BinaryIO, member: ZipMember) -> MemberStream:
    """A stream of the member's uncompressed bytes; an ``ArchiveError`` when it cannot be read."""
    if member.encrypted:
        raise ArchiveError("encrypted member; not read", code="encrypted")
    fh.seek(member.offset)
    head = fh.read(_LOCAL_SIZE)
    if len(head) < _LOCAL_SIZE or head[:4] != _LOCAL:
        raise ArchiveError("no local file header where the central directory points", code="corrupt_member")
    name_len, extra_len = struct.unpack_from("<HH", head, 26)
    start = member.offset + _LOCAL_SIZE + name_len + extra_len
    return MemberStream(fh, start, member)


class MemberStream(ByteReader):
    """The uncompressed bytes of one member. Each ``read(n)`` decompresses at most ``n`` bytes.

    More bytes than the central directory declares is a lying header (``zip_bomb``); fewer, or a
    wrong CRC-32, is a damaged member (``crc_ok`` False after the last byte).
    """

    def __init__(self, fh: BinaryIO, start: int, member: ZipMember) -> None:
        super().__init__()
        self._fh = fh
        self._pos = start
        self._left = member.packed  # compressed bytes not yet read
        self._member = member
        self._out = 0
        self._crc = 0
        self._pending = b""  # compressed input not yet consumed (deflate's unconsumed tail)
        self._done = False
        self.crc_ok: bool | None = None
        method = member.method
        if method == STORED:
            self._d: _Decompressor | None = None
        elif method == DEFLATED:
            self._d = _Zlib()
        elif method == BZIP2:
            self._d = _Lib(bz2.BZ2Decompressor())
        elif method == LZMA:
            self._d = None  # made from the LZMA properties at the start of the data
        else:
            raise ArchiveError(f"compression method {method} is not supported; not read", code="unsupported")

    def _raw(self, n: int) -> bytes:
        n = min(n, self._left)
        if n <= 0:
            return b""
        self._fh.seek(self._pos)
        data = self._fh.read(n)
        self._pos += len(data)
        self._left -= len(data)
        if len(data) < n:
            self._left = 0
            if self._member.method == STORED:
                raise ArchiveError("member data cut short (truncated archive)", code="corrupt_member")
        return data

    def read_block(self, size: int) -> bytes:
        if self._done:
            return b""
        m = self._member
        if m.method == LZMA and self._d is None:
            self._d = _Lib(_lzma_decompressor(self._raw(4), self._raw))
        if self._d is None:
            data = self._raw(size)
        else:
            data = b""
            while not data and not self._d.eof:
                if self._d.needs_input and not self._pending:
                    self._pending = self._raw(_CHUNK)
                    if not self._pending:
                        break  # the compressed data ended
                data, self._pending = self._d.decompress(self._pending, size)
        if not data:
            self._finish()
            return b""
        self._out += len(data)
        if self._out > m.size:
            raise ArchiveError(
                f"decompresses past its declared size of {m.size:,} bytes (a lying header: zip bomb); "
                "not read",
                code="zip_bomb",
            )
        self._crc = zlib.crc32(data, self._crc)
        return data

    def _finish(self) -> None:
        self._done = True
        if self._out < self._member.size:
            raise ArchiveError(
                f"member ends after {self._out:,} of its {self._member.size:,} bytes (truncated or damaged)",
                code="corrupt_member",
            )
        self.crc_ok = self._crc == self._member.crc


class _Decompressor:
    needs_input: bool
    eof: bool

    def decompress(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        """(output of at most ``max_length`` bytes, input not yet consumed)."""
        raise NotImplementedError


class _Zlib(_Decompressor):
    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)

    @property
    def needs_input(self) -> bool:  # type: ignore[override]
        return True

    @property
    def eof(self) -> bool:  # type: ignore[override]
        return self._d.eof

    def decompress(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        try:
            out = self._d.decompress(data, max_length)
        except zlib.error as exc:
            raise ArchiveError(f"damaged deflate data: {exc}", code="corrupt_member") from exc
        return out, self._d.unconsumed_tail


class _Lib(_Decompressor):
    """bz2/lzma decompressors: they keep unconsumed input themselves (``needs_input``)."""

    def __init__(self, d: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._d = d

    @property
    def needs_input(self) -> bool:  # type: ignore[override]
        return bool(self._d.needs_input) and not self._d.eof

    @property
    def eof(self) -> bool:  # type: ignore[override]
        return bool(self._d.eof)

    def decompress(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        if self._d.eof:
            return b"", b""
        try:
            return self._d.decompress(data, max_length), b""
        except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise ArchiveError(f"damaged compressed data: {exc}", code="corrupt_member") from exc


def _lzma_decompressor(head: bytes, more: object) -> lzma.LZMADecompressor:
    """Zip's LZMA data starts with a version (2 bytes), the properties' size (2) and LZMA1 properties."""
    if len(head) < 4:
        raise ArchiveError("LZMA member cut short", code="corrupt_member")
    (props_len,) = struct.unpack_from("<H", head, 2)
    props = more(props_len)  # type: ignore[operator]
    if props_len < 5 or len(props) < 5:
        raise ArchiveError("bad LZMA properties", code="corrupt_member")
    lclppb = props[0]
    if lclppb >= 9 * 5 * 5:
        raise ArchiveError("bad LZMA properties", code="corrupt_member")
    pb, rest = divmod(lclppb, 45)
    lp, lc = divmod(rest, 9)
    (dict_size,) = struct.unpack_from("<L", props, 1)
    flt = {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[flt])
