"""Persistence: documented layout, crash-safe saves, overlays on a mapped file, concurrent readers."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import brute

from haven.errors import FormatError, StorageError
from haven.index import HammingIndex, fileformat


def make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(n, dtype=np.int64), rng.integers(0, 256, (n, 32), dtype=np.uint8)


@pytest.mark.parametrize("n", [300, 70_000])  # full uint32 offsets (12-bit chunks) and line form (16-bit)
def test_layout_is_readable_with_plain_numpy(tmp_path, small_tables, n) -> None:
    """A reader that knows only the documented layout finds ids, hashes and a consistent CSR table."""
    ids, hashes = make(n)
    idx = HammingIndex()
    idx.add(ids[::-1].copy(), hashes[::-1].copy())
    idx.meta["seq"] = 7
    path = tmp_path / "x.hidx"
    idx.save(path)
    raw = path.read_bytes()
    assert raw[:8] == b"HAVENIDX" and raw[-16:-8] == b"HAVENEND"
    assert struct.unpack("<Q", raw[-8:])[0] == len(raw)
    version, hlen = struct.unpack("<II", raw[8:16])
    header = json.loads(raw[16:16 + hlen])
    assert version == 2 and header["count"] == n and header["meta"] == {"seq": 7}

    def arr(name):
        spec = header["arrays"][name]
        assert spec["offset"] % 64 == 0
        return np.frombuffer(
            raw, np.dtype(spec["dtype"]), int(np.prod(spec["shape"])), spec["offset"]
        ).reshape(spec["shape"])

    np.testing.assert_array_equal(arr("ids"), ids)  # stored in id order
    np.testing.assert_array_equal(arr("hashes"), hashes)
    widths = header["widths"]
    assert widths and sum(widths) <= 256
    k = len(widths) - 1  # the last chunk: exercises the start-bit arithmetic
    if f"offsets_{k}" in header["arrays"]:
        off = arr(f"offsets_{k}")
    else:
        # Documented: 64-byte lines, a uint32 base then per-key cumulative counts (60 uint8 or 30 uint16).
        lines = arr(f"lines_{k}")
        raw_lines = lines.view(np.uint8)
        base = raw_lines[:, :4].copy().view("<u4").astype(np.int64)
        ends = raw_lines[:, 4:].copy().view(lines.dtype.newbyteorder("<")).astype(np.int64) + base
        off = np.concatenate([[0], ends.reshape(-1)[: 1 << widths[k]]])
        assert np.all(base[1:, 0] == ends[:-1, -1])  # each line starts where the previous one ended
    assert ("lines_0" in header["arrays"]) == (n > 1000)
    post = arr(f"postings_{k}")
    w, start = widths[k], sum(widths[:k])
    keys = (
        np.unpackbits(hashes, axis=1)[:, start : start + w]
        .astype(np.int64)
        .dot(1 << np.arange(w - 1, -1, -1))
    )
    assert off[0] == 0 and off[-1] == n
    for key in np.unique(keys)[:50]:
        np.testing.assert_array_equal(post[off[key] : off[key + 1]], np.flatnonzero(keys == key))


def test_overlay_on_mapped_index_and_fold_at_save(tmp_path, small_tables) -> None:
    ids, hashes = make(500, 1)
    idx = HammingIndex()
    idx.add(ids, hashes)
    path = tmp_path / "a.hidx"
    idx.save(path)
    ro = HammingIndex.open(path, writable=True)
    ro.remove(np.arange(0, 500, 3))
    new_ids = np.arange(1000, 1200, dtype=np.int64)
    new_h = np.random.default_rng(9).integers(0, 256, (200, 32), dtype=np.uint8)
    ro.add(new_ids, new_h)
    ro.add(np.array([1]), new_h[:1])  # replace a mapped row's hash
    keep = np.ones(500, bool)
    keep[::3] = False
    keep[1] = False
    all_ids = np.r_[ids[keep], new_ids, 1]
    all_h = np.r_[hashes[keep], new_h, new_h[:1]]
    for q in (hashes[2], new_h[0], new_h[5]):
        for t in (0, 31, 100):
            ei, ed = brute(all_ids, all_h, q, t)
            gi, gd = ro.query_one(q.tobytes(), t)
            np.testing.assert_array_equal(np.sort(gi), np.sort(ei))
            np.testing.assert_array_equal(gd, ed)
    ro.save()  # folds the overlay into the same path
    again = HammingIndex.open(path)
    assert len(again) == len(all_ids) == len(ro)
    np.testing.assert_array_equal(again.ids(), np.sort(all_ids))
    np.testing.assert_array_equal(again.get([1]), new_h[:1])


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch) -> None:
    ids, hashes = make(100, 2)
    path = tmp_path / "i.hidx"
    idx = HammingIndex()
    idx.add(ids, hashes)
    idx.save(path)
    before = path.read_bytes()
    idx.add(np.array([500]), hashes[:1])

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(fileformat.os, "replace", boom)
    with pytest.raises((OSError, StorageError)):
        idx.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["i.hidx"]  # temp file cleaned up
    assert len(HammingIndex.open(path)) == 100


def test_kill_9_mid_save_leaves_previous_state_readable(tmp_path) -> None:
    """A child process is SIGKILLed while writing a large index over an existing one."""
    path = tmp_path / "k.hidx"
    ids, hashes = make(1000, 3)
    idx = HammingIndex()
    idx.add(ids, hashes)
    idx.save(path)
    code = f"""
import numpy as np, sys
from haven.index import HammingIndex, fileformat
real_write = fileformat.os.fsync
def slow_fsync(fd):
    sys.stdout.write("writing\\n"); sys.stdout.flush()
    import time; time.sleep(60)
fileformat.os.fsync = slow_fsync
idx = HammingIndex()
rng = np.random.default_rng(4)
idx.add(np.arange(200_000), rng.integers(0, 256, (200_000, 32), dtype=np.uint8))
idx.save({str(path)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"  # the temp file is written, not yet renamed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    back = HammingIndex.open(path)
    assert len(back) == 1000
    np.testing.assert_array_equal(back.get([5]), hashes[5:6])
    # The half-written temp file is left behind but never mistaken for the index.
    leftovers = [p for p in tmp_path.iterdir() if p.name != "k.hidx"]
    assert all(p.name.startswith(".k.hidx.tmp-") for p in leftovers)


def test_truncated_or_corrupt_files_are_refused(tmp_path) -> None:
    ids, hashes = make(50, 5)
    idx = HammingIndex()
    idx.add(ids, hashes)
    path = tmp_path / "t.hidx"
    idx.save(path)
    data = path.read_bytes()
    for bad in (data[:100], data[:-1], b"HAVENIDX" + data[8:20], data[:16] + b"X" + data[17:]):
        p = tmp_path / "bad.hidx"
        p.write_bytes(bad)
        with pytest.raises(FormatError):
            HammingIndex.open(p)


def test_threads_query_while_a_writer_adds_and_removes(small_tables) -> None:
    """Readers never see a torn state: every answer is a subset of what was ever added, with true
    distances."""
    rng = np.random.default_rng(8)
    hashes = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    idx = HammingIndex()
    idx.add(np.arange(500), hashes[:500])
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        r = np.random.default_rng(threading.get_ident() % 1000)
        while not stop.is_set():
            k = int(r.integers(3000))
            ids, d = idx.query_one(hashes[k].tobytes(), 40)
            for i, dist in zip(ids.tolist(), d.tolist(), strict=True):
                true = int(np.unpackbits(hashes[i] ^ hashes[k]).sum())
                if true != dist:
                    errors.append(f"id {i}: {dist} != {true}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    for lo in range(500, 3000, 100):
        idx.add(np.arange(lo, lo + 100), hashes[lo : lo + 100])
        idx.remove(np.arange(lo - 500, lo - 450))
    stop.set()
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    expect = np.setdiff1d(
        np.arange(3000), np.concatenate([np.arange(lo - 500, lo - 450) for lo in range(500, 3000, 100)])
    )
    np.testing.assert_array_equal(idx.ids(), expect)
    for k in (0, 2999, 1234):
        ei, _ = brute(expect, hashes[expect], hashes[k], 31)
        np.testing.assert_array_equal(idx.query_one(hashes[k].tobytes())[0], ei)


def test_other_processes_open_while_a_writer_saves(tmp_path) -> None:
    """Processes re-opening the file during repeated saves always get a complete, valid index."""
    path = tmp_path / "c.hidx"
    ids, hashes = make(2000, 6)
    idx = HammingIndex()
    idx.add(ids[:1000], hashes[:1000])
    idx.save(path)
    code = f"""
import time
from haven.index import HammingIndex
seen = set()
end = time.time() + 3
while time.time() < end:
    idx = HammingIndex.open({str(path)!r})
    n = len(idx)
    assert n % 100 == 0 and 1000 <= n <= 2000, n
    assert idx.ids()[-1] == n - 1
    seen.add(n)
print(len(seen))
"""
    readers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    time.sleep(0.5)
    for lo in range(1000, 2000, 100):
        idx.add(ids[lo : lo + 100], hashes[lo : lo + 100])
        idx.save(path)
        time.sleep(0.05)
    for r in readers:
        out, _ = r.communicate(timeout=60)
        assert r.returncode == 0, out
        assert int(out.strip()) >= 1


@pytest.mark.parametrize("n", [300, 70_000])
def test_verify_catches_crafted_tables(tmp_path, small_tables, n) -> None:
    """Files that pass the bounds checks but hold bad table contents are refused by verify=True."""
    ids, hashes = make(n, 12)
    idx = HammingIndex()
    idx.add(ids, hashes)
    path = tmp_path / "v.hidx"
    idx.save(path)
    HammingIndex.open(path, verify=True)  # a genuine file passes
    raw = bytearray(path.read_bytes())
    header = json.loads(raw[16 : 16 + struct.unpack("<I", raw[12:16])[0]])
    post = header["arrays"]["postings_0"]["offset"]
    bad = bytearray(raw)
    bad[post : post + 4] = struct.pack("<I", 10**9)  # a posting far outside the rows
    (tmp_path / "p.hidx").write_bytes(bad)
    HammingIndex.open(tmp_path / "p.hidx")  # bounds checks alone cannot see it ...
    with pytest.raises(FormatError, match="postings"):
        HammingIndex.open(tmp_path / "p.hidx", verify=True)  # ... verify does
    table = "lines_0" if "lines_0" in header["arrays"] else "offsets_0"
    at = header["arrays"][table]["offset"] + 5  # a count in the first line, or the second offset
    bad = bytearray(raw)
    bad[at] = 250  # the bucket now claims rows past its neighbour's start
    (tmp_path / "t.hidx").write_bytes(bad)
    with pytest.raises(FormatError, match="bucket table"):
        HammingIndex.open(tmp_path / "t.hidx", verify=True)
    bad = bytearray(raw)
    ids_off = header["arrays"]["ids"]["offset"]
    bad[ids_off : ids_off + 8] = struct.pack("<q", 10**12)
    (tmp_path / "i.hidx").write_bytes(bad)
    with pytest.raises(FormatError, match="increasing"):
        HammingIndex.open(tmp_path / "i.hidx", verify=True)
