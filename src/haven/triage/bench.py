"""Synthetic seizures with ground truth, for ``haven bench triage`` and the tests.

From benign photos it builds *families*: a distinct base image (a crop window of a photo, in one
of its 8 rotations/flips) and its variants — resized, recompressed, slightly cropped, resized and
recompressed, and renamed exact copies — spread over device folders, zip archives and a zip nested
in a zip. Bases of one photo closer than ``BASE_MIN_DISTANCE`` bits are dropped, so "distinct
image" is well defined, and so are bases with PDQ quality under ``BASE_MIN_QUALITY`` (featureless
crops whose variants fall under PDQ's quality 50 cut-off, which no PDQ matcher compares).
Everything is written under a temporary folder the caller owns.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from haven.hashing import hash_bytes

BASE_SIDE = 320  # default longest side of a base; --base-side changes it (never upscaled past the photo)
BASE_MIN_DISTANCE = 64
BASE_MIN_QUALITY = 80  # variants of a base lose PDQ quality; keep them all well above the 50 cut-off
WINDOWS = [
    (0.0, 0.0, 1.0, 1.0),
    (0.0, 0.0, 0.5, 0.5),
    (0.5, 0.0, 1.0, 0.5),
    (0.0, 0.5, 0.5, 1.0),
    (0.5, 0.5, 1.0, 1.0),
    # More candidates for big --files; bases closer than BASE_MIN_DISTANCE to an earlier one are dropped.
    (0.25, 0.25, 0.75, 0.75),
    (0.0, 0.25, 0.5, 0.75),
    (0.5, 0.25, 1.0, 0.75),
    (0.25, 0.0, 0.75, 0.5),
    (0.25, 0.5, 0.75, 1.0),
]
TRANSPOSE = [
    None,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
]
# (variant name, kind) in family order; "copy" = same bytes as the base under another name.
VARIANTS = [
    ("base", "base"),
    ("resize75", "resize"),
    ("resize60", "resize"),
    ("resize45", "resize"),
    ("q70", "recompress"),
    ("q50", "recompress"),
    ("q30", "recompress"),
    ("crop2", "crop"),
    ("crop4", "crop"),
    ("resize60q50", "resize+recompress"),
    ("copy1", "copy"),
    ("copy2", "copy"),
]
DEVICES = 11  # the average warrant seizes about 11 devices


@dataclass
class TruthFile:
    path: str  # the evidence path string triage will report
    family: int
    variant: str
    kind: str


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _variants(base: Image.Image, base_bytes: bytes) -> Iterator[tuple[str, str, bytes]]:
    w, h = base.size
    for name, kind in VARIANTS:
        if name == "base" or kind == "copy":
            data = base_bytes
        elif name.startswith("resize") and "q" not in name:
            f = int(name[6:]) / 100
            data = _jpeg(base.resize((max(8, int(w * f)), max(8, int(h * f))), Image.Resampling.BILINEAR), 85)
        elif name.startswith("q"):
            data = _jpeg(base, int(name[1:]))
        elif name.startswith("crop"):
            b = int(name[4:]) / 100
            data = _jpeg(base.crop((int(w * b), int(h * b), w - int(w * b), h - int(h * b))), 85)
        else:
            data = _jpeg(base.resize((int(w * 0.6), int(h * 0.6)), Image.Resampling.BILINEAR), 50)
        yield name, kind, data


def _photo_families(args: tuple[str, int, int, list[int], str, int]) -> list[dict[str, Any]]:
    """Worker: write the families of one photo; returns their truth records and base hashes."""
    photo, pidx, n_photos, family_ids, root, side = args
    with Image.open(photo) as src:
        src.draft("RGB", (side * 2, side * 2))
        im = src.convert("RGB")
    im.thumbnail((side * 2, side * 2))  # quadrants then come out near ``side`` (if the photo is that big)
    container = "zip" if pidx % 10 == 3 else ("nested" if pidx % 30 == 7 else "folder")
    device = f"device{pidx % DEVICES:02d}"
    records: list[dict[str, Any]] = []
    bases: list[int] = []
    files: list[tuple[str, bytes]] = []
    slot = 0
    for fam in family_ids:
        while slot < len(WINDOWS) * len(TRANSPOSE):
            win, tr = WINDOWS[slot // len(TRANSPOSE)], TRANSPOSE[slot % len(TRANSPOSE)]
            slot += 1
            W, H = im.size
            base = im.crop((int(win[0] * W), int(win[1] * H), int(win[2] * W), int(win[3] * H)))
            if tr is not None:
                base = base.transpose(tr)
            base.thumbnail((side, side))
            base_bytes = _jpeg(base, 90)
            h = hash_bytes(base_bytes, "base", ("pdq",), fast=True)
            if h.quality["pdq"] < BASE_MIN_QUALITY:
                continue  # featureless (sky, wall): PDQ by design matches no such image, so no truth to test
            pdq = int(h.hashes["pdq"], 16)
            if all(bin(pdq ^ b).count("1") >= BASE_MIN_DISTANCE for b in bases):
                bases.append(pdq)
                break
        else:
            break  # this photo has no more distinct bases
        for name, kind, data in _variants(base, base_bytes):
            folder = f"DCIM/{fam % 97:03d}" if kind != "copy" else f"Downloads/{name}"
            rel = f"{folder}/IMG_{fam:06d}_{name}.jpg" if kind != "copy" else f"{folder}/f{fam:06d}.jpg"
            files.append((rel, data))
            records.append(
                {
                    "rel": rel,
                    "family": fam,
                    "variant": name,
                    "kind": kind,
                    "base": base_bytes if name == "base" else None,
                }
            )
    out = Path(root) / device
    if container == "folder":
        for rel, data in files:
            p = out / f"photo{pidx:03d}" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        prefix = str(out / f"photo{pidx:03d}") + "/"
        for r in records:
            r["path"] = prefix + r["rel"]
    else:
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for rel, data in files:
                zf.writestr(rel, data)
        zpath = out / f"photo{pidx:03d}.zip"
        if container == "zip":
            zpath.write_bytes(buf.getvalue())
            for r in records:
                r["path"] = f"{zpath}!/{r['rel']}"
        else:
            with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as outer:
                outer.writestr("backup/inner.zip", buf.getvalue())
            for r in records:
                r["path"] = f"{zpath}!/backup/inner.zip!/{r['rel']}"
    for r in records:
        del r["rel"]
    return records


def generate_seizure(
    photos: Path, root: Path, n_files: int, *, jobs: int = 0, base_side: int = BASE_SIDE
) -> list[dict[str, Any]]:
    """Write about ``n_files`` files under ``root``; one truth record per file (path, family, variant, kind).

    Bases are at most ``base_side`` pixels on their longest side (smaller when the photo or its
    crop window is smaller: nothing is upscaled). The base's bytes are kept on its record
    (``base``) so a bank can be seeded with originals.
    """
    photo_list = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photo_list:
        raise FileNotFoundError(f"no photos in {photos}")
    families = max(1, -(-n_files // len(VARIANTS)))
    per_photo: list[list[int]] = [[] for _ in photo_list]
    for f in range(families):
        per_photo[f % len(photo_list)].append(f)
    tasks = [
        (str(p), i, len(photo_list), fams, str(root), base_side)
        for i, (p, fams) in enumerate(zip(photo_list, per_photo, strict=True))
        if fams
    ]
    records: list[dict[str, Any]] = []
    workers = jobs or os.cpu_count() or 1
    if workers == 1:
        for t in tasks:
            records.extend(_photo_families(t))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for recs in pool.map(_photo_families, tasks, chunksize=1):
                records.extend(recs)
    return records


def pair_scores(truth: dict[str, int], predicted: dict[str, Any]) -> dict[str, float]:
    """Pairwise precision/recall of a clustering against true clusters (over the paths in ``truth``)."""
    from collections import Counter

    def pairs(counter: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    tp = pairs(Counter((truth[p], predicted[p]) for p in truth))
    pred = pairs(Counter(predicted[p] for p in truth))
    true = pairs(Counter(truth.values()))
    return {
        "precision": tp / pred if pred else 1.0,
        "recall": tp / true if true else 1.0,
        "true_pairs": true,
        "predicted_pairs": pred,
    }


def dump_truth(records: list[dict[str, Any]], path: Path) -> None:
    """Write the ground truth as JSON lines (bases' bytes left out)."""
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({k: v for k, v in r.items() if k != "base"}) + "\n")


def _naive_one(path: str) -> None:
    import hashlib

    import numpy as np
    import pdqhash

    data = Path(path).read_bytes()
    hashlib.md5(data).hexdigest()
    with Image.open(io.BytesIO(data)) as im:
        pdqhash.compute(np.asarray(im.convert("RGB")))


def _spin(seconds: float) -> float:
    """Busy-loop for ``seconds`` of wall time; the CPU seconds this process actually got."""
    import time

    t, c = time.perf_counter(), time.process_time()
    while time.perf_counter() - t < seconds:
        pass
    return time.process_time() - c


def cores_available(jobs: int, seconds: float = 1.0) -> float:
    """How many cores ``jobs`` busy processes get right now (≤ jobs; less on a shared, loaded box).

    The ceiling of any ``jobs``-worker speed-up measured at the same moment."""
    from haven.triage.workers import start_pool

    if jobs == 1:
        return round(_spin(seconds) / seconds, 2)
    pool = start_pool(jobs)
    try:
        pool.submit(_spin, 0.05).result()
        return round(sum(pool.map(_spin, [seconds] * jobs)) / seconds, 2)
    finally:
        pool.shutdown()


def per_file_rates(paths: list[str], jobs: int, rounds: int = 2) -> dict[str, float]:
    """Files/s on the same sample, interleaved rounds, best kept: the naive loop (PIL + pdqhash + MD5,
    sequential) against Haven's per-file work (MD5/SHA-1/SHA-256, type, PDQ, EXIF) sequential (with the
    exact decode; with the fast one: what the exact PDQ costs; with ``--robust``: what the query-side
    values cost), on ``jobs`` threads (the old design, kept for comparison) and on ``jobs`` worker
    processes exactly as triage runs it (``FileWorkers``, batches of 32). The process pool is started and
    warmed up once before the rounds; its start-up time is reported separately (``process_pool_start_s``)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from haven.media.evidence import EvidencePath
    from haven.media.sniff import sniff
    from haven.media.walk import Entry
    from haven.triage.process import Work, process_batch, process_entry
    from haven.triage.workers import FileWorkers

    entries = []
    for p in paths:
        with open(p, "rb") as fh:
            head = fh.read(4096)
        entries.append(Entry(EvidencePath.source(p), sniff(head), os.path.getsize(p), os_path=p))
    batches = [[(e, 0) for e in entries[i : i + 32]] for i in range(0, len(entries), 32)]

    def naive() -> None:
        for p in paths:
            _naive_one(p)

    def haven_seq() -> None:
        for b in batches:
            process_batch(b)  # the exact decode, as triage runs by default

    def haven_seq_fast() -> None:
        for b in batches:
            process_batch(b, Work(fast=True))  # `haven triage --fast`

    def haven_seq_robust() -> None:
        for b in batches:
            process_batch(b, Work(robust=True))  # `haven triage --robust`: what the query-side values cost

    def haven_threads() -> None:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda e: process_entry(e, 0), entries))

    best: dict[str, float] = {}
    t = time.perf_counter()
    with FileWorkers(jobs) as workers:  # jobs=1: in this process, like triage -j 1
        workers.result(workers.submit(batches[0][:1]))  # every worker imports on its first task
        best["process_pool_start_s"] = time.perf_counter() - t

        def haven_processes() -> None:
            pend = [workers.submit(b) for b in batches]
            for p in pend:
                workers.result(p)

        cores = [cores_available(jobs)]
        for _ in range(rounds):
            for name, fn in (
                ("naive", naive),
                ("haven_sequential", haven_seq),
                ("haven_sequential_fast", haven_seq_fast),
                ("haven_sequential_robust", haven_seq_robust),
                ("haven_threads", haven_threads),
                ("haven_processes", haven_processes),
            ):
                t = time.perf_counter()
                fn()
                best[name] = max(best.get(name, 0.0), len(paths) / (time.perf_counter() - t))
        cores.append(cores_available(jobs))
    best["cores_before"], best["cores_after"] = cores
    return best


def run_bench(
    photos: Path,
    n_files: int,
    work: Path,
    *,
    jobs: int = 0,
    naive_sample: int = 1000,
    base_side: int = BASE_SIDE,
    exact_decode: bool = True,
    progress: Any = None,
    log: Any = print,
) -> dict[str, Any]:
    """Generate a seizure, seed a bank with a third of the originals, triage it, score it against truth."""
    import time

    from haven.banks.store import BankStore
    from haven.banks.types import EntryIn
    from haven.matching import Matcher
    from haven.store.db import upgrade_database
    from haven.triage.runner import TriageOptions, run_triage

    t0 = time.perf_counter()
    seizure = work / "seizure"
    records = generate_seizure(photos, seizure, n_files, jobs=jobs, base_side=base_side)
    gen_s = time.perf_counter() - t0
    gen_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(seizure) for f in fs)
    side_of = {
        r["family"]: max(Image.open(io.BytesIO(r["base"])).size) for r in records if r["variant"] == "base"
    }
    base_sides = sorted(side_of.values())
    log(f"generated {len(records)} files ({gen_bytes / 2**20:.0f} MiB) in {gen_s:.0f} s under {seizure}")
    upgrade_database(f"sqlite:///{work / 'banks.db'}")
    store = BankStore(f"sqlite:///{work / 'banks.db'}")
    store.create_bank("BENCH_KNOWN", source="haven bench triage (synthetic)")
    known_families = {r["family"] for r in records if r["family"] % 3 == 0}
    entries = []
    for r in records:
        if r["variant"] == "base" and r["family"] in known_families:
            h = hash_bytes(r["base"], "seed", ("pdq", "md5"))
            for signal, value in h.hashes.items():
                entries.append(
                    EntryIn(
                        signal=signal,
                        value=value,
                        category="1",
                        category_scheme="projectvic-us",
                        series=f"BENCH-F{r['family']}",
                        victim_identified=r["family"] % 2 == 0,
                    )
                )
    store.add_entries("BENCH_KNOWN", entries)
    matcher = Matcher(store, load_saved=False, auto_refresh=None)
    out = work / "out"
    t1 = time.perf_counter()
    summary = run_triage(
        [seizure], TriageOptions(out=out, jobs=jobs, fast=not exact_decode), matcher, progress
    )
    triage_s = time.perf_counter() - t1
    rows = _read_results(out / "case.db")
    end = json.loads((out / "run.log").read_text().splitlines()[-1])
    truth = {r["path"]: r for r in records}
    missing = [p for p in truth if p not in rows]
    known = score_known(truth, rows, known_families, side_of)
    # Same case, analysed again without the upscaled look-ups: what they add, measured in this run.
    from haven.triage.analyse import Thresholds, analyse
    from haven.triage.casedb import CaseDB

    db = CaseDB(out / "case.db")
    try:
        plain = analyse(list(db.files()), db.problems(), matcher, Thresholds(upscaled=False))
    finally:
        db.close()
    plain_rows = {f.row.path: {"status": f.status, "near": bool(f.near)} for f in plain.files}
    known_plain = score_known(truth, plain_rows, known_families, side_of)
    # Series: pairwise scores over the files of unknown families.
    unknown_truth = {p: r["family"] for p, r in truth.items() if r["family"] not in known_families}
    predicted = {
        p: (
            ("s", rows[p]["series"])
            if rows.get(p, {}).get("series")
            else ("g", rows.get(p, {}).get("dup_group", p))
        )
        for p in unknown_truth
    }
    series_scores = pair_scores(unknown_truth, predicted)
    no_crop = {p: f for p, f in unknown_truth.items() if truth[p]["kind"] != "crop"}
    series_no_crop = pair_scores(no_crop, predicted)
    sample = [r["path"] for r in records if "!/" not in r["path"]][:: max(1, len(records) // naive_sample)][
        :naive_sample
    ]
    rates = per_file_rates(sample, jobs or os.cpu_count() or 1)
    pool_start = rates.pop("process_pool_start_s")
    cores = (rates.pop("cores_before"), rates.pop("cores_after"))
    naive = rates["naive"]
    rate = len(records) / triage_s
    return {
        "files": len(records),
        "hashing_seconds": end.get("seconds_hashing"),
        "analysis_and_outputs_seconds": end.get("seconds_analysis"),
        "generated_seconds": round(gen_s, 1),
        "triage_seconds": round(triage_s, 1),
        "files_per_second": round(rate, 1),
        "naive_files_per_second": round(naive, 1),
        "naive_sample": len(sample),
        "speedup_vs_naive": round(rate / naive, 2),
        "per_file_rates_on_sample": {k: round(v, 1) for k, v in rates.items()},
        "process_pool_start_seconds": round(pool_start, 2),
        "cores_available_before_after": list(cores),
        "per_file_speedup_sequential": round(rates["haven_sequential"] / naive, 2),
        "fast_decode_speedup": round(rates["haven_sequential_fast"] / rates["haven_sequential"], 2),
        "robust_cost": round(rates["haven_sequential"] / rates["haven_sequential_robust"], 2),
        "per_file_speedup_threads": round(rates["haven_threads"] / naive, 2),
        "per_file_speedup_processes": round(rates["haven_processes"] / naive, 2),
        "process_scaling_vs_sequential": round(rates["haven_processes"] / rates["haven_sequential"], 2),
        "projected_seconds_for_160000": round(160_000 / rate, 0),
        **known,
        "known_via_upscaled_only": sum(
            1
            for p in truth
            if rows.get(p, {}).get("status") == "known" and plain_rows.get(p, {}).get("status") != "known"
        ),
        "without_upscaled": {
            k: known_plain[k]
            for k in (
                "known_precision",
                "known_recall_resize_recompress",
                "known_recall_resized_or_recompressed_only",
                "known_recall_by_variant",
                "known_recall_resize_by_base_side",
                "known_or_near_known_recall_resize_recompress",
            )
        },
        "series_precision": round(series_scores["precision"], 4),
        "series_recall": round(series_scores["recall"], 4),
        "series_recall_without_crops": round(series_no_crop["recall"], 4),
        "series_precision_without_crops": round(series_no_crop["precision"], 4),
        "missing_files": len(missing),
        "summary": summary,
        "jobs": jobs or os.cpu_count(),
        "base_side": base_side,
        "exact_decode": exact_decode,
        "base_longest_side_quartiles": [base_sides[len(base_sides) * q // 4] for q in (0, 1, 2, 3)]
        + [base_sides[-1]],
        "generated_mib": round(gen_bytes / 2**20),
    }


def score_known(
    truth: dict[str, dict[str, Any]],
    rows: dict[str, dict[str, Any]],
    known_families: set[int],
    side_of: dict[int, int],
) -> dict[str, Any]:
    """Known precision (over all files called known) and recall (over files of seeded families), by
    variant kind, by variant, and for resize variants by their base's longest side."""
    by_kind: dict[str, list[int]] = {}
    by_variant: dict[str, list[int]] = {}
    by_side: dict[str, list[int]] = {}
    for p, r in truth.items():
        if r["family"] not in known_families:
            continue
        got = rows.get(p, {})
        hit = got.get("status") == "known"
        by_variant.setdefault(r["variant"], [0, 0])
        by_variant[r["variant"]][0] += hit
        by_variant[r["variant"]][1] += 1
        by_kind.setdefault(r["kind"], [0, 0, 0])
        by_kind[r["kind"]][0] += hit
        by_kind[r["kind"]][1] += 1
        by_kind[r["kind"]][2] += hit or bool(got.get("near"))
        if r["kind"] in ("resize", "resize+recompress"):  # PDQ drifts more on small images
            side = side_of[r["family"]]
            bucket = (
                "<200" if side < 200 else "200-399" if side < 400 else "400-799" if side < 800 else ">=800"
            )
            by_side.setdefault(bucket, [0, 0])
            by_side[bucket][0] += hit
            by_side[bucket][1] += 1
    predicted_known = [p for p, s in rows.items() if s["status"] == "known" and p in truth]
    true_known = sum(1 for p in predicted_known if truth[p]["family"] in known_families)
    rr = [k for k in ("base", "copy", "resize", "recompress", "resize+recompress") if k in by_kind]
    rr_hit = sum(by_kind[k][0] for k in rr)
    rr_all = sum(by_kind[k][1] for k in rr)
    rr_near = sum(by_kind[k][2] for k in rr)
    edited = [k for k in ("resize", "recompress", "resize+recompress") if k in by_kind]  # no base, no copies
    ed_hit, ed_all = sum(by_kind[k][0] for k in edited), sum(by_kind[k][1] for k in edited)
    return {
        "known_precision": round(true_known / len(predicted_known), 4) if predicted_known else None,
        "known_false_positives": len(predicted_known) - true_known,
        "known_recall_resize_recompress": round(rr_hit / rr_all, 4) if rr_all else None,
        "known_recall_resized_or_recompressed_only": round(ed_hit / ed_all, 4) if ed_all else None,
        "known_recall_by_kind": {k: round(v[0] / v[1], 4) for k, v in sorted(by_kind.items())},
        "known_recall_by_variant": {k: round(v[0] / v[1], 4) for k, v in sorted(by_variant.items())},
        "known_recall_resize_by_base_side": {
            k: f"{v[0] / v[1]:.4f} of {v[1]}" for k, v in sorted(by_side.items()) if v[1]
        },
        "known_or_near_known_recall_by_kind": {k: round(v[2] / v[1], 4) for k, v in sorted(by_kind.items())},
        "known_or_near_known_recall_resize_recompress": round(rr_near / rr_all, 4) if rr_all else None,
    }


def _read_results(db: Path) -> dict[str, dict[str, Any]]:
    import sqlite3

    conn = sqlite3.connect(str(db))
    try:
        near = {p for (p,) in conn.execute("SELECT DISTINCT path FROM matches WHERE near = 1")}
        return {
            p: {"status": s, "series": se, "dup_group": g, "near": p in near}
            for p, s, se, g in conn.execute("SELECT path, status, series, dup_group FROM analysis")
        }
    finally:
        conn.close()
