"""A real local Spark job (``local[2]``, one session for the module): ``haven spark scan`` of a generated
folder — photos, a drifted thumbnail, archives (nested, damaged), corrupt and empty files, a link —
gives exactly the matches ``haven match --json`` gives for the same files; the partitioned bank gives
the same as the broadcast one; a rerun skips what is done; every failure is a row."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from haven.banks import BankStore, EntryIn
from haven.cli.main import app
from haven.hashing import hash_bytes
from haven.spark.scan import ScanSummary, run_scan
from haven.spark.work import MATCH_FIELDS, ScanConfig
from haven.store.db import upgrade_database
from haven_testdata import PHOTOS, drifted_thumbnail

pytestmark = pytest.mark.timeout(900)


def _photo(n: int) -> bytes:
    return (PHOTOS / f"{n:04d}.jpg").read_bytes()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class World:
    """The evidence folder, the archive members as plain files (for ``haven match``), the database."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.evidence = root / "evidence"
        self.members = root / "members"  # the archive's members, written out as files of their own
        self.url = f"sqlite:///{root / 'haven.db'}"
        self.data = root / "data"
        self.evidence.mkdir()
        self.members.mkdir()
        original, thumb = drifted_thumbnail(PHOTOS, root)
        for n in range(1, 7):
            (self.evidence / f"{n:04d}.jpg").write_bytes(_photo(n))
        shutil.copy(thumb, self.evidence / "thumb.jpg")
        self.corrupt = b"\xff\xd8\xff\xe0 not really a jpeg" * 10
        (self.evidence / "corrupt.jpg").write_bytes(self.corrupt)
        (self.evidence / "truncated.jpg").write_bytes(_photo(5)[:4000])
        (self.evidence / "empty.jpg").write_bytes(b"")
        (self.evidence / "notes.txt").write_text("not an image\n")
        nested = {"0008.jpg": _photo(8)}
        inner = {"0007.jpg": _photo(7), "copy-of-0001.jpg": _photo(1), "broken.jpg": self.corrupt[:50]}
        (self.evidence / "archive.zip").write_bytes(_zip({**inner, "nested.tar.gz": _tar_gz(nested)}))
        (self.evidence / "damaged.zip").write_bytes(_zip({"a.jpg": _photo(9)})[:-30])
        os.symlink(self.evidence / "0002.jpg", self.evidence / "link.jpg")
        for name, data in {**inner, **nested}.items():
            (self.members / name).write_bytes(data)

        upgrade_database(self.url)
        rng = random.Random(18)
        with BankStore(self.url) as store:
            store.create_bank("known")
            store.create_bank("other")
            pdq = {n: hash_bytes(_photo(n), str(n), ("pdq",), fast=True).hashes["pdq"] for n in (1, 7)}
            md5 = {
                n: hash_bytes(d, "x", ("md5",)).hashes["md5"] for n, d in ((3, _photo(3)), (0, self.corrupt))
            }
            noise = [EntryIn("pdq", f"{rng.getrandbits(256):064x}") for _ in range(300)]
            store.add_entries("known", noise[:150])
            store.add_entries(
                "known",
                [
                    EntryIn("pdq", pdq[1], category="A1"),
                    EntryIn("md5", md5[3]),
                    EntryIn("pdq", original, quality=100),
                    EntryIn("md5", md5[0]),
                ],
            )
            store.add_entries("known", noise[150:])
            store.add_entries("other", [EntryIn("pdq", pdq[7], category="B")])

    def config(self, **kw: Any) -> ScanConfig:
        return ScanConfig(database_url=self.url, banks=("known", "other"), **kw)

    def scan(self, spark: Any, output: Path, **kw: Any) -> ScanSummary:
        return run_scan(
            spark,
            [str(self.evidence)],
            str(output),
            self.config(**kw),
            index_dir=self.data / "index",
            files_per_task=4,
        )

    def haven_match(self, folder: Path) -> dict[str, dict[str, Any]]:
        env = {"HAVEN_DATABASE_URL": self.url, "HAVEN_DATA_DIR": str(self.data)}
        got = CliRunner().invoke(
            app, ["match", str(folder), "--json", "--fast", "--upscaled", "-j", "1"], env=env
        )
        assert got.exit_code == 1, got.output  # something matched
        return {line["path"]: line for line in map(json.loads, got.stdout.splitlines())}


def read_rows(spark: Any, output: Path, run_id: str | None = None) -> list[dict[str, Any]]:
    df = spark.read.parquet(str(output))
    if run_id is not None:
        df = df.where(df.run_id == run_id)
    return [r.asDict(recursive=True) for r in df.collect()]


def as_match_dicts(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's matches as ``Match.to_dict()`` gives them (``haven match --json``)."""
    out = []
    for m in row["matches"]:
        d = {k: m[k] for k in MATCH_FIELDS}
        d.update(json.loads(m["extra"]) if m["extra"] else {})
        out.append(d)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("spark-scan"))


@pytest.fixture(scope="module")
def first_scan(spark: Any, world: World) -> tuple[ScanSummary, list[dict[str, Any]]]:
    summary = world.scan(spark, world.root / "out")
    return summary, read_rows(spark, world.root / "out")


def test_scan_gives_exactly_haven_match_s_matches(world: World, first_scan: Any) -> None:
    summary, rows = first_scan
    files = {r["path"]: r for r in rows if r["record"] == "file"}
    top = world.haven_match(world.evidence)
    members = world.haven_match(world.members)
    compared = 0
    for path, line in top.items():
        if path.endswith("link.jpg"):
            continue  # haven match follows the link; the walk records it and does not (like triage)
        row = files[path]
        if "error" in line and row["mime"] == "application/zip":
            assert row["error_code"] is None  # an archive: its members are walked, not decoded as an image
            continue
        if "error" in line:  # the same error; the broken file's digests are still matched by the scan
            assert row["error_code"] == line["error"]["code"], path
            expected = ["md5"] if path.endswith("corrupt.jpg") else []
            assert [m["signal"] for m in row["matches"]] == expected, path
            continue
        assert row["error_code"] is None, path
        assert {k: v for k, v in line.items() if k in row["hashes"]} == row["hashes"], path
        assert as_match_dicts(row) == line["matches"], path
        compared += 1
    for path, line in members.items():
        name = Path(path).name
        inside = "nested.tar.gz!/" if name == "0008.jpg" else ""
        row = files[f"{world.evidence / 'archive.zip'}!/{inside}{name}"]
        if "error" in line:
            assert row["error_code"] == line["error"]["code"]
            assert row["matches"] == []
            continue
        assert as_match_dicts(row) == line["matches"], path
        compared += 1
    assert compared == 7 + 3  # six photos and the thumbnail; three archive members
    matched = {
        Path(p).name: [(m["bank"], m["signal"]) for m in r["matches"]]
        for p, r in files.items()
        if r["matches"]
    }
    assert matched == {
        "0001.jpg": [("known", "pdq")],
        "0003.jpg": [("known", "md5")],
        "thumb.jpg": [("known", "pdq")],
        "corrupt.jpg": [("known", "md5")],
        "copy-of-0001.jpg": [("known", "pdq")],
        "0007.jpg": [("other", "pdq")],
    }
    assert "upscaled_to" in json.loads(files[str(world.evidence / "thumb.jpg")]["matches"][0]["extra"])
    assert summary.matched == 6 and summary.sources_skipped == 0


def test_errors_are_rows_and_the_job_goes_on(world: World, first_scan: Any) -> None:
    summary, rows = first_scan
    by_path = {(r["path"], r["record"]): r for r in rows}
    ev = world.evidence

    def row(name: str, record: str = "file") -> dict[str, Any]:
        return by_path[(str(ev / name) if "!/" not in name else f"{ev}/{name}", record)]

    assert row("truncated.jpg")["error_code"] == "truncated" and row("truncated.jpg")["hashes"].keys() == {
        "md5",
        "sha1",
        "sha256",
    }
    assert row("empty.jpg")["error_code"] == "empty"
    assert row("archive.zip!/broken.jpg")["error_code"] is not None
    assert row("link.jpg", "problem")["error_code"] == "symlink"
    damaged = row("damaged.zip")
    assert damaged["hashes"] and [w["code"] for w in damaged["warnings"]] == ["corrupt_archive"]
    assert row("archive.zip!/nested.tar.gz!/0008.jpg")["depth"] == 2
    assert summary.sources_scanned == len(list(ev.iterdir())) == summary.sources_listed
    assert summary.errors == sum(1 for r in rows if r["record"] == "file" and r["error_code"])
    assert summary.errors >= 5 and summary.problems >= 1


def test_rerun_skips_what_is_done_and_rescans_a_changed_file(
    spark: Any, world: World, first_scan: Any
) -> None:
    again = world.scan(spark, world.root / "out")
    assert again.sources_scanned == 0 and again.sources_skipped == again.sources_listed
    target = world.evidence / "0004.jpg"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same path and size, new mtime
    third = world.scan(spark, world.root / "out")
    assert third.sources_scanned == 1
    assert [r["path"] for r in read_rows(spark, world.root / "out", third.run_id)] == [str(target)]


def test_partitioned_bank_gives_the_broadcast_matches(spark: Any, world: World, first_scan: Any) -> None:
    _, rows = first_scan
    sharded = world.scan(spark, world.root / "out-sharded", shards=3)
    assert sharded.mode.startswith("partitioned")
    got = {(r["path"], r["record"]): as_match_dicts(r) for r in read_rows(spark, world.root / "out-sharded")}
    want = {(r["path"], r["record"]): as_match_dicts(r) for r in rows}
    assert got == want
    ids = {m["entry_id"] % 3 for r in rows for m in r["matches"]}
    assert len(ids) > 1  # the matches came from more than one shard
