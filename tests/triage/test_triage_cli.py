"""`haven triage` end to end on a small generated seizure, checked against its ground truth."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from lxml import html as lxml_html
from PIL import Image
from seizure_builder import Seizure
from typer.testing import CliRunner

from haven.banks import BankStore, EntryIn
from haven.banks.formats import vics as vics_format
from haven.cli.main import app, exit_code_for
from haven.errors import HavenError, UsageError

KNOWN_FAMILIES = {0, 1}


def run_cli(args: list[str], seizure: Seizure, tmp_path: Path) -> tuple[int, str]:
    env = {"HAVEN_DATABASE_URL": seizure.bank_url, "HAVEN_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(app, args, env=env)
    if isinstance(result.exception, HavenError):  # what `haven` (main.main) maps to an exit code
        return exit_code_for(result.exception), result.stdout
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def triaged(seizure: Seizure, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("triage")
    out = tmp / "out"
    code, stdout = run_cli(
        ["triage", *map(str, seizure.sources), "--out", str(out), "--json", "--no-progress"], seizure, tmp
    )
    assert code == 0, stdout
    return out, json.loads(stdout.strip().splitlines()[-1])


def test_summary_counts_match_ground_truth(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    out, summary = triaged
    truth = seizure.truth
    fam = [t["family"] for t in truth.values()]
    assert summary["files"] == len(truth)
    assert summary["known"] == sum(1 for f in fam if f in KNOWN_FAMILIES)
    assert summary["unknown"] == sum(1 for f in fam if f is not None and f not in KNOWN_FAMILIES)
    assert summary["other"] == sum(1 for t in truth.values() if t["what"] == "other")
    # Every family is one duplicate group here (variants within 31 bits): duplicates = files - one per family.
    families = {f for f in fam if f is not None}
    assert summary["duplicates"] == sum(1 for f in fam if f is not None) - len(families)
    assert summary["duplicate_groups"] == len(families)
    assert summary["series"] == len(families - KNOWN_FAMILIES)
    assert summary["series_touching_known"] == 1  # f2, 44 bits from a bank entry
    assert summary["errors"] == 2  # the truncated JPEG and the zip-bomb member
    assert summary["warnings"] == 1  # the path-traversal member (still hashed)
    assert summary["out"] == str(out)
    for name in (
        "case.db",
        "files.csv",
        "problems.csv",
        "vics.json",
        "report.html",
        "summary.json",
        "run.log",
    ):
        assert (out / name).is_file(), name


def _csv(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "files.csv", newline="", encoding="utf-8") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def test_per_file_results(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    rows = _csv(triaged[0])
    for path, t in seizure.truth.items():
        row = rows[path]
        if t["family"] in KNOWN_FAMILIES:
            assert row["status"] == "known", path
            assert row["banks"] == "TEST_BANK" and row["known_series"] == f"SERIES-F{t['family']}"
            assert (
                row["severity"] == {0: "2", 1: "1"}[int(t["family"])]
            )  # Project VIC US: CAM 2, age difficult 1
        elif t["family"] is not None:
            assert row["status"] == "unknown", path
            assert row["series"], path
        elif t["what"] == "corrupt":
            assert row["status"] == "error" and row["error_code"] in ("truncated", "corrupt")
            assert row["md5"]  # a broken file still gets its digests (it could be in a hash list)
        else:
            assert row["status"] == "other"
    # Same family -> same series and duplicate group; different families -> different ones.
    by_family: dict[int, set[tuple[str, str]]] = {}
    for path, t in seizure.truth.items():
        if t["family"] is not None:
            by_family.setdefault(int(t["family"]), set()).add((rows[path]["dup_group"], rows[path]["series"]))
    assert all(len(v) == 1 for v in by_family.values())
    assert len({next(iter(v)) for v in by_family.values()}) == len(by_family)
    # Exactly one representative per duplicate group.
    reps: dict[str, int] = {}
    for r in rows.values():
        if r["dup_group"]:
            reps[r["dup_group"]] = reps.get(r["dup_group"], 0) + (r["representative"] == "true")
    assert set(reps.values()) == {1}
    # EXIF leads from the tar member.
    f5 = rows[f"{seizure.root}/old.tar.gz!/cam/f5_base.jpg"]
    assert (f5["exif_make"], f5["exif_model"], f5["exif_serial"]) == ("FictionalCam", "Model X", "SN-0042")
    assert abs(float(f5["gps_lat"]) - 48.8583) < 1e-3 and abs(float(f5["gps_lon"]) - 2.2945) < 1e-3


def test_priority_order_and_reasons(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    rows = _csv(triaged[0])
    root = seizure.root
    near = rows[f"{root}/phone/DCIM/f2_base.jpg"]
    gps = rows[f"{root}/old.tar.gz!/cam/f5_base.jpg"]
    plain = rows[f"{root}/backup.zip!/inner.zip!/f4_base.jpg"]
    known_victim = rows[f"{root}/phone/DCIM/f0_base.jpg"]
    known_no_victim = rows[f"{root}/backup.zip!/f1_base.jpg"]
    assert "near known series SERIES-NEAR (PDQ distance 44)" in near["reasons"]
    assert "EXIF GPS 48.85830,2.29450" in gps["reasons"] and "SN-0042" in gps["reasons"]
    ranks = [int(r["priority"]) for r in (near, gps, plain, known_no_victim, known_victim)]
    assert ranks[0] > ranks[2] and ranks[1] > ranks[2] > ranks[3] > ranks[4]
    assert "victim not identified" in known_no_victim["reasons"]
    assert rows[f"{root}/phone/notes.txt"]["priority"] == ""


def test_problems_listed(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    with open(triaged[0] / "problems.csv", newline="") as fh:
        probs = {(r["path"], r["code"]) for r in csv.DictReader(fh)}
    root = seizure.root
    assert (f"{root}/bomb.zip!/zeros.bin", "zip_bomb") in probs
    assert (f"{root}/evil.zip!/../../f3_q50.jpg", "path_traversal") in probs
    assert any(p == f"{root}/phone/broken.jpg" for p, _ in probs)
    assert not (root.parent / "f3_q50.jpg").exists()  # nothing extracted, anywhere


def test_vics_export_parses_back(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    out = triaged[0]
    doc = json.loads((out / "vics.json").read_text())
    assert doc["@odata.context"].endswith("/US/$metadata#Cases")
    case = doc["value"][0]
    assert case["CaseID"].startswith("{") and case["SourceApplicationName"] == "Haven"
    rows = _csv(out)
    md5s = {
        r["md5"].upper() for r in rows.values() if r["status"] in ("known", "unknown", "other") and r["md5"]
    }
    assert {m["MD5"] for m in case["Media"]} == md5s
    assert case["TotalMediaFiles"] == len(case["Media"])
    assert list(case)[-1] == "Media"  # key order as VICS writes it
    lines = (out / "vics.json").read_text().splitlines()
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == case["Media"]  # one Media per line
    with open(out / "vics.json", encoding="utf-8") as fh:
        records = list(vics_format.read(fh, str(out / "vics.json")))
    assert all(not isinstance(r, Exception) for r in records)
    by_md5 = {r.entries[0].value.lower(): r.entries for r in records}
    f0 = rows[f"{seizure.root}/phone/DCIM/f0_base.jpg"]
    entries = by_md5[f0["md5"]]
    assert (
        entries[0].category == "1"
        and entries[0].series == "SERIES-F0"
        and entries[0].victim_identified is True
    )
    assert {e.signal for e in entries} >= {"md5", "sha1", "sha256"}
    media = next(m for m in case["Media"] if m["MD5"] == f0["md5"].upper())
    assert {mf["FileName"] for mf in media["MediaFiles"]} == {"f0_base.jpg", "renamed.dat"}
    unknown = next(
        m for m in case["Media"] if m["MD5"] == rows[f"{seizure.root}/phone/DCIM/f2_base.jpg"]["md5"].upper()
    )
    assert "Category" not in unknown and unknown["IsPrecategorized"] == "false"


def test_html_report_structure(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    text = (triaged[0] / "report.html").read_text()
    doc = lxml_html.document_fromstring(text)
    assert (
        doc.xpath("//meta[@http-equiv='Content-Security-Policy']")[0]
        .get("content")
        .startswith("default-src 'none'")
    )
    for section in ("summary", "sources", "categories", "series", "priority", "exif", "errors"):
        assert doc.get_element_by_id(section) is not None
    thumbs = doc.xpath("//img[@class='thumb']")
    assert len(thumbs) == 4  # one per series
    for img in thumbs:
        src = img.get("src")
        assert src.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            assert max(im.size) <= 48
    assert "http://" not in text.replace("http-equiv", "") and "https://" not in text
    assert "SN-0042" in text and "zip_bomb" in text and "SERIES-NEAR" in text


def test_usage_errors_exit_2(seizure: Seizure, tmp_path: Path) -> None:
    code, _ = run_cli(["triage", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], seizure, tmp_path)
    assert code == 2
    code, _ = run_cli(
        ["triage", str(seizure.sources[0]), "--out", str(tmp_path / "o"), "--banks", "NOPE"],
        seizure,
        tmp_path,
    )
    assert code == 2
    code, _ = run_cli(["triage", str(seizure.root), "--out", str(seizure.root / "out")], seizure, tmp_path)
    assert code == 2
    code, _ = run_cli(
        ["triage", str(seizure.sources[1]), "--out", str(tmp_path / "o2"), "--series-threshold", "10"],
        seizure,
        tmp_path,
    )
    assert code == 2


def test_banks_option_restricts(seizure: Seizure, tmp_path: Path) -> None:
    # The seizure's OTHER_BANK holds nothing: triaging against it alone would check nothing, so it refuses.
    args = ["triage", *map(str, seizure.sources), "--json", "--no-thumbnails", "--no-progress"]
    code, _ = run_cli([*args, "--out", str(tmp_path / "r"), "--banks", "OTHER_BANK"], seizure, tmp_path)
    assert code == 2 and not (tmp_path / "r").exists()
    # A copy of the banks where OTHER_BANK holds one unrelated value: now it runs, against that bank only.
    db = tmp_path / "banks.db"
    shutil.copy(seizure.bank_url.removeprefix("sqlite:///"), db)
    with BankStore(f"sqlite:///{db}") as store:
        store.add_entries("OTHER_BANK", [EntryIn("md5", "12" * 16)])
    copy = Seizure(**{**seizure.__dict__, "bank_url": f"sqlite:///{db}"})
    code, stdout = run_cli([*args, "--out", str(tmp_path / "o"), "--banks", "OTHER_BANK"], copy, tmp_path)
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["known"] == 0 and summary["series_touching_known"] == 0
    assert summary["series"] == 6  # every family is now an unknown series
    assert summary["searched"]["banks"] == 1 and summary["searched"]["entries"] == 1
    record = json.loads((tmp_path / "o" / "summary.json").read_text())["banks_searched"]
    assert [b["name"] for b in record["banks"]] == ["OTHER_BANK"] and record["entries"] == {"md5": 1}


def test_no_bank_refuses_unless_no_banks(seizure: Seizure, tmp_path: Path) -> None:
    empty = Seizure(**{**seizure.__dict__, "bank_url": f"sqlite:///{tmp_path / 'none.db'}"})
    args = ["triage", *map(str, seizure.sources), "--json", "--no-thumbnails", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")],
                                env={"HAVEN_DATABASE_URL": empty.bank_url, "HAVEN_DATA_DIR": str(tmp_path)})
    assert isinstance(result.exception, UsageError) and exit_code_for(result.exception) == 2
    assert "no enabled bank" in result.exception.message and "--no-banks" in result.exception.message
    assert "haven bank import" in result.exception.message
    code, stdout = run_cli([*args, "--out", str(tmp_path / "b"), "--no-banks"], empty, tmp_path)
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["known"] == 0 and summary["searched"] == {"banks": 0, "entries": 0, "seq": None}
    out = tmp_path / "b"
    assert json.loads((out / "summary.json").read_text())["banks_searched"]["no_banks"] is True
    assert "No bank was searched" in (out / "report.html").read_text()
    code, _ = run_cli([*args, "--out", str(tmp_path / "c"), "--no-banks", "--banks", "TEST_BANK"], seizure,
                      tmp_path)
    assert code == 2


def test_run_log_case_db_and_report_record_the_banks_searched(triaged: tuple[Path, dict]) -> None:
    out, summary = triaged
    start, *_, end = (json.loads(line) for line in (out / "run.log").read_text().splitlines())
    expected = {"banks": [{"entries": {}, "name": "OTHER_BANK"},
                          {"entries": {"md5": 2, "pdq": 3}, "name": "TEST_BANK"}],
                "entries": {"md5": 2, "pdq": 3}, "no_banks": False}
    for record in (start["banks"], end["banks"]):
        assert {k: record[k] for k in expected} == expected
        assert record["seq"] > 0 and len(record["store_id"]) == 32
    with sqlite3.connect(out / "case.db") as db:
        (meta,) = db.execute("SELECT value FROM meta WHERE key = 'banks_searched'").fetchone()
    assert json.loads(meta) == end["banks"]
    assert summary["searched"] == {"banks": 2, "entries": 5, "seq": end["banks"]["seq"]}
    report = (out / "report.html").read_text()
    assert "Banks searched" in report and "TEST_BANK" in report and "md5 2, pdq 3" in report
    assert f"change {end['banks']['seq']}" in report


def test_sources_count_archive_members(triaged: tuple[Path, dict], seizure: Seizure) -> None:
    out, _ = triaged
    sources = {Path(s["path"]).name: s for s in json.loads((out / "summary.json").read_text())["sources"]}
    backup = sources["backup.zip"]
    # backup.zip holds files and a nested zip: its members are counted, the containers apart.
    assert backup["kind"] == "archive" and backup["files"] > 1 and backup["containers"] == 2
    assert sources["phone"]["kind"] == "folder" and sources["phone"]["files"] >= 1
    with sqlite3.connect(out / "case.db") as db:
        members = db.execute(
            "SELECT count(*) FROM files f JOIN analysis a ON a.path = f.path "
            "WHERE f.source = 1 AND a.status != 'container'"
        ).fetchone()[0]
    assert backup["files"] == members
    assert f"<td>archive</td><td class=\"num\">{backup['files']}</td>" in (out / "report.html").read_text()


def test_outputs_carry_the_exact_pdq_and_fast_cases_say_so(triaged: tuple[Path, dict], seizure: Seizure,
                                                            tmp_path: Path) -> None:
    from haven.hashing import hash_file

    out, _ = triaged
    rows = list(csv.DictReader(io.StringIO((out / "files.csv").read_text())))
    photos = [r for r in rows if r["pdq"] and "!/" not in r["path"]]
    assert photos
    for r in photos:  # the value `haven hash` computes, bit for bit
        assert r["pdq"] == hash_file(r["path"]).hashes["pdq"]
    vics = json.loads((out / "vics.json").read_text())["value"][0]["Media"]
    assert any(h["HashName"] == "PDQ" for m in vics for h in m["AlternativeHashes"])
    fast = tmp_path / "fast"
    code, _ = run_cli(["triage", *map(str, seizure.sources), "--out", str(fast), "--fast", "--no-progress",
                       "--no-thumbnails"], seizure, tmp_path)
    assert code == 0
    header = (fast / "files.csv").read_text().splitlines()[0].split(",")
    assert "pdq_fast" in header and "quality_fast" in header and "pdq" not in header
    media = json.loads((fast / "vics.json").read_text())["value"][0]["Media"]
    assert not any(h["HashName"] == "PDQ" for m in media for h in m["AlternativeHashes"])
    # Resuming it with the other decode would mix two kinds of value in one column.
    code, _ = run_cli(["triage", *map(str, seizure.sources), "--out", str(fast), "--no-progress"], seizure,
                      tmp_path)
    assert code == 2
