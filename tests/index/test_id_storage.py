"""Ids are stored as uint32 offsets when they span less than 2**32, else as int64; both behave the same."""

from __future__ import annotations

import numpy as np
import pytest

from haven.index import HammingIndex
from haven.index.segment import Segment


@pytest.mark.parametrize("ids, stored", [
    (np.arange(5000, dtype=np.int64) * 3 + 10**12, np.uint32),  # a big base, a small span
    (np.arange(5000, dtype=np.int64) - 2500, np.uint32),  # negative ids
    (np.concatenate([np.arange(2500), 2**40 + np.arange(2500)]).astype(np.int64), np.int64),  # span > 2**32
    (np.array([-(2**62)] + list(range(4999)), np.int64), np.int64),
])
def test_ids_round_trip_through_query_remove_and_save(tmp_path, small_tables, ids, stored) -> None:
    rng = np.random.default_rng(len(ids))
    hashes = rng.integers(0, 256, (len(ids), 32), dtype=np.uint8)
    order = rng.permutation(len(ids))  # added out of order
    idx = HammingIndex()
    idx.add(ids[order], hashes[order])
    idx.optimize()
    assert idx._segments[0].ids.dtype == stored
    for k in (0, 1234, len(ids) - 1):
        got, dist = idx.query_one(hashes[k].tobytes(), 0)
        assert got.tolist() == [ids[k]] and dist.tolist() == [0]
    np.testing.assert_array_equal(idx.ids(), np.sort(ids))
    # Absent ids just outside the stored range, and far outside it, are not found.
    probes = np.array([ids.min() - 1, ids.max() + 1, 2**62, -(2**61) + 5, ids[7]], np.int64)
    assert [int(i) in idx for i in probes] == [False, False, False, False, True]
    idx.remove([int(ids[7]), int(ids.max()) + 1])
    assert int(ids[7]) not in idx and len(idx) == len(ids) - 1
    np.testing.assert_array_equal(idx.get(ids[8:10]), hashes[8:10])
    idx.save(tmp_path / "i.hidx")
    back = HammingIndex.open(tmp_path / "i.hidx", verify=True)
    assert back._segments[0].ids.dtype == stored
    np.testing.assert_array_equal(back.ids(), np.sort(np.delete(ids, 7)))
    got, _ = back.query_one(hashes[9].tobytes(), 0)
    assert got.tolist() == [ids[9]]


def test_build_keeps_owned_sorted_arrays_without_copying() -> None:
    ids = np.arange(20_000, dtype=np.int64)
    hashes = np.random.default_rng(1).integers(0, 256, (20_000, 32), dtype=np.uint8)
    assert Segment.build(ids, hashes, owned=True).hashes is hashes
    borrowed = Segment.build(ids, hashes)  # not owned: the caller may reuse its array
    assert borrowed.hashes is not hashes
    hashes[0] ^= 0xFF
    assert borrowed.hashes[0, 0] != hashes[0, 0]
