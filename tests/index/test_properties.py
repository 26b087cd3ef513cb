"""Property tests: any sequence of add/remove/save/reopen behaves like a dict checked by brute force."""

from __future__ import annotations

import numpy as np
from helpers import brute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.index import HammingIndex, hamming, kernel

# Hashes are drawn near a few bases so that queries have neighbours at many distances.
BASES = np.random.default_rng(11).integers(0, 256, (3, 32), dtype=np.uint8)


@st.composite
def a_hash(draw) -> bytes:
    base = BASES[draw(st.integers(0, 2))]
    bits = np.unpackbits(base)
    for b in draw(st.lists(st.integers(0, 255), max_size=40)):
        bits[b] ^= 1
    return np.packbits(bits).tobytes()


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"), st.lists(st.tuples(st.integers(-5, 60), a_hash()), min_size=1, max_size=40)
        ),
        st.tuples(st.just("remove"), st.lists(st.integers(-5, 70), max_size=10)),
        st.tuples(st.just("save"), st.none()),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops, query=a_hash(), threshold=st.sampled_from([0, 5, 20, 31, 32, 52, 90]))
def test_index_matches_dict_model(tmp_path_factory, ops, query, threshold) -> None:
    # Tiny thresholds for tables and the buffer so that merges, tables and scans all take part.
    old = kernel.MIN_TABLE_ROWS, hamming.BUFFER_ROWS
    kernel.MIN_TABLE_ROWS, hamming.BUFFER_ROWS = 8, 16
    try:
        path = tmp_path_factory.mktemp("prop") / "p.hidx"
        idx = HammingIndex()
        model: dict[int, bytes] = {}
        for op, arg in ops:
            if op == "add":
                idx.add(
                    np.array([i for i, _ in arg], np.int64),
                    np.frombuffer(b"".join(h for _, h in arg), np.uint8).reshape(-1, 32),
                )
                for i, h in arg:
                    model[i] = h
            elif op == "remove":
                idx.remove(arg)
                for i in arg:
                    model.pop(i, None)
            else:
                idx.save(path)
                idx = HammingIndex.open(path)
            assert len(idx) == len(model)
        ids = np.array(sorted(model), np.int64)
        np.testing.assert_array_equal(idx.ids(), ids)
        for i in list(model)[:5]:
            assert i in idx and idx.get([i]).tobytes() == model[i]
        assert 10_000 not in idx
        hashes = np.frombuffer(b"".join(model[i] for i in ids), np.uint8).reshape(-1, 32)
        q = np.frombuffer(query, np.uint8)
        ei, ed = brute(ids, hashes, q, threshold)
        gi, gd = idx.query_one(query, threshold)
        np.testing.assert_array_equal(gi, ei)
        np.testing.assert_array_equal(gd, ed)
    finally:
        kernel.MIN_TABLE_ROWS, hamming.BUFFER_ROWS = old
