"""`haven bench triage` machinery on a tiny seizure: base sizes, and the scores and rates it reports."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from seizure_builder import PHOTOS

from haven.triage.bench import generate_seizure, run_bench


def _base_sides(records: list[dict]) -> list[int]:
    return [max(Image.open(io.BytesIO(r["base"])).size) for r in records if r["variant"] == "base"]


def test_base_side_caps_the_bases_and_never_upscales(tmp_path: Path) -> None:
    small = _base_sides(generate_seizure(PHOTOS, tmp_path / "a", 120, jobs=1, base_side=160))
    default = _base_sides(generate_seizure(PHOTOS, tmp_path / "b", 120, jobs=1))
    large = _base_sides(generate_seizure(PHOTOS, tmp_path / "c", 120, jobs=1, base_side=1024))
    assert small and max(small) <= 160
    assert max(default) <= 320 and max(default) > 160
    assert max(large) > 320 and max(large) <= 1024


def test_run_bench_reports_processes_cores_and_recall_by_base_side(tmp_path: Path) -> None:
    r = run_bench(PHOTOS, 240, tmp_path, jobs=2, naive_sample=24, log=lambda _m: None)
    assert r["files"] >= 200 and r["missing_files"] == 0
    rates = r["per_file_rates_on_sample"]
    assert set(rates) == {
        "naive", "haven_sequential", "haven_sequential_fast", "haven_sequential_robust", "haven_threads",
        "haven_processes",
    }
    assert r["fast_decode_speedup"] > 0  # what the exact PDQ costs, measured on the same sample
    assert r["robust_cost"] > 1  # --robust hashes each image several more times
    assert all(v > 0 for v in rates.values())
    assert len(r["cores_available_before_after"]) == 2
    assert all(0 < c <= 2.2 for c in r["cores_available_before_after"])
    assert r["known_precision"] == 1.0 and r["base_side"] == 320 and r["exact_decode"]
    assert set(r["known_recall_resize_by_base_side"]) <= {"<200", "200-399", "400-799", ">=800"}
    # The same case analysed without the upscaled look-ups: they only ever add known files.
    plain = r["without_upscaled"]
    assert plain["known_recall_resize_recompress"] <= r["known_recall_resize_recompress"]
    assert r["known_via_upscaled_only"] >= 0 and plain["known_precision"] in (None, 1.0)
