"""Search kernels: multi-index hashing (compiled, ``_mih.c``) and an exact linear scan.

Which one answers a query is decided per segment and threshold by a small cost model, so every
threshold is exact: multi-index hashing is exact for any t by the (refined) pigeonhole principle
as long as each chunk is probed at its full radius, and when that would touch more memory than
reading every row, the scan is cheaper and just as exact.
"""

from __future__ import annotations

import functools
import itertools
import mmap
from math import comb
from typing import TYPE_CHECKING

import numpy as np

from haven.index import _numpy_kernel

try:
    from haven.index import _mih
except ImportError:  # pragma: no cover - only when the extension was not built
    _mih = None

if TYPE_CHECKING:
    from haven.index.segment import Segment

#: Segments smaller than this are scanned (tables would cost more than they save).
MIN_TABLE_ROWS = 4096
MIN_WIDTH, MAX_WIDTH = 12, 23
#: Relative cost of touching a candidate row at random vs streaming one row in a scan.
SCAN_ROW_COST = 0.12
#: Relative cost of one bucket probe (an offsets lookup plus a postings range) vs one candidate.
PROBE_COST = 1.5


def choose_widths(n: int) -> tuple[int, ...]:
    """Chunk widths (narrowest first, summing to at most 256) for a segment of ``n`` rows; () = scan only.

    About log2(n) bits per chunk balances probes (fewer, wider chunks) against candidates per
    probe (more, narrower chunks) at t = 31; at 10 M rows 11 chunks of 23 bits measured ~1.5x
    faster than 12 of 21 and ~3x faster than 16 of 16 (docs/index.md). Bits left over are simply
    not indexed: pigeonhole over the covered bits still holds, and verification reads all 256.
    Widths are capped at 23 bits to bound the offsets tables (2**w entries each).
    """
    if n < MIN_TABLE_ROWS or _mih is None:
        return ()
    bits = int(min(MAX_WIDTH, max(MIN_WIDTH, round(float(np.log2(n))))))
    return (bits,) * (256 // bits)


def radii(widths: tuple[int, ...], threshold: int) -> list[int]:
    """Probe radius per chunk (−1 = skip) that guarantees every row within ``threshold`` is a candidate.

    With t = m*r + a, some chunk among the first a+1 is within r bits, or some later chunk within
    r-1 bits (Norouzi et al., TPAMI 2014, Proposition 2); chunks are stored narrowest first.
    """
    m = len(widths)
    r, a = divmod(threshold, m)
    return [r if k <= a else r - 1 for k in range(m)]


@functools.lru_cache(maxsize=64)
def flip_masks(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit mask with at most ``radius`` bits set, fewest bits first."""
    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << b for b in combo) for combo in itertools.combinations(range(width), k))
    arr = np.array(out, dtype=np.uint32)
    arr.setflags(write=False)
    return arr


def probe_cost(n: int, widths: tuple[int, ...], threshold: int) -> float:
    """Estimated cost (in random-candidate units) of a multi-index search."""
    total = 0.0
    for w, r in zip(widths, radii(widths, threshold), strict=True):
        probes = sum(comb(w, i) for i in range(r + 1)) if r >= 0 else 0
        total += probes * (PROBE_COST + n / 2.0**w)
    return total


#: Arrays at least this large are allocated on transparent huge pages where the OS allows it.
HUGE_ARRAY_BYTES = 8 << 20


def empty(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised array; big ones on anonymous memory advised to use huge pages.

    Probes and verification are random accesses over hundreds of MiB: with 4 KiB pages nearly
    every one is also a TLB miss, and 2 MiB pages removed a measured 10–20 % of query time.
    """
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dt.itemsize
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < HUGE_ARRAY_BYTES or advice is None:
        return np.empty(shape, dt)
    # Private, not the default shared mapping: shared anonymous memory is shmem, whose huge pages
    # are governed by shmem_enabled (usually "never"), so MADV_HUGEPAGE would silently do nothing.
    mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        mm.madvise(advice)
    except OSError:
        pass
    return np.frombuffer(mm, dtype=dt, count=nbytes // dt.itemsize).reshape(shape)


#: Compact offsets forms, tried in order: (rel dtype, keys per block); see ``_mih.c``.
COMPACT_FORMS = ((np.uint8, 16), (np.uint16, 64))
COMPACT_MIN_WIDTH = 16


def compact_block(rel: np.ndarray) -> int:
    """Keys per block of a compact offsets array (from its element type)."""
    return {1: 16, 2: 64}[rel.dtype.itemsize]


def build_tables(hashes: np.ndarray, widths: tuple[int, ...]
                 ) -> tuple[list[np.ndarray], list[np.ndarray | None], list[np.ndarray]]:
    """Per chunk: ``(offsets, base, postings)``; ``base`` is None for the full uint32 offsets form.

    The compact forms store a uint32 base per block of keys plus a small per-key offset: uint8
    per 16 keys (a quarter of the memory) when every block holds < 256 rows, else uint16 per 64
    keys (half) when every block holds < 65536 rows, else the full form (heavy clusters).
    """
    assert _mih is not None
    offsets: list[np.ndarray] = []
    bases: list[np.ndarray | None] = []
    postings: list[np.ndarray] = []
    start = 0
    for w in widths:
        off = empty(((1 << w) + 1,), np.uint32)
        post = empty((len(hashes),), np.uint32)
        _mih.build(hashes, start, w, off, post)
        base = None
        if w >= COMPACT_MIN_WIDTH:
            for dtype, block in COMPACT_FORMS:
                b = np.ascontiguousarray(off[::block])
                rel = off - np.repeat(b, block)[: len(off)]
                if int(rel.max()) <= np.iinfo(dtype).max:
                    base = b
                    off = empty((len(off),), dtype)
                    off[...] = rel
                    break
        offsets.append(off)
        bases.append(base)
        postings.append(post)
        start += w
    return offsets, bases, postings


def plan(seg: Segment, threshold: int) -> list[tuple] | None:
    """The probe tables to pass to the kernel for ``threshold``, or None when a scan is cheaper."""
    n = len(seg.ids)
    if not seg.widths or _mih is None or probe_cost(n, seg.widths, threshold) >= SCAN_ROW_COST * n:
        return None
    tables = []
    start = 0
    for w, r, off, base, post in zip(seg.widths, radii(seg.widths, threshold), seg.offsets, seg.bases,
                                     seg.postings, strict=True):
        masks = flip_masks(w, r) if r >= 0 else flip_masks(w, 0)[:0]
        tables.append((off, base, post, start, w, masks))
        start += w
    return tables


def search(seg: Segment, queries: np.ndarray, threshold: int, dead: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts, rows, dists)`` for each query against one segment, exact for every threshold."""
    if _mih is None:
        return _numpy_kernel.scan(seg.hashes, dead, queries, threshold)
    tables = seg.plan(threshold)
    if tables is not None:
        c, r, d = _mih.search(seg.hashes, dead, queries, threshold, tables)
    else:
        c, r, d = _mih.scan(seg.hashes, dead, queries, threshold)
    return np.frombuffer(c, np.int64), np.frombuffer(r, np.uint32), np.frombuffer(d, np.int32)
