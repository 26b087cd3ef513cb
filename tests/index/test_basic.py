"""HammingIndex API: exactness against brute force, add/replace/remove, persistence round trips."""

from __future__ import annotations

import numpy as np
import pytest

from haven.errors import FormatError, NotFoundError, UsageError
from haven.index import HammingIndex, PdqSignalIndex


def brute(ids: np.ndarray, hashes: np.ndarray, q: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.unpackbits(hashes ^ q, axis=1).sum(axis=1)
    keep = d <= t
    order = np.lexsort((ids[keep], d[keep]))
    return ids[keep][order], d[keep][order].astype(np.int32)


def flip(h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(h)
    pos = rng.choice(256, size=k, replace=False)
    bits[pos] ^= 1
    return np.packbits(bits)


def test_query_matches_brute_force_random_and_planted() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(ids, hashes)
    queries = np.stack([flip(hashes[rng.integers(n)], int(rng.integers(0, 60)), rng) for _ in range(40)]
                       + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(10)])
    for t in (0, 10, 31, 32, 52, 100):
        got = idx.query(queries, t)
        for q, (gi, gd) in zip(queries, got, strict=True):
            ei, ed = brute(ids, hashes, q, t)
            np.testing.assert_array_equal(gi, ei)
            np.testing.assert_array_equal(gd, ed)


def test_add_replaces_and_remove_is_immediate() -> None:
    h = np.zeros((2, 32), np.uint8)
    h[1, 0] = 0xFF
    idx = HammingIndex()
    idx.add(np.array([7, 8]), h)
    assert len(idx) == 2 and 7 in idx and 9 not in idx
    idx.add(np.array([7]), h[1:])  # replace id 7's hash
    ids, d = idx.query_one(bytes(32), 0)
    assert ids.tolist() == [] and len(idx) == 2
    ids, d = idx.query_one(h[1].tobytes(), 0)
    assert ids.tolist() == [7, 8] and d.tolist() == [0, 0]
    idx.remove([8, 12345])
    assert idx.query_one(h[1].tobytes(), 0)[0].tolist() == [7]
    assert idx.ids().tolist() == [7]


def test_save_open_round_trip_with_overlay(tmp_path) -> None:
    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(np.arange(500), hashes)
    idx.meta["seq"] = 42
    path = tmp_path / "pdq.hidx"
    idx.save(path)
    ro = HammingIndex.open(path)
    assert len(ro) == 500 and ro.meta == {"seq": 42}
    ro.remove([3])
    ro.add(np.array([1000]), hashes[4:5])
    assert 3 not in ro and 1000 in ro
    assert ro.query_one(hashes[4].tobytes(), 0)[0].tolist() == [4, 1000]
    with pytest.raises(UsageError):
        ro.save()
    ro.save(tmp_path / "other.hidx")
    again = HammingIndex.open(tmp_path / "other.hidx")
    assert np.array_equal(again.ids(), np.r_[np.arange(3), np.arange(4, 500), 1000])
    np.testing.assert_array_equal(again.get([1000]), hashes[4:5])


def test_open_rejects_missing_and_truncated(tmp_path) -> None:
    with pytest.raises(NotFoundError):
        HammingIndex.open(tmp_path / "nope")
    idx = HammingIndex()
    idx.add(np.arange(10), np.zeros((10, 32), np.uint8))
    idx.save(tmp_path / "a")
    data = (tmp_path / "a").read_bytes()
    (tmp_path / "b").write_bytes(data[:-100])
    with pytest.raises(FormatError):
        HammingIndex.open(tmp_path / "b")
    (tmp_path / "c").write_bytes(b"not an index at all, really not" * 3)
    with pytest.raises(FormatError):
        HammingIndex.open(tmp_path / "c")


def test_pdq_signal_index() -> None:
    a = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    b = "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22"
    s = PdqSignalIndex()
    s.add([1, 2], [a, b])
    assert len(s) == 2
    assert s.query(a, 31) == [(1, 0), (2, 4)]
    s.remove([1])
    assert s.query(a, 31) == [(2, 4)]
    with pytest.raises(FormatError):
        s.add([3], ["zz"])


def test_query_flat_is_query_concatenated() -> None:
    """Across segments, the buffer and tombstones, ``query_flat`` is ``query`` without the split."""
    rng = np.random.default_rng(5)
    hashes = rng.integers(0, 256, (21000, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(np.arange(20000), hashes[:20000])
    len(idx)  # settle: a big add becomes a segment
    idx.add(np.arange(20000, 21000), hashes[20000:])  # a small one after it stays in the buffer
    idx.remove(np.arange(0, 21000, 7))
    assert len(idx._segments) == 1 and idx._buffer.n == 1000
    queries = np.stack([flip(hashes[i], int(rng.integers(0, 40)), rng) for i in rng.integers(0, 21000, 60)])
    for t in (0, 31, 60):
        counts, ids, dists = idx.query_flat(queries, t)
        per_query = idx.query(queries, t)
        assert counts.tolist() == [len(i) for i, _ in per_query]
        np.testing.assert_array_equal(ids, np.concatenate([i for i, _ in per_query]))
        np.testing.assert_array_equal(dists, np.concatenate([d for _, d in per_query]))
    # Split over threads (chunks of at least MIN_THREAD_ROWS): the same answer, in the same order.
    many = np.stack([flip(hashes[i], int(rng.integers(0, 40)), rng) for i in rng.integers(0, 21000, 1500)])
    for t in (31, 48):
        one = idx.query_flat(many, t)
        for threads in (2, 3):
            split = idx.query_flat(many, t, threads=threads)
            for a, b in zip(one, split, strict=True):
                np.testing.assert_array_equal(a, b)
            per_query = idx.query(many, t, threads=threads)
            assert [len(i) for i, _ in per_query] == one[0].tolist()
            np.testing.assert_array_equal(np.concatenate([i for i, _ in per_query]), one[1])
    empty = HammingIndex().query_flat(queries, 31)
    assert empty[0].tolist() == [0] * len(queries) and len(empty[1]) == len(empty[2]) == 0


def test_pdq_hex_to_array_fast_path_is_as_strict_as_the_slow_one() -> None:
    from haven.index import pdq_hex_to_array

    a, b = "ab" * 32, "0f" * 32
    np.testing.assert_array_equal(pdq_hex_to_array([a, b.upper()]), [[0xAB] * 32, [0x0F] * 32])
    # 64 characters each with whitespace, which bytes.fromhex skips: never silently shifted rows.
    for bad in (["ab" * 31 + " a", b], [a, "0f" * 31 + "  "], [a, "zz" * 32], [a, "ab" * 33], [a, 7]):
        with pytest.raises(FormatError, match="64 hex digits"):
            pdq_hex_to_array(bad)  # type: ignore[arg-type]
    assert pdq_hex_to_array([]).shape == (0, 32)
