"""The defaults end to end: ``haven bank add`` stores a picture's variants with its entry, and ``haven
match`` finds a cropped, rotated or framed copy as that entry (``bank_variant`` says through which),
which plain PDQ misses; switching the entry off switches its variants off too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from haven.eval.transforms import BY_NAME
from haven_cli import env, run
from haven_testdata import PHOTOS

PHOTO = PHOTOS / "0005.jpg"


def picture(tmp_path: Path) -> Path:
    """The photo at 800 px (a quicker hash than its 2,048)."""
    path = tmp_path / "picture.png"
    if not path.exists():
        img = Image.open(PHOTO).convert("RGB")
        img.thumbnail((800, 800))
        img.save(path)
    return path


def copies(tmp_path: Path) -> dict[str, Path]:
    img = Image.open(picture(tmp_path)).convert("RGB")
    out = {}
    for name in ("crop_5", "rotate_4", "pad_20_black"):
        path = tmp_path / f"{name}.png"
        BY_NAME[name].apply(img).save(path)
        out[name] = path
    return out


def matches(*args: str) -> list[dict]:  # type: ignore[type-arg]
    code, out = run("match", "--json", *args)
    assert code in (0, 1), out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [m for r in rows for m in r.get("matches", [])]


@pytest.mark.skipif(not PHOTO.is_file(), reason="no shared photos")
def test_bank_add_stores_variants_and_match_finds_the_entry(env: dict, tmp_path: Path) -> None:
    assert run("bank", "create", "b")[0] == 0
    code, out = run("bank", "add", "b", str(picture(tmp_path)), "--json")
    assert code == 0, out
    pdq = next(json.loads(line) for line in out.splitlines() if '"signal": "pdq"' in line)
    stored = pdq["extra"]["variants"]
    assert any(k.startswith("crop:") for k in stored) and any(k.startswith("rotate:") for k in stored)
    for name, path in copies(tmp_path).items():
        found = [m for m in matches(str(path)) if m["signal"] == "pdq"]
        assert [m["entry_id"] for m in found] == [pdq["id"]], name
        assert found[0].get("bank_variant") or found[0].get("variant"), found[0]
        assert not [m for m in matches("--plain", "--no-dihedral", "--no-upscaled", str(path))
                    if m["signal"] == "pdq" and not m.get("bank_variant")], name
    # An entry switched off by feedback takes its variants with it.
    assert run("bank", "feedback", str(pdq["id"]), "false_positive")[0] == 0
    assert not [m for m in matches(str(copies(tmp_path)["crop_5"])) if m["signal"] == "pdq"]


@pytest.mark.skipif(not PHOTO.is_file(), reason="no shared photos")
def test_no_variants_stores_the_hash_alone(env: dict, tmp_path: Path) -> None:
    assert run("bank", "create", "b")[0] == 0
    code, out = run("bank", "add", "b", str(picture(tmp_path)), "--no-variants", "--json")
    assert code == 0, out
    pdq = next(json.loads(line) for line in out.splitlines() if '"signal": "pdq"' in line)
    assert not (pdq.get("extra") or {}).get("variants")
    assert not [m for m in matches(str(copies(tmp_path)["crop_5"])) if m["signal"] == "pdq"]


CAPTIONED = PHOTOS / "0062.jpg"  # a caption banner moves its whole-picture PDQ 64 bits at 800 px


@pytest.mark.skipif(not CAPTIONED.is_file(), reason="no shared photos")
def test_a_caption_over_the_lower_part_is_found_through_the_untouched_half(env: dict, tmp_path: Path) -> None:
    img = Image.open(CAPTIONED).convert("RGB")
    img.thumbnail((800, 800))
    original, captioned = tmp_path / "original.png", tmp_path / "captioned.png"
    img.save(original)
    BY_NAME["overlay_text"].apply(img).save(captioned)
    assert run("bank", "create", "b")[0] == 0
    code, out = run("bank", "add", "b", str(original), "--json")
    assert code == 0, out
    pdq = next(json.loads(line) for line in out.splitlines() if '"signal": "pdq"' in line)
    assert "half:top" in pdq["extra"]["variants"]
    found = [m for m in matches(str(captioned)) if m["signal"] == "pdq"]
    assert [m["entry_id"] for m in found] == [pdq["id"]]
    assert "half" in (found[0].get("bank_variant") or found[0].get("variant") or ""), found[0]
    assert not [m for m in matches("--plain", "--no-dihedral", "--no-upscaled", str(captioned))
                if m["signal"] == "pdq"]
