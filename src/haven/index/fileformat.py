"""The on-disk index format: one file, a JSON header, then 64-byte-aligned little-endian arrays.

Layout (all integers little-endian)::

    offset 0   magic  b"HAVENIDX"            8 bytes
    offset 8   version                        uint32 (2)
    offset 12  header length H                uint32
    offset 16  header                         H bytes of UTF-8 JSON (see below)
    ...        arrays, each starting at a multiple of 64 bytes, at the offsets the header names
    end - 16   footer: b"HAVENEND" + uint64 total file length (detects truncated files)

The JSON header: ``{"format": "haven-hamming-index", "version": 2, "count": n, "hash_bytes": 32,
"widths": [w0, w1, ...], "meta": {...}, "arrays": {name: {"offset", "dtype", "shape"}}}``. Arrays:
``ids`` (strictly increasing: int64, or uint32 offsets from the header's ``id_base``),
``hashes`` (uint8, n x 32, rows in id order), and per
chunk k ``postings_k`` (uint32, n) plus a bucket table, either ``offsets_k`` (uint32, 2**w_k + 1)
or ``lines_k``: 64-byte lines (dtype uint8, shape (L, 64), or uint16, shape (L, 32)), each
covering B = 60 (uint8) or 30 (uint16) consecutive keys: bytes 0–3 hold a uint32 ``base`` and
then one count per key, ``end[j]`` = rows of the line's keys up to and including key j. So
``offsets_k[key] = base + (end[j-1] if j else 0)`` and ``offsets_k[key+1] = base + end[j]`` with
line = key // B, j = key % B. The rows whose chunk k equals key are
``postings_k[offsets_k[key]:offsets_k[key+1]]``, ascending. Chunk k is the w_k bits of the 256-bit
big-endian hash (bit 0 = most significant bit of byte 0) that follow the sum of the earlier
widths; bits after the last chunk are not indexed. Any reader with NumPy (or C) can map it;
nothing is pickled.

Writes are crash-safe: a temporary file in the same directory, fsync, ``os.replace``, fsync of the
directory. A reader that already mapped the old file keeps its (unlinked) inode.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from haven.errors import FormatError, StorageError
from haven.index import kernel
from haven.index.segment import HASH_BYTES, Segment

MAGIC = b"HAVENIDX"
FOOTER_MAGIC = b"HAVENEND"
#: 2: bucket tables in 64-byte lines (version 1's separate base/rel arrays are no longer read;
#: an index is a cache of its bank, so the matcher rebuilds it, and `haven index build` remakes one).
VERSION = 2
ALIGN = 64
FORMAT_NAME = "haven-hamming-index"


def _align(x: int) -> int:
    return (x + ALIGN - 1) // ALIGN * ALIGN


def write_segment(path: str | os.PathLike[str], seg: Segment, meta: dict[str, Any]) -> None:
    """Atomically write ``seg`` (which must have no dead rows) and ``meta`` to ``path``."""
    path = Path(path)
    arrays: list[tuple[str, np.ndarray]] = [("ids", seg.ids), ("hashes", seg.hashes)]
    for k, (table, post) in enumerate(zip(seg.tables, seg.postings, strict=True)):
        name = "offsets" if kernel.table_form(table) == 0 else "lines"
        arrays += [(f"{name}_{k}", table), (f"postings_{k}", post)]
    # The header names absolute offsets, which depend on the header's own length: grow until stable.
    header_len = 4096
    while True:
        pos = _align(16 + header_len)
        layout: dict[str, dict[str, Any]] = {}
        for name, arr in arrays:
            layout[name] = {"offset": pos, "dtype": arr.dtype.str, "shape": list(arr.shape)}
            pos = _align(pos + arr.nbytes)
        header = {"format": FORMAT_NAME, "version": VERSION, "count": len(seg), "hash_bytes": HASH_BYTES,
                  "widths": list(seg.widths), "id_base": seg.id_base, "meta": meta, "arrays": layout}
        blob = json.dumps(header, sort_keys=True).encode()
        if len(blob) <= header_len:
            break
        header_len = _align(len(blob) * 2)
    total = pos + 16
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<II", VERSION, len(blob)) + blob)
            for name, arr in arrays:
                f.seek(layout[name]["offset"])
                f.write(np.ascontiguousarray(arr).data)
            f.seek(pos)
            f.write(FOOTER_MAGIC + struct.pack("<Q", total))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write index {path}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_segment(path: str | os.PathLike[str]) -> tuple[Segment, dict[str, Any]]:
    """Map ``path`` read-only and return its segment (arrays are views of the mapping) and meta."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 32:
                raise FormatError(f"{path}: not a Haven index (too short)")
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError as exc:
        from haven.errors import NotFoundError

        raise NotFoundError(f"no index at {path}") from exc
    except OSError as exc:
        raise StorageError(f"cannot open index {path}: {exc}") from exc
    if hasattr(mmap, "MADV_WILLNEED"):
        try:  # start reading the file in the background: the first queries fault in fewer pages
            mm.madvise(mmap.MADV_WILLNEED)
        except OSError:
            pass
    buf = np.frombuffer(mm, dtype=np.uint8)
    if bytes(buf[:8]) != MAGIC:
        raise FormatError(f"{path}: not a Haven index (bad magic)")
    version, hlen = struct.unpack("<II", bytes(buf[8:16]))
    if version != VERSION:
        raise FormatError(f"{path}: index format version {version}, this Haven reads version {VERSION}; "
                          "rebuild the index")
    footer = bytes(buf[size - 16:])
    if footer[:8] != FOOTER_MAGIC or struct.unpack("<Q", footer[8:])[0] != size:
        raise FormatError(f"{path}: truncated or damaged index (bad footer)")
    try:
        header = json.loads(bytes(buf[16:16 + hlen]))
    except ValueError as exc:
        raise FormatError(f"{path}: damaged index header") from exc
    if header.get("format") != FORMAT_NAME or header.get("hash_bytes") != HASH_BYTES:
        raise FormatError(f"{path}: not a Haven Hamming index")

    def arr(name: str) -> np.ndarray:
        spec = header["arrays"][name]
        dtype = np.dtype(spec["dtype"])
        shape = tuple(spec["shape"])
        count = int(np.prod(shape)) * dtype.itemsize
        start = spec["offset"]
        if start + count > size - 16:
            raise FormatError(f"{path}: array {name} runs past the end of the file")
        out: np.ndarray = buf[start:start + count].view(dtype).reshape(shape)
        return out

    widths = tuple(int(w) for w in header["widths"])
    tables = []
    for k, w in enumerate(widths):
        table = arr(f"lines_{k}" if f"lines_{k}" in header["arrays"] else f"offsets_{k}")
        _check_table_size(path, k, w, table)
        tables.append(table)
    ids, id_base = arr("ids"), header.get("id_base", 0)
    if (ids.dtype not in (np.int64, np.uint32) or type(id_base) is not int
            or not -(2**63) <= id_base <= 2**63 - 1 - 2**32 or (ids.dtype == np.int64 and id_base)):
        raise FormatError(f"{path}: ids have a bad type or base")
    seg = Segment(ids=ids, hashes=arr("hashes"), widths=widths, tables=tables, id_base=id_base,
                  postings=[arr(f"postings_{k}") for k in range(len(widths))])
    if len(seg.ids) != header["count"] or seg.hashes.shape != (header["count"], HASH_BYTES):
        raise FormatError(f"{path}: array shapes disagree with the header count")
    return seg, dict(header.get("meta") or {})


def _check_table_size(path: str | os.PathLike[str], k: int, width: int, table: np.ndarray) -> None:
    """FormatError unless chunk ``k``'s bucket table has the type and size its width calls for."""
    if not 1 <= width <= 32 or table.nbytes != _table_bytes(table, width):
        raise FormatError(f"{path}: chunk {k} bucket table does not match its width {width}")


def _table_bytes(table: np.ndarray, width: int) -> int:
    """The size a bucket table of this dtype and shape must have for ``width``-bit keys (-1: bad type)."""
    nkeys = 1 << width
    form = kernel.table_form(table)
    if form == 0:
        return (nkeys + 1) * 4 if table.dtype == np.uint32 else -1
    if table.dtype not in (np.uint8, np.uint16) or table.ndim != 2:
        return -1
    return -(-nkeys // kernel.line_keys(table)) * kernel.LINE_BYTES


def verify_segment(seg: Segment, path: str | os.PathLike[str] = "index") -> None:
    """Check a mapped segment's invariants (O(n * chunks)): ids increasing, offsets monotone, postings in
    range.

    ``read_segment`` only bounds-checks the arrays; a crafted file could still hold postings that
    point outside the hash array. Run this on files from elsewhere before searching them.
    """
    n = len(seg.ids)
    if n > 1 and not bool(np.all(seg.ids[1:] > seg.ids[:-1])):
        raise FormatError(f"{path}: ids are not strictly increasing")
    start = 0
    for k, (w, table, post) in enumerate(zip(seg.widths, seg.tables, seg.postings, strict=True)):
        if not 1 <= w <= 32 or start + w > 256:
            raise FormatError(f"{path}: chunk {k} has a bad width {w}")
        start += w
        _check_table_size(path, k, w, table)
        lo, hi = kernel.bucket_bounds(table, w)  # what the kernel will read, key by key
        if lo[0] != 0 or hi[-1] != n or bool(np.any(hi < lo)) or bool(np.any(lo[1:] != hi[:-1])):
            raise FormatError(f"{path}: chunk {k} offsets are not a valid bucket table")
        if len(post) != n or (n and int(post.max()) >= n):
            raise FormatError(f"{path}: chunk {k} postings point outside the index")
