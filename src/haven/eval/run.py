"""``haven eval``'s measurement: every transform of every photo looked up against a bank of the photos,
for every method, through the exact Hamming index (``haven.index.HammingIndex``).

For a method, the bank holds each photo's values (its families: the hash, and the variants the method
stores), each under an index id ``photo × 64 + k``. Each transformed photo's query values are looked up
at the threshold in one batch; a hit on any value of photo i is the pair (query, i). Then, for each
transform:

- **recall**: the share of photos whose transformed copy found its own original;
- **false matches**: the pairs (transformed photo j, bank photo i ≠ j) that matched, over all
  ``n × (n − 1)`` such pairs: the false-match rate;
- **precision** at the corpus size: true pairs / all matched pairs.

The ``original`` row (no transform) gives the false-match rate between the unmodified photos.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from haven.eval.methods import BANK_FAMILIES, METHODS, QUERY_FAMILIES, Method
from haven.eval.transforms import TRANSFORMS, Transform
from haven.index import HammingIndex
from haven.index.signal import pdq_hex_to_array

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
ORIGINAL = Transform("original", "none", "the photo itself (false-match baseline)", lambda im: im)
MAX_VALUES = 64  # values per bank photo (index ids photo × 64 + k)
#: Photos larger than this (longest side) are reduced to it first: what PDQ sees of a picture is a 64×64
#: grid, so the measure barely changes, and the suite runs ~4× faster on 2,048-px photos.
MAX_SIDE = 1024

Values = dict[str, dict[str, str]]  # family → key → pdq


@dataclass
class Row:
    """One (method, transform) result."""

    method: str
    transform: str
    kind: str
    photos: int
    found: int
    false_pairs: int
    pairs: int

    @property
    def recall(self) -> float:
        return self.found / self.photos if self.photos else 0.0

    @property
    def false_match_rate(self) -> float:
        return self.false_pairs / self.pairs if self.pairs else 0.0

    @property
    def precision(self) -> float:
        return self.found / (self.found + self.false_pairs) if self.found + self.false_pairs else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "transform": self.transform, "kind": self.kind, "photos": self.photos,
                "found": self.found, "recall": round(self.recall, 4), "false_pairs": self.false_pairs,
                "pairs": self.pairs, "false_match_rate": self.false_match_rate,
                "precision": round(self.precision, 5)}


@dataclass
class MethodCost:
    method: str
    values_per_entry: float  # bank values per photo (index size relative to plain PDQ: this many ×)
    values_per_query: float  # values looked up per query (direct, then fallbacks where used)
    hash_ms_per_query: float  # CPU ms to compute the query-side values of one transformed photo
    hash_ms_per_entry: float  # CPU ms to compute the bank-side values of one photo
    lookup_us_per_query: float  # index look-up time per query (all its values, one batch)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class EvalResult:
    photos: list[str]
    threshold: int
    rows: list[Row] = field(default_factory=list)
    costs: list[MethodCost] = field(default_factory=list)
    seconds: float = 0.0
    defaults: dict[str, Any] = field(default_factory=dict)
    max_side: int | None = MAX_SIDE

    def row(self, method: str, transform: str) -> Row:
        return next(r for r in self.rows if r.method == method and r.transform == transform)

    def overall_fmr(self, method: str) -> tuple[int, int]:
        """(false pairs, pairs) of ``method`` over every transform, the original included."""
        rows = [r for r in self.rows if r.method == method]
        return sum(r.false_pairs for r in rows), sum(r.pairs for r in rows)

    def to_dict(self) -> dict[str, Any]:
        methods = list(dict.fromkeys(r.method for r in self.rows))
        return {
            "photos": len(self.photos),
            "threshold": self.threshold,
            "max_side": self.max_side,
            "seconds": round(self.seconds, 1),
            "defaults": self.defaults,
            "methods": [{"name": m.name, "description": m.description, "bank": list(m.bank),
                         "query": list(m.query), "fallback": list(m.fallback)}
                        for m in METHODS if m.name in methods],
            "transforms": [{"name": t.name, "kind": t.kind, "description": t.description,
                            "params": t.params} for t in (ORIGINAL, *TRANSFORMS)
                           if any(r.transform == t.name for r in self.rows)],
            "results": [r.to_dict() for r in self.rows],
            "costs": [c.to_dict() for c in self.costs],
            "overall": {m: dict(zip(("false_pairs", "pairs"), self.overall_fmr(m), strict=True))
                        for m in methods},
        }


def photo_files(folder: Path, limit: int | None = None) -> list[Path]:
    """The images in ``folder`` (sorted by name), the first ``limit`` of them. Spread evenly over the
    folder when limited, so a small run sees every source the folder holds."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if limit is not None and limit < len(files):
        step = len(files) / limit
        files = [files[int(k * step)] for k in range(limit)]
    return files


def _families(pixels: np.ndarray, names: Sequence[str],
              table: dict[str, Callable[[np.ndarray], dict[str, str]]], clock: dict[str, float]) -> Values:
    out: Values = {}
    for name in names:
        t0 = time.thread_time()
        out[name] = table[name](pixels)
        clock[name] = clock.get(name, 0.0) + time.thread_time() - t0
    return out


def load_photo(path: Path, max_side: int | None = MAX_SIDE) -> Image.Image:
    """A photo as RGB pixels (as Haven hashes them), reduced to ``max_side`` when larger."""
    with Image.open(path) as im:
        img = im.convert("RGB")
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def _photo_work(path: Path, transforms: Sequence[Transform], bank_fams: Sequence[str],
                query_fams: Sequence[str], max_side: int | None
                ) -> tuple[Values, list[Values], dict[str, float], dict[str, float]]:
    img = load_photo(path, max_side)
    bank_clock: dict[str, float] = {}
    query_clock: dict[str, float] = {}
    bank = _families(np.asarray(img), bank_fams, BANK_FAMILIES, bank_clock)
    queries = [_families(np.ascontiguousarray(np.asarray(t.apply(img))), query_fams, QUERY_FAMILIES,
                         query_clock) for t in transforms]
    return bank, queries, bank_clock, query_clock


def run_eval(
    photos: Sequence[Path],
    *,
    methods: Sequence[Method] = METHODS,
    transforms: Sequence[Transform] = TRANSFORMS,
    threshold: int = 31,
    jobs: int = 2,
    progress: Callable[[int, int], None] | None = None,
    max_side: int | None = MAX_SIDE,
) -> EvalResult:
    """Measure every method on every transform of ``photos`` (see the module docstring)."""
    start = time.monotonic()
    transforms = [ORIGINAL, *[t for t in transforms if t.name != ORIGINAL.name]]
    bank_fams = sorted({f for m in methods for f in m.bank})
    query_fams = sorted({f for m in methods for f in (*m.query, *m.fallback)})
    n = len(photos)
    bank: list[Values] = []
    queries: list[list[Values]] = []  # [photo][transform]
    bank_clock: dict[str, float] = {}
    query_clock: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_photo_work, p, transforms, bank_fams, query_fams, max_side) for p in photos]
        for k, fut in enumerate(futures):
            b, q, bc, qc = fut.result()
            bank.append(b)
            queries.append(q)
            for src, dst in ((bc, bank_clock), (qc, query_clock)):
                for name, s in src.items():
                    dst[name] = dst.get(name, 0.0) + s
            if progress:
                progress(k + 1, n)
    result = EvalResult([str(p) for p in photos], threshold, max_side=max_side)
    for method in methods:
        _measure(method, bank, queries, transforms, threshold, result, bank_clock, query_clock)
    result.seconds = time.monotonic() - start
    return result


def _measure(method: Method, bank: list[Values], queries: list[list[Values]], transforms: Sequence[Transform],
             threshold: int, result: EvalResult, bank_clock: dict[str, float],
             query_clock: dict[str, float]) -> None:
    n, nt = len(bank), len(transforms)
    index = HammingIndex()
    ids: list[int] = []
    values: list[str] = []
    for i, fams in enumerate(bank):
        vals = list(dict.fromkeys(v for f in method.bank for v in fams[f].values()))[:MAX_VALUES]
        ids += [i * MAX_VALUES + k for k in range(len(vals))]
        values += vals
    index.add(np.asarray(ids, np.int64), pdq_hex_to_array(values))

    def lookup(fams: tuple[str, ...], owners_wanted: np.ndarray | None) -> tuple[np.ndarray, int, float]:
        """Matched (owner, photo) pairs as ``owner * n + photo`` codes, values looked up, seconds."""
        owner: list[int] = []
        qvals: list[str] = []
        for j in range(n):
            for t in range(nt):
                o = t * n + j
                if owners_wanted is not None and not owners_wanted[o]:
                    continue
                vals = list(dict.fromkeys(v for f in fams for v in queries[j][t][f].values()))
                owner += [o] * len(vals)
                qvals += vals
        if not qvals:
            return np.zeros(0, np.int64), 0, 0.0
        t0 = time.perf_counter()
        counts, hit_ids, _ = index.query_flat(pdq_hex_to_array(qvals), threshold)
        took = time.perf_counter() - t0
        rows = np.repeat(np.asarray(owner, np.int64), counts)
        return np.unique(rows * n + hit_ids // MAX_VALUES), len(qvals), took

    pairs, looked, took = lookup(method.query, None)
    if method.fallback:
        matched = np.zeros(nt * n, bool)
        matched[pairs // n] = True
        more, looked2, took2 = lookup(method.fallback, ~matched)
        pairs, looked, took = np.union1d(pairs, more), looked + looked2, took + took2
    owner, photo = pairs // n, pairs % n
    t_of, j_of = owner // n, owner % n
    true = j_of == photo
    found = np.bincount(t_of[true], minlength=nt)
    false = np.bincount(t_of[~true], minlength=nt)
    for t, tr in enumerate(transforms):
        result.rows.append(Row(method.name, tr.name, tr.kind, n, int(found[t]), int(false[t]), n * (n - 1)))
    result.costs.append(MethodCost(
        method.name,
        values_per_entry=len(values) / n,
        values_per_query=looked / (n * nt),
        hash_ms_per_query=1000 * sum(query_clock.get(f, 0.0) for f in (*method.query, *method.fallback))
        / (n * nt),
        hash_ms_per_entry=1000 * sum(bank_clock.get(f, 0.0) for f in method.bank) / n,
        lookup_us_per_query=1e6 * took / (n * nt),
    ))
