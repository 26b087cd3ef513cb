"""`haven triage --robust` looks images up with `haven match`'s query-side values: a captioned and a
mirrored copy of a banked picture are known, each through the value that found it; by default (``--plain``)
each image is hashed once and they are missed. A cropped copy is known either way: the bank entry holds
crops of the picture (``haven bank add``'s stored variants)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from haven.eval.transforms import BY_NAME
from haven_cli import env, run
from haven_testdata import PHOTOS

PHOTO = PHOTOS / "0062.jpg"
QUERY_SIDE = ("overlay_text", "flip_h")  # found through the query's halves / flips
COPIES = (*QUERY_SIDE, "crop_5")


def triage(sources: Path, out: Path, *flags: str) -> dict[str, dict[str, str]]:
    code, output = run("triage", str(sources), "--out", str(out), "--json", "--no-progress", "-j", "1",
                       *flags)
    assert code == 0, output
    with open(out / "files.csv", newline="", encoding="utf-8") as f:
        return {Path(r["path"]).stem: r for r in csv.DictReader(f)}


@pytest.mark.skipif(not PHOTO.is_file(), reason="no shared photos")
def test_copies_of_a_banked_picture_are_known_with_the_query_side_values(
    env: dict, tmp_path: Path
) -> None:
    img = Image.open(PHOTO).convert("RGB")
    img.thumbnail((800, 800))
    original = tmp_path / "original.png"
    img.save(original)
    seizure = tmp_path / "seizure"
    seizure.mkdir()
    for name in COPIES:
        BY_NAME[name].apply(img).save(seizure / f"{name}.png")
    assert run("bank", "create", "b")[0] == 0
    code, out = run("bank", "add", "b", str(original), "--json")
    assert code == 0, out

    robust = triage(seizure, tmp_path / "robust", "--robust")
    plain = triage(seizure, tmp_path / "plain")
    for name in COPIES:
        assert robust[name]["status"] == "known", (name, robust[name])
        assert "matched through a variant of the picture" in robust[name]["reasons"], robust[name]
    for name in QUERY_SIDE:
        assert plain[name]["status"] == "unknown", (name, plain[name])
    assert plain["crop_5"]["status"] == "known"
    assert "half:" in robust["overlay_text"]["reasons"] and "crop:" in robust["crop_5"]["reasons"]
    summary = json.loads((tmp_path / "robust" / "summary.json").read_text())
    assert summary["known"] == len(COPIES)
