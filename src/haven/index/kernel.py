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
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from haven.index import _numpy_kernel

_mih: ModuleType | None
try:
    from haven.index import _mih
except ImportError:  # pragma: no cover - only when the extension was not built
    _mih = None

if TYPE_CHECKING:
    from haven.index.segment import Segment

#: Segments smaller than this are scanned (tables would cost more than they save).
MIN_TABLE_ROWS = 4096
#: Chunk widths considered. 25 bits caps a line table at 36 MB; 26-bit chunks measured no faster at 100 M.
MIN_WIDTH, MAX_WIDTH = 12, 25
#: Relative cost of touching a candidate row at random vs streaming one row in a scan.
SCAN_ROW_COST = 0.12
#: Relative cost of one bucket probe (a line-table lookup plus a postings range) vs one candidate.
#: Calibrated from 100 M rows, where 10 chunks of 25 bits (7,860 probes, ~23,400 candidates per
#: query) ran 1.25x faster than 11 of 23 (2,794 probes, ~33,300 candidates): docs/index.md.
PROBE_COST = 0.6
#: The threshold the layout is tuned for (PDQ's usual match threshold); every other t stays exact.
DESIGN_THRESHOLD = 31


def choose_widths(n: int) -> tuple[int, ...]:
    """Chunk widths (summing to at most 256) for a segment of ``n`` rows; () = scan only.

    Each width w gives 256 // w chunks; the one with the lowest estimated cost at t = 31 wins
    (wide chunks: fewer rows per bucket but many more probes at the larger radius). Widths are
    kept to at most one bit above log2(n), so a table never has more than about two keys per row.
    At 10 M rows this picks 11 chunks of 23 bits, at 100 M 10 of 25. Bits left over are simply
    not indexed: pigeonhole over the covered bits still holds, and verification reads all 256.
    """
    if n < MIN_TABLE_ROWS or _mih is None:
        return ()
    top = int(min(MAX_WIDTH, max(MIN_WIDTH, int(np.log2(n)) + 1)))
    options = [(w,) * (256 // w) for w in range(MIN_WIDTH, top + 1)]
    return min(options, key=lambda ws: probe_cost(n, ws, DESIGN_THRESHOLD))



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
    """An uninitialised 64-byte-aligned array; big ones on anonymous memory advised to use huge pages.

    Probes and verification are random accesses over hundreds of MiB: with 4 KiB pages nearly
    every one is also a TLB miss. (Huge pages have applied only since the private mapping below;
    with the line tables that came at the same time, the 10 M benchmark went from 2,240 to
    4,353 queries/s. Their share alone was not measured.)
    """
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dt.itemsize
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < HUGE_ARRAY_BYTES or advice is None:
        # 64-byte aligned, so a bucket line never straddles two cache lines.
        raw = np.empty(nbytes + 64, np.uint8)
        skip = (-raw.ctypes.data) % 64
        return raw[skip:skip + nbytes].view(dt).reshape(shape)
    # Private, not the default shared mapping: shared anonymous memory is shmem, whose huge pages
    # are governed by shmem_enabled (usually "never"), so MADV_HUGEPAGE would silently do nothing.
    mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        mm.madvise(advice)
    except OSError:
        pass
    return np.frombuffer(mm, dtype=dt, count=nbytes // dt.itemsize).reshape(shape)


#: Bucket-table forms (see ``_mih.c``): 64-byte lines of a uint32 base plus per-key cumulative
#: counts, tried in order (uint8 counts for 60 keys, then uint16 for 30), else full uint32 offsets.
LINE_BYTES = 64
LINE_FORMS = ((np.uint8, 60), (np.uint16, 30))
#: Narrower chunks (small segments) keep the full form: their tables are small anyway.
LINE_MIN_WIDTH = 16
#: Keys converted per step when packing lines (bounds the temporary memory at wide chunks).
_PACK_KEYS = 1 << 20


def table_form(table: np.ndarray) -> int:
    """The kernel's form code of a bucket table: 0 full offsets, 8 or 16 lines of uint8/uint16 counts."""
    if table.ndim == 1:
        return 0
    return 8 * table.dtype.itemsize


def line_keys(table: np.ndarray) -> int:
    """Keys per line of a line-form table."""
    return (LINE_BYTES - 4) // table.dtype.itemsize


def pack_lines(offsets: np.ndarray) -> np.ndarray | None:
    """Full CSR offsets (uint32, 2**w + 1) → the smallest line form that holds them, or None."""
    nkeys = len(offsets) - 1
    for dtype, per in LINE_FORMS:
        nb = -(-nkeys // per)
        lines = empty((nb, LINE_BYTES), np.uint8)
        ok = True
        step = max(1, _PACK_KEYS // per)
        for b0 in range(0, nb, step):
            b1 = min(nb, b0 + step)
            base = offsets[b0 * per: b1 * per: per].astype(np.int64)
            ends = np.full((b1 - b0) * per, int(offsets[-1]), np.int64)
            got = offsets[b0 * per + 1: min(b1 * per, nkeys) + 1]
            ends[: len(got)] = got
            rel = ends.reshape(b1 - b0, per) - base[:, None]
            if int(rel.max()) > np.iinfo(dtype).max:
                ok = False
                break
            lines[b0:b1, :4] = base.astype("<u4").view(np.uint8).reshape(-1, 4)
            little = rel.astype(np.dtype(dtype).newbyteorder("<"))
            lines[b0:b1, 4:] = little.view(np.uint8).reshape(-1, LINE_BYTES - 4)
        if ok:
            return lines.view(dtype)
    return None


def bucket_bounds(table: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` int64 per key, read exactly as the kernel reads them (for verification)."""
    nkeys = 1 << width
    if table_form(table) == 0:
        full = table.astype(np.int64)
        return full[:-1], full[1:]
    raw = table.view(np.uint8)
    base = raw[:, :4].copy().view("<u4").astype(np.int64)  # (nb, 1)
    rel = raw[:, 4:].copy().view(np.dtype(table.dtype).newbyteorder("<")).astype(np.int64)  # (nb, per)
    hi = (base + rel).reshape(-1)[:nkeys]
    prev = np.concatenate([np.zeros((len(rel), 1), np.int64), rel[:, :-1]], axis=1)
    lo = (base + prev).reshape(-1)[:nkeys]
    return lo, hi


def build_tables(hashes: np.ndarray, widths: tuple[int, ...]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per chunk: ``(table, postings)``; the table in line form where it fits, else full offsets.

    Line forms need every line's rows to fit its count type; heavy clusters of identical chunks
    push a table to uint16 counts and then to the full uint32 form.
    """
    assert _mih is not None
    tables: list[np.ndarray] = []
    postings: list[np.ndarray] = []
    start = 0
    for w in widths:
        off = empty(((1 << w) + 1,), np.uint32)
        post = empty((len(hashes),), np.uint32)
        _mih.build(hashes, start, w, off, post)
        lines = pack_lines(off) if w >= LINE_MIN_WIDTH else None
        tables.append(off if lines is None else lines)
        postings.append(post)
        start += w
    return tables, postings


def plan(seg: Segment, threshold: int) -> object | None:
    """The kernel's prepared probe tables for ``threshold`` (an opaque capsule), or None when a scan is
    cheaper.

    The capsule keeps buffers on the segment's arrays, so each query skips re-taking them.
    """
    n = len(seg.ids)
    if not seg.widths or _mih is None or probe_cost(n, seg.widths, threshold) >= SCAN_ROW_COST * n:
        return None
    tables = []
    start = 0
    for w, r, table, post in zip(
        seg.widths, radii(seg.widths, threshold), seg.tables, seg.postings, strict=True
    ):
        masks = flip_masks(w, r) if r >= 0 else flip_masks(w, 0)[:0]
        tables.append((table, table_form(table), post, start, w, masks))
        start += w
    prepared: object = _mih.prepare(tables)
    return prepared


def search(
    seg: Segment, queries: np.ndarray, threshold: int, dead: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts, rows, dists)`` for each query against one segment, exact for every threshold."""
    if _mih is None:
        return _numpy_kernel.scan(seg.hashes, dead, queries, threshold)
    prepared = seg.plan(threshold)
    if prepared is not None:
        c, r, d = _mih.search_plan(seg.hashes, dead, queries, threshold, prepared)
    else:
        c, r, d = _mih.scan(seg.hashes, dead, queries, threshold)
    return np.frombuffer(c, np.int64), np.frombuffer(r, np.uint32), np.frombuffer(d, np.int32)
