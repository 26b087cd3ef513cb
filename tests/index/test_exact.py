"""Exactness: the multi-index search returns exactly the brute-force answer, for every threshold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import brute, flip

from haven.index import HammingIndex, kernel
from haven.index.segment import Segment

THRESHOLDS = [0, 1, 7, 15, 16, 30, 31, 32, 33, 40, 52, 64, 128, 256]


def check(idx: HammingIndex, ids: np.ndarray, hashes: np.ndarray, queries: np.ndarray, ts=THRESHOLDS) -> None:
    dists = [np.unpackbits(hashes ^ q, axis=1).sum(axis=1) for q in queries]  # brute force, once per query
    for t in ts:
        got = idx.query(queries, t)
        for d, (gi, gd) in zip(dists, got, strict=True):
            keep = d <= t
            order = np.lexsort((ids[keep], d[keep]))
            np.testing.assert_array_equal(gi, ids[keep][order], err_msg=f"t={t}")
            np.testing.assert_array_equal(gd, d[keep][order], err_msg=f"t={t}")
            assert gi.dtype == np.int64 and gd.dtype == np.int32


def test_random_and_planted_with_tables() -> None:
    rng = np.random.default_rng(5)
    n = 20_000  # large enough for real tables (default widths)
    ids = rng.choice(10**12, size=n, replace=False).astype(np.int64)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(ids, hashes)
    assert idx.stats()["segments"][0]["widths"], "expected multi-index tables at this size"
    queries = np.stack([flip(hashes[rng.integers(n)], int(rng.integers(0, 60)), rng) for _ in range(30)]
                       + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(5)])
    check(idx, ids, hashes, queries)


def test_adversarial_near_identical_zero_and_boundary(small_tables) -> None:
    rng = np.random.default_rng(6)
    zero = np.zeros(32, np.uint8)
    rows = [zero] * 50  # many identical all-zero hashes: one huge bucket in every table
    rows += [flip(zero, k, rng) for k in range(0, 60) for _ in range(4)]  # a dense ball around zero
    for t in (15, 31, 52):  # exactly t and t+1 bits away, in every chunk-aligned and spread pattern
        rows.append(np.packbits(np.r_[np.ones(t, np.uint8), np.zeros(256 - t, np.uint8)]))
        rows.append(np.packbits(np.r_[np.zeros(256 - t - 1, np.uint8), np.ones(t + 1, np.uint8)]))
        rows.append(flip(zero, t, rng))
        rows.append(flip(zero, t + 1, rng))
    rows.append(np.full(32, 255, np.uint8))
    hashes = np.stack(rows)
    ids = np.arange(len(hashes), dtype=np.int64) * 7 - 100  # negative ids too
    idx = HammingIndex()
    idx.add(ids, hashes)
    assert any(s["widths"] for s in idx.stats()["segments"])
    queries = np.stack([zero, np.full(32, 255, np.uint8), flip(zero, 31, rng), flip(zero, 3, rng)])
    check(idx, ids, hashes, queries)


@pytest.mark.parametrize("widths", [(16,) * 16, (8,) * 32, (21,) * 12, (23,) * 11, (13, 14, 15, 17, 19, 24)])
def test_every_chunk_layout_is_exact_at_its_pigeonhole_limits(widths) -> None:
    """Probe radii come from the refined pigeonhole bound: check t around each radius step."""
    rng = np.random.default_rng(sum(widths))
    centre = rng.integers(0, 256, 32, dtype=np.uint8)
    hashes = np.stack([flip(centre, int(k), rng) for k in rng.integers(0, 70, 3000)])
    ids = np.arange(len(hashes), dtype=np.int64)
    seg = Segment.build(ids, hashes, widths)
    m = len(widths)
    for t in sorted({0, m - 1, m, m + 1, 2 * m - 1, 2 * m, 31, 52}):
        c, got_ids, got_d = seg.query(centre[None, :], t)
        ei, ed = brute(ids, hashes, centre, t)
        order = np.lexsort((got_ids, got_d))
        np.testing.assert_array_equal(got_ids[order], ei, err_msg=f"widths={widths} t={t}")
        np.testing.assert_array_equal(got_d[order], ed)


def test_radii_satisfy_pigeonhole() -> None:
    """If every chunk distance exceeded its radius, the total would exceed t (so some chunk is probed)."""
    for m, t in itertools.product(range(1, 33), range(0, 80)):
        r = kernel.radii((8,) * m, t)
        assert sum(x + 1 for x in r) > t


def test_flip_masks_count_and_order() -> None:
    masks = kernel.flip_masks(10, 2)
    assert len(masks) == 1 + 10 + 45 and len(set(masks.tolist())) == len(masks)
    pops = [bin(x).count("1") for x in masks.tolist()]
    assert pops == sorted(pops) and max(pops) == 2


def check_segment(seg: Segment, ids: np.ndarray, hashes: np.ndarray, queries: np.ndarray, ts) -> None:
    """One segment's grouped answers equal brute force for every query and threshold."""
    for t in ts:
        c, got_ids, got_d = seg.query(queries, t)
        pos = 0
        for qi, q in enumerate(queries):
            gi, gd = got_ids[pos:pos + c[qi]], got_d[pos:pos + c[qi]]
            pos += c[qi]
            ei, ed = brute(ids, hashes, q, t)
            order = np.lexsort((gi, gd))
            np.testing.assert_array_equal(gi[order], ei, err_msg=f"t={t}")
            np.testing.assert_array_equal(gd[order], ed, err_msg=f"t={t}")


@pytest.mark.parametrize("copies,form", [(0, 8), (1000, 16), (70_000, 0)])
def test_every_table_form_is_exact(copies, form) -> None:
    """Heavy buckets (many identical hashes) push tables from uint8 to uint16 lines to full uint32 offsets."""
    rng = np.random.default_rng(copies)
    hashes = rng.integers(0, 256, (20_000 + copies, 32), dtype=np.uint8)
    hashes[:copies] = hashes[-1]
    ids = np.arange(len(hashes), dtype=np.int64)
    seg = Segment.build(ids, hashes, (16,) * 16)
    assert kernel.table_form(seg.tables[0]) == form
    queries = np.stack([hashes[-1], flip(hashes[-1], 9, rng), flip(hashes[5], 20, rng)])
    check_segment(seg, ids, hashes, queries, (0, 9, 31))


@pytest.mark.parametrize("copies", [0, 1000, 70_000])
def test_first_and_last_keys_of_every_table_form(copies) -> None:
    """Keys 0 and 2**w - 1 sit at the start of the first line and in the last, partial line."""
    rng = np.random.default_rng(copies + 1)
    hashes = rng.integers(0, 256, (20_000 + copies, 32), dtype=np.uint8)
    hashes[:copies] = hashes[-1]
    edge = rng.integers(0, 256, (64, 32), dtype=np.uint8)
    edge[:32, :2] = 0x00  # chunk 0 (the first 16 bits) = key 0
    edge[32:, :2] = 0xFF  # chunk 0 = key 65535, in the last line (65536 = 1092 * 60 + 16)
    edge[::2, 2:4] = edge[::2, 0:2]  # and chunk 1 the same, for half of them
    hashes = np.concatenate([hashes, edge])
    ids = np.arange(len(hashes), dtype=np.int64)
    seg = Segment.build(ids, hashes, (16,) * 16)
    queries = np.concatenate([edge[::7], [flip(edge[3], 2, rng), flip(edge[40], 2, rng)]])
    check_segment(seg, ids, hashes, queries, (0, 2, 17, 31))


def test_kernel_refuses_tables_that_disagree_with_their_geometry() -> None:
    """Defence in depth under the file checks: the C kernel re-checks sizes before reading anything."""
    from haven.index import _mih

    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    seg = Segment.build(np.arange(5000, dtype=np.int64), hashes, (16,) * 16)
    table, post, masks = seg.tables[0], seg.postings[0], kernel.flip_masks(16, 1)
    ok = (table, kernel.table_form(table), post, 0, 16, masks)
    _mih.prepare([ok])
    with pytest.raises(ValueError, match="form and width"):
        _mih.prepare([(table, kernel.table_form(table), post, 0, 17, masks)])  # width says 2x the keys
    with pytest.raises(ValueError, match="geometry"):
        _mih.prepare([(table, kernel.table_form(table), post, 250, 16, masks)])  # runs past bit 255
    with pytest.raises(ValueError, match="postings length"):
        _mih.search_plan(hashes[:4000], None, hashes[:1], 31, _mih.prepare([ok]))  # fewer rows than postings
