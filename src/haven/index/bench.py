"""The index benchmark behind ``haven bench index``: Haven vs python-threatexchange vs faiss, same data.

Each contender runs in its own subprocess (so RSS is its own), single-threaded, on data that every
process regenerates from the same seed. The ground truth is faiss ``IndexBinaryFlat`` (an
exhaustive scan, independent of Haven's code) when faiss is installed, else Haven's exact scan.
Peers are imported only here, inside the child process: they are a ``bench`` extra, never a
runtime dependency.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from haven.errors import UsageError

CONTENDERS = ("haven", "pytx", "faiss_flat")
#: Clustered data: this many centres; each hash flips each centre bit with this probability.
CLUSTER_CENTRES = 4096
CLUSTER_FLIP_P = 0.10


@dataclass(frozen=True)
class BenchSpec:
    n: int
    queries: int = 2000
    threshold: int = 31
    data: str = "random"  # or "clustered"
    seed: int = 1234


def make_data(spec: BenchSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes (n, 32), queries (q, 32))``: half the queries are 5–30 bit flips of stored hashes, half
    random."""
    rng = np.random.default_rng(spec.seed)
    if spec.data == "random":
        hashes = rng.integers(0, 256, (spec.n, 32), dtype=np.uint8)
    elif spec.data == "clustered":
        centres = np.unpackbits(rng.integers(0, 256, (CLUSTER_CENTRES, 32), dtype=np.uint8), axis=1)
        hashes = np.empty((spec.n, 32), np.uint8)
        step = 1 << 18
        for lo in range(0, spec.n, step):
            k = min(step, spec.n - lo)
            which = rng.integers(0, CLUSTER_CENTRES, k)
            flips = (rng.random((k, 256)) < CLUSTER_FLIP_P).astype(np.uint8)
            hashes[lo : lo + k] = np.packbits(centres[which] ^ flips, axis=1)
    else:
        raise UsageError(f"unknown --data {spec.data!r} (random or clustered)")
    near = spec.queries // 2
    picks = rng.integers(0, spec.n, near)
    bits = np.unpackbits(hashes[picks], axis=1)
    for row in range(near):
        k = int(rng.integers(5, 31))
        bits[row, rng.choice(256, size=k, replace=False)] ^= 1
    queries = np.concatenate(
        [np.packbits(bits, axis=1), rng.integers(0, 256, (spec.queries - near, 32), dtype=np.uint8)]
    )
    return hashes, queries


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class _Run:
    """One contender's timings and answers (per query: ids and distances)."""

    build: float
    elapsed: float
    cpu: float
    ids: list[np.ndarray]
    dists: list[np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)


def _run_haven(hashes: np.ndarray, queries: np.ndarray, t: int) -> _Run:
    from haven.index import HammingIndex

    t0 = time.perf_counter()
    idx = HammingIndex()
    idx.add(np.arange(len(hashes), dtype=np.int64), hashes)
    idx.optimize()  # place the rows now (add() defers it to the next read)
    build = time.perf_counter() - t0
    res_ids, res_d = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for q in queries:
        i, d = idx.query_one(q.tobytes(), t)
        res_ids.append(i)
        res_d.append(d)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    extra: dict[str, Any] = {}
    t0 = time.perf_counter()
    one = idx.query_flat(queries, t)
    extra["batch_qps"] = len(queries) / (time.perf_counter() - t0)
    # The same batch split over every core (what triage's analysis does), checked equal.
    threads = os.cpu_count() or 1
    t0 = time.perf_counter()
    split = idx.query_flat(queries, t, threads=threads)
    extra["batch_qps_threads"] = len(queries) / (time.perf_counter() - t0)
    extra["batch_threads"] = threads
    extra["batch_threads_same"] = all(np.array_equal(a, b) for a, b in zip(one, split, strict=True))
    extra["layout"] = idx.stats()["segments"]
    return _Run(build, elapsed, cpu, res_ids, res_d, extra)


def _run_pytx(hashes: np.ndarray, queries: np.ndarray, t: int) -> _Run:
    import faiss
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    faiss.omp_set_num_threads(1)

    # PDQIndex's threshold hook, as its PDQFlatIndex subclass uses it.
    class _PDQIndexAtT(PDQIndex):  # type: ignore[type-arg]
        @classmethod
        def get_match_threshold(cls) -> int:
            return t

    # pytx keeps these (hex, entry) pairs as its id map, so they count as its memory.
    hx = hashes.tobytes().hex()
    entries = [(hx[64 * i : 64 * i + 64], i) for i in range(len(hashes))]
    del hx
    t0 = time.perf_counter()
    pytx_index: Any = _PDQIndexAtT.build(entries)
    build = time.perf_counter() - t0
    del entries
    qhex = [q.tobytes().hex() for q in queries]
    res_ids, res_d = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for qh in qhex:
        matches = pytx_index.query(qh)
        res_ids.append(np.array([m.metadata for m in matches], np.int64))
        res_d.append(np.array([m.similarity_info.distance for m in matches], np.int32))
    return _Run(build, time.perf_counter() - t0, time.process_time() - c0, res_ids, res_d)


def _run_faiss_flat(hashes: np.ndarray, queries: np.ndarray, t: int) -> _Run:
    import faiss

    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    flat: Any = faiss.IndexBinaryFlat(256)
    flat.add(hashes)
    build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    lims, dist, labels = flat.range_search(queries, t + 1)  # faiss keeps distance < radius
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    res_ids = [labels[lims[k] : lims[k + 1]].astype(np.int64) for k in range(len(queries))]
    res_d = [dist[lims[k] : lims[k + 1]].astype(np.int32) for k in range(len(queries))]
    return _Run(build, elapsed, cpu, res_ids, res_d)


def _run_haven_scan(hashes: np.ndarray, queries: np.ndarray, t: int) -> _Run:
    from haven.index import _mih

    t0, c0 = time.perf_counter(), time.process_time()
    cb, rb, db = _mih.scan(hashes, None, queries, t)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    counts = np.frombuffer(cb, np.int64)
    rows = np.frombuffer(rb, np.uint32).astype(np.int64)
    dd = np.frombuffer(db, np.int32)
    bounds = np.cumsum(counts)[:-1]
    return _Run(0.0, elapsed, cpu, list(np.split(rows, bounds)), list(np.split(dd, bounds)))


_RUNNERS: dict[str, Callable[[np.ndarray, np.ndarray, int], _Run]] = {
    "haven": _run_haven, "pytx": _run_pytx, "faiss_flat": _run_faiss_flat, "haven_scan": _run_haven_scan,
}


def run_contender(name: str, spec: BenchSpec, out_path: str) -> dict[str, Any]:
    """Build and query one contender in this process; write its results to ``out_path`` (npz)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if name not in _RUNNERS:
        raise UsageError(f"unknown contender {name!r}")
    hashes, queries = make_data(spec)
    base_rss = _rss_mib()
    run = _RUNNERS[name](hashes, queries, spec.threshold)
    # Growth from just after the data was generated: the index's own structures (input arrays not freed).
    rss = _rss_mib() - base_rss
    np.savez(
        out_path,
        counts=np.array([len(x) for x in run.ids], np.int64),
        ids=np.concatenate(run.ids) if run.ids else np.zeros(0, np.int64),
        dists=np.concatenate(run.dists) if run.dists else np.zeros(0, np.int32),
    )
    # qps is wall-clock; qps_cpu divides by the process's CPU time instead, which is the fairer
    # single-thread figure on a shared machine where the process is often descheduled.
    return {
        "name": name,
        "build_s": run.build,
        "qps": len(queries) / run.elapsed,
        "qps_cpu": len(queries) / run.cpu,
        "rss_mib": rss,
        "peak_rss_mib": _hwm_mib(),
        **run.extra,
    }


def _load(path: str) -> list[dict[int, int]]:
    z = np.load(path)
    out, pos = [], 0
    for c in z["counts"].tolist():
        out.append(
            dict(zip(z["ids"][pos : pos + c].tolist(), z["dists"][pos : pos + c].tolist(), strict=True))
        )
        pos += c
    return out


def _score(got: list[dict[int, int]], truth: list[dict[int, int]]) -> tuple[float, int]:
    """``(recall, wrong)``: share of true (id, distance) pairs found, and count of reported pairs not true."""
    total = sum(len(t) for t in truth)
    found = sum(sum(1 for i, d in t.items() if g.get(i) == d) for g, t in zip(got, truth, strict=True))
    wrong = sum(sum(1 for i, d in g.items() if t.get(i) != d) for g, t in zip(got, truth, strict=True))
    return (found / total if total else 1.0), wrong


def available(name: str) -> bool:
    """Whether a peer's package is importable (checked without importing it here)."""
    import importlib.util

    mod = {"pytx": "threatexchange", "faiss_flat": "faiss"}.get(name)
    return mod is None or importlib.util.find_spec(mod) is not None


def run_bench(spec: BenchSpec, contenders: tuple[str, ...] = CONTENDERS,
              log: Callable[[str], object] | None = None) -> dict[str, Any]:
    """Run every available contender in its own subprocess and compare them against the truth."""
    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, str] = {}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="haven-bench-index-") as tmp:
        names = [c for c in contenders if available(c)]
        skipped = [c for c in contenders if c not in names]
        truth_name = "faiss_flat" if "faiss_flat" in names else "haven_scan"
        if truth_name not in names:
            names.append(truth_name)
        for name in names:
            if log:
                log(f"running {name} …")
            out = str(Path(tmp) / f"{name}.npz")
            code = (
                "import json,sys; from haven.index.bench import BenchSpec, run_contender; "
                "a=json.loads(sys.argv[1]); "
                "print(json.dumps(run_contender(a['name'], BenchSpec(**a['spec']), a['out'])))"
            )
            arg = json.dumps({"name": name, "spec": spec.__dict__, "out": out})
            env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            proc = subprocess.run(
                [sys.executable, "-X", "faulthandler", "-c", code, arg],
                capture_output=True,
                text=True,
                env=env,
            )
            if proc.returncode != 0:
                if name in ("haven", truth_name):
                    raise RuntimeError(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
                # A peer that crashes is reported, not hidden: the rest of the run still compares.
                failed[name] = f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''}"
                if log:
                    log(f"  {name} FAILED ({failed[name]})")
                continue
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
            outputs[name] = out
            if log:
                r = results[name]
                log(
                    f"  {name}: build {r['build_s']:.1f} s, {r['qps']:.0f} queries/s, +{r['rss_mib']:.0f} MiB"
                )
        truth = _load(outputs[truth_name])
        for name in results:
            rec, wrong = _score(_load(outputs[name]), truth)
            results[name]["recall"] = rec
            results[name]["wrong"] = wrong
    summary: dict[str, Any] = {
        "n": spec.n,
        "queries": spec.queries,
        "threshold": spec.threshold,
        "data": spec.data,
        "seed": spec.seed,
        "truth": truth_name,
        "true_pairs": sum(len(t) for t in truth),
        "skipped": skipped,
        "failed": failed,
        "contenders": results,
    }
    h = results["haven"]
    summary.update(
        haven_qps=h["qps"],
        haven_qps_cpu=h["qps_cpu"],
        haven_batch_qps=h.get("batch_qps"),
        haven_batch_qps_threads=h.get("batch_qps_threads"),
        haven_batch_threads=h.get("batch_threads"),
        haven_batch_threads_same=h.get("batch_threads_same"),
        haven_recall=h["recall"],
        haven_rss_mib=h["rss_mib"],
        haven_build_s=h["build_s"],
    )
    if "pytx" in results:
        summary.update(
            pytx_qps=results["pytx"]["qps"],
            ratio_vs_pytx=h["qps"] / results["pytx"]["qps"],
            pytx_qps_cpu=results["pytx"]["qps_cpu"],
            ratio_vs_pytx_cpu=h["qps_cpu"] / results["pytx"]["qps_cpu"],
            pytx_recall=results["pytx"]["recall"],
            pytx_rss_mib=results["pytx"]["rss_mib"],
        )
    else:
        summary.update(pytx_qps=None, ratio_vs_pytx=None)
    if "faiss_flat" in results:
        summary.update(
            faiss_flat_qps=results["faiss_flat"]["qps"],
            ratio_vs_faiss_flat=h["qps"] / results["faiss_flat"]["qps"],
            ratio_vs_faiss_flat_cpu=h["qps_cpu"] / results["faiss_flat"]["qps_cpu"],
        )
    return summary
