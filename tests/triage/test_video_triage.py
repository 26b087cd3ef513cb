"""Triage with videos (generated from the shared photos, in a folder and inside a zip): hashed with vPDQ,
known by vPDQ or by MD5, duplicates (the same video re-encoded or resized), a blurred key-frame strip in
the HTML report and never any sound, the video's hashes in the VICS Media records."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from lxml import html as lxml_html
from PIL import Image
from typer.testing import CliRunner

import haven_videos as hv
from haven.banks import BankStore, EntryIn
from haven.cli.main import app
from haven.hashing import hash_file


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("made")
    ev = tmp_path_factory.mktemp("evidence")
    banked = hv.slideshow(d / "banked.mp4", hv.photos(140, 5))
    by_md5 = hv.slideshow(d / "by-md5.mp4", hv.photos(150, 3))
    new = hv.slideshow(d / "new.mp4", hv.photos(160, 5))
    shutil.copy(banked, ev / "a-banked-copy.mp4")
    hv.transcode(banked, ev / "b-clip.mp4", start=2.0, end=8.0, crf=32)
    shutil.copy(by_md5, ev / "c-by-md5.mp4")
    shutil.copy(new, ev / "d-new.mp4")
    hv.transcode(new, ev / "e-new-reencoded.mp4", fps=30, crf=35)
    (ev / "f-broken.mp4").write_bytes(new.read_bytes()[:3000])
    with zipfile.ZipFile(ev / "g-phone.zip", "w") as z:
        z.write(hv.transcode(banked, d / "half.mp4", size=(160, 120)), "DCIM/half.mp4")
    shutil.copy(hv.photos(170, 1)[0], ev / "h-photo.jpg")
    return {"evidence": ev, "banked": banked, "by_md5": by_md5}


@pytest.fixture(scope="module")
def triaged(case: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from haven.store.db import upgrade_database

    tmp = tmp_path_factory.mktemp("triage")
    url = f"sqlite:///{tmp / 'banks.db'}"
    upgrade_database(url)
    with BankStore(url) as store:
        store.create_bank("known-videos")
        store.add_entries(
            "known-videos",
            [
                EntryIn("vpdq", hash_file(case["banked"], ("vpdq",)).hashes["vpdq"], category="A1"),
                EntryIn("md5", hash_file(case["by_md5"], ("md5",)).hashes["md5"], category="B"),
            ],
        )
    out = tmp / "out"
    result = CliRunner().invoke(
        app,
        ["triage", str(case["evidence"]), "--out", str(out), "--json", "--no-progress"],
        env={"HAVEN_DATABASE_URL": url, "HAVEN_DATA_DIR": str(tmp / "data")},
    )
    assert result.exit_code == 0, result.stdout
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "files.csv").open(newline="") as fh:
        return {
            Path(r["path"]).name if "!" not in r["path"] else r["path"].split("!/")[1]: r
            for r in csv.DictReader(fh)
        }


def test_videos_are_hashed_known_and_grouped(triaged: tuple[Path, dict]) -> None:
    out, summary = triaged
    r = rows(out)
    for name in (
        "a-banked-copy.mp4",
        "b-clip.mp4",
        "c-by-md5.mp4",
        "d-new.mp4",
        "e-new-reencoded.mp4",
        "DCIM/half.mp4",
    ):
        assert r[name]["vpdq"].count(";") >= 2, name  # a vPDQ value: frames a second apart
    status = {k: v["status"] for k, v in r.items()}
    assert status["a-banked-copy.mp4"] == status["b-clip.mp4"] == status["DCIM/half.mp4"] == "known"
    assert status["c-by-md5.mp4"] == "known" and r["c-by-md5.mp4"]["banks"] == "known-videos"
    assert status["d-new.mp4"] == status["e-new-reencoded.mp4"] == "unknown"
    assert status["f-broken.mp4"] == "error" and r["f-broken.mp4"]["error_code"] == "not_video"
    assert r["h-photo.jpg"]["pdq"] and not r["h-photo.jpg"]["vpdq"]
    assert r["d-new.mp4"]["dup_group"] == r["e-new-reencoded.mp4"]["dup_group"] != ""
    assert (
        r["a-banked-copy.mp4"]["dup_group"] == r["DCIM/half.mp4"]["dup_group"] == r["b-clip.mp4"]["dup_group"]
    )
    assert r["c-by-md5.mp4"]["dup_group"] != r["d-new.mp4"]["dup_group"]
    assert summary["known"] == 4 and summary["errors"] >= 1


def test_report_shows_blurred_key_frames_and_no_sound(triaged: tuple[Path, dict]) -> None:
    out, _ = triaged
    page = (out / "report.html").read_text()
    doc = lxml_html.fromstring(page)
    assert doc.xpath("//h2[@id='videos']")[0].text == "Videos (7)"
    strips = doc.xpath("//img[@class='strip']")
    assert len(strips) == 6  # every video but the broken one
    for img in strips:
        src = img.get("src")
        assert src.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert im.height <= 48 and im.width <= 4 * 48 + 6  # at most four tiny key frames
    assert not doc.xpath("//audio | //video | //source | //embed | //object")
    text = doc.xpath("//h2[@id='videos']/following-sibling::table[1]")[0].text_content()
    assert "known-videos entry 1 by vpdq" in text and "% of the banked video's" in text


def test_vics_media_carry_the_video_hashes(triaged: tuple[Path, dict], case: dict[str, Path]) -> None:
    out, _ = triaged
    media = json.loads((out / "vics.json").read_text())["value"][0]["Media"]
    banked = hash_file(case["banked"])  # triage decodes in full by default (--fast: the reduced decode)
    (m,) = [m for m in media if m["MD5"] == banked.hashes["md5"].upper()]
    assert m["SHA1"] == banked.hashes["sha1"].upper() and m["IsPrecategorized"] == "true"
    alt = {a["HashName"]: a["HashValue"] for a in m["AlternativeHashes"]}
    assert alt["SHA256"] == banked.hashes["sha256"] and alt["VPDQ"] == banked.hashes["vpdq"]
    assert m["MimeType"] == "video/mp4"
