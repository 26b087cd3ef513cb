"""A newcomer's first hour (issue 21): safe defaults and clear feedback across the CLI, each point with its
exit code. In-process (CliRunner) where a run ends by itself; a real subprocess for stdin, Ctrl-C and
streaming."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main
from PIL import Image

from haven import __version__
from haven.cli.commands import INTERRUPTED, argument_name
from haven.cli.common import progress_bar
from haven.cli.main import app
from haven.hashing import hash_file
from haven_cli import env, run
from haven_testdata import PHOTOS

HAVEN = [sys.executable, "-m", "haven.cli.main"]
PHOTO = sorted(PHOTOS.glob("*.jpg"))[0]
ZERO_PDQ = "0" * 64


def lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


# -- haven --version and help ---------------------------------------------------------------------------


def test_version_is_printed_and_listed_in_help() -> None:
    proc = subprocess.run([*HAVEN, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"haven {__version__}"
    code, out = run("--help")
    assert code == 0 and "--version" in out


def _commands(group: object, prefix: str = "haven") -> list[tuple[str, object]]:
    out = []
    for name, cmd in getattr(group, "commands", {}).items():
        out.append((f"{prefix} {name}", cmd))
        out.extend(_commands(cmd, f"{prefix} {name}"))
    return out


def test_help_reads_well_for_every_command() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 30
    for name, cmd in [("haven", root), *commands]:
        code, out = run(*name.split()[1:], "--help")
        assert code == 0, name
        usage = out.splitlines()[0]
        # PATH..., never typer's {paths}... or a <list[Path]> label
        assert "{" not in usage and "<list[" not in out, (name, usage)
        if getattr(cmd, "commands", None):  # a group: each listed description whole, never cut off
            assert "..." not in out.split("Commands:")[1], name
        for param in getattr(cmd, "params", []):
            if param.param_type_name == "argument":
                assert argument_name(param) in usage, (name, usage)
            if param.name == "jobs":  # one per core shows as auto
                assert "[default: auto]" in " ".join(out.split()), name
    code, out = run("match", "--help")
    assert "Usage: haven match [OPTIONS] [PATH...]" in out


# -- nothing silently unchecked ---------------------------------------------------------------------------


def test_match_without_an_enabled_bank_exits_2_saying_how_to_get_one(env: dict[str, str]) -> None:
    code, out = run("match", str(PHOTO))
    assert code == 2 and "no enabled bank" in out and "haven bank import" in out and "haven bank demo" in out
    assert run("bank", "create", "empty")[0] == 0
    code, out = run("match", str(PHOTO))
    assert code == 2 and "hold no entries" in out
    assert run("bank", "add", "empty", str(PHOTO))[0] == 0
    assert run("bank", "disable", "empty")[0] == 0
    code, out = run("match", "--banks", "empty", str(PHOTO))
    assert code == 2 and "disabled" in out and "haven bank enable" in out
    code, out = run("match", "--banks", "nope", str(PHOTO))
    assert code == 2 and "no bank named 'nope'" in out
    assert run("bank", "enable", "empty")[0] == 0
    # The bank holds a PDQ and digests but no SHA-1 of this value: a SHA-1-only query checks nothing.
    assert run("bank", "remove-entry", "3")[0] == 0
    code, out = run("match", "--sha1", "a9993e364706816aba3e25717850c26c9cd0d89d")
    assert code == 2 and "hold no sha1 entries" in out
    code, out = run("match", str(PHOTO))
    assert code == 1 and "searched 1 bank (empty:" in out and "at change" in out


# -- haven match: values, stdin, dihedral, streaming --------------------------------------------------------


def test_match_values_from_options_and_stdin(env: dict[str, str]) -> None:
    h = hash_file(PHOTO).hashes
    assert run("bank", "create", "b")[0] == 0
    assert run("bank", "add", "b", str(PHOTO), "--category", "B")[0] == 0
    code, out = run("match", "--json", "--pdq", h["pdq"], "--md5", h["md5"], "--md5", "ab" * 16)
    assert code == 1
    got = lines(out)
    assert [(g["signal"], len(g["matches"])) for g in got] == [("pdq", 1), ("md5", 1), ("md5", 0)]
    assert got[0]["matches"][0]["category"] == "B" and got[0]["matches"][0]["distance"] == 0
    near = f"{int(h['pdq'], 16) ^ 0b111:064x}"  # 3 bits away: within the bank's PDQ threshold
    code, out = run("match", "--pdq", "-", stdin=f"# one per line\n{near}\n\n{'f' * 63}0\n")
    assert code == 1 and "MATCH" in out and "no match" in out and "1 matched, 1 no match, 0 not valid" in out
    code, out = run("match", "--md5", "zz")
    assert code == 2 and "not a valid md5" in out
    code, out = run("match", "--md5", "ab" * 16)
    assert code == 0 and "no match" in out
    assert run("match")[0] == 2 and run("match", "--pdq", "-", "--md5", "-", stdin="x\n")[0] == 2
    assert run("match", "--pdq", h["pdq"], str(PHOTO))[0] == 2  # values or files, not both


def test_match_dihedral_finds_a_mirrored_copy(env: dict[str, str], tmp_path: Path) -> None:
    assert run("bank", "create", "b")[0] == 0
    assert run("bank", "add", "b", str(PHOTO))[0] == 0
    mirrored = tmp_path / "mirrored.jpg"
    with Image.open(PHOTO) as im:
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored, quality=95)
    code, out = run("match", "--json", "--no-dihedral", str(mirrored))
    assert code == 0 and lines(out)[0]["matches"] == []
    for args in (["--dihedral"], []):  # (on by default)
        code, out = run("match", "--json", *args, str(mirrored))
        (m,) = lines(out)[0]["matches"]
        assert code == 1 and m["signal"] == "pdq"
        assert m["variant"].split(":")[0] in {"dihedral", "pixel_dihedral"}
    assert run("match", "--dihedral", "--pdq", ZERO_PDQ)[0] == 2  # rotations need pixels


def _photo_folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for k, p in enumerate(sorted(PHOTOS.glob("*.jpg"))[:n]):
        (folder / f"{k:03d}.jpg").write_bytes(p.read_bytes())
    return folder


def test_match_streams_rows_and_ctrl_c_says_how_to_resume(env: dict[str, str], tmp_path: Path) -> None:
    assert run("bank", "create", "b")[0] == 0
    assert run("bank", "add", "b", str(PHOTO))[0] == 0
    folder = _photo_folder(tmp_path, 60)
    proc = subprocess.Popen([*HAVEN, "match", "-j", "1", str(folder)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    header = proc.stdout.readline()
    first = proc.stdout.readline()  # a result row, printed while 59 files are still to do
    assert header.startswith("path") and first.split()[0].endswith("000.jpg")
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and INTERRUPTED in err, (proc.returncode, err[-3000:])
    assert len(out.splitlines()) < 59  # stopped part way


# -- bank entries ----------------------------------------------------------------------------------------


def test_bank_add_files_is_idempotent_and_guarded(env: dict[str, str], tmp_path: Path) -> None:
    assert run("bank", "create", "b")[0] == 0
    code, out = run("bank", "add", "b", str(PHOTO), "--category", "A", "--json")
    added = lines(out)
    h = hash_file(PHOTO)
    assert code == 0 and {a["signal"]: a["value"] for a in added} == h.hashes
    assert all(a["added"] for a in added)
    assert {a["severity"] for a in added} == {4}
    # Again, twice: nothing new, the same entries answered.
    for _ in range(2):
        code, out = run("bank", "add", "b", str(PHOTO), "--json")
        assert code == 0 and [a["id"] for a in lines(out)] == [a["id"] for a in added]
        assert not any(a["added"] for a in lines(out))
    code, out = run("bank", "add", "b", "--md5", h.hashes["md5"], "--md5", h.hashes["md5"].upper())
    assert code == 0 and out.count("already in b as entry") == 1 and "added entry" not in out
    code, out = run("match", "--json", "--md5", h.hashes["md5"])
    assert code == 1 and len(lines(out)[0]["matches"]) == 1  # one match row, however often it was added
    # An unknown category is refused with the schemes listed.
    code, out = run("bank", "add", "b", "--md5", "12" * 16, "--category", "7")
    assert code == 2 and "us-industry (A1, A2, B1, B2)" in out and "projectvic-us" in out
    code, out = run("bank", "add", "b", "--md5", "12" * 16, "--category", "D", "--scheme", "uk")
    assert code == 2 and "not in scheme uk (A, B, C)" in out
    code, out = run("bank", "add", "b", "--md5", "12" * 16, "--category", "1", "--scheme", "projectvic-us")
    assert code == 0 and "severity 2" in out
    # Weak values: refused unless --force.
    for args in (["--pdq", ZERO_PDQ], ["--md5", "d41d8cd98f00b204e9800998ecf8427e"],
                 ["--pdq", h.hashes["pdq"].replace("0", "1"), "--quality", "20"]):
        code, out = run("bank", "add", "b", *args)
        assert code == 2 and "--force" in out, args
        assert run("bank", "add", "b", *args, "--force")[0] == 0, args
    # A bad file among good ones is reported and the rest are added.
    (tmp_path / "notes.txt").write_text("not an image")
    other = sorted(PHOTOS.glob("*.jpg"))[1]
    code, out = run("bank", "add", "b", str(tmp_path / "notes.txt"), str(other))
    assert code == 2 and "not added" in out and f"(from {other})" in out


# -- bank import ----------------------------------------------------------------------------------------


def test_import_hash_json_from_stdin_and_pretty_hma(env: dict[str, str], tmp_path: Path) -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))[:3]
    hashed = subprocess.run([*HAVEN, "hash", "--json", *map(str, photos), str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert run("bank", "create", "b")[0] == 0
    proc = subprocess.run([*HAVEN, "bank", "import", "b", "-", "--json"], input=hashed.stdout, env=env,
                          capture_output=True, text=True, timeout=120)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["format"] == "hash-json" and result["rows_added"] == 12
    assert result["path"] == "-" and result["warnings"] == 0
    code, out = run("bank", "show", "b", "--json")
    assert json.loads(out.splitlines()[-1])["imports"][0]["path"] == "-"
    assert not list((tmp_path / "data" / "tmp").iterdir())  # the stdin spool file is gone
    code, out = run("match", "--json", str(photos[1]))
    assert code == 1 and {m["signal"] for m in lines(out)[0]["matches"]} == {"pdq", "md5", "sha1", "sha256"}
    # The same lines in a file: the same content, already imported; forced again, nothing is added twice.
    f = tmp_path / "h.jsonl"
    f.write_text(hashed.stdout)
    code, out = run("bank", "import", "b", str(f))
    assert code == 0 and "was already imported into b" in out
    code, out = run("bank", "import", "b", "--again", str(f))
    assert code == 0 and "imported 0 entries" in out and "12 already in the bank" in out
    # A pretty-printed HMA content object (as its API returns one) imports like a one-line one.
    pretty = tmp_path / "content.json"
    pretty.write_text(json.dumps({"id": 7, "signals": {"pdq": f"{'3c' * 32}", "video_md5": "34" * 16},
                                  "note": "x"}, indent=2))
    code, out = run("bank", "import", "b", str(pretty), "--json")
    assert code == 0 and json.loads(out)["format"] == "hma" and json.loads(out)["rows_added"] == 2


def test_import_suggests_the_format_and_retries_zero_row_imports(env: dict[str, str], tmp_path: Path) -> None:
    assert run("bank", "create", "b")[0] == 0
    csv = tmp_path / "list.csv"
    csv.write_text("signal,value\n" + "".join(f"md5,{k:032x}\n" for k in range(1, 9)))
    code, out = run("bank", "import", "b", "--format", "pytx", str(csv))
    assert code == 2 and "it looks like csv: run again with --format csv" in out
    code, out = run("bank", "show", "b")
    assert "failed" in out and "running" not in out
    # A file whose every row was bad added nothing: after fixing the bank side, it is imported, not skipped.
    bad = tmp_path / "bad.csv"
    bad.write_text("signal,value\nmd5,zz\n")
    assert run("bank", "import", "b", str(bad))[0] == 2
    code, out = run("bank", "import", "b", str(bad))
    assert "already imported" not in out
    assert run("bank", "import", "b", str(csv))[0] == 0
    code, out = run("bank", "import", "b", str(csv))
    assert code == 0 and "already imported" in out  # it added rows: that one is done


def test_import_progress_counts_one_unit() -> None:
    from rich.progress import DownloadColumn, MofNCompleteColumn, TransferSpeedColumn

    kinds = {type(c) for c in progress_bar(enabled=False, unit="bytes").columns}
    assert DownloadColumn in kinds and TransferSpeedColumn in kinds and MofNCompleteColumn not in kinds


def test_ctrl_c_interrupts_an_import_the_same_command_resumes(env: dict[str, str], tmp_path: Path) -> None:
    rng = random.Random(21)
    big = tmp_path / "big.csv"
    big.write_text("signal,value\n" + "".join(f"pdq,{rng.getrandbits(256):064x}\n" for _ in range(120_000)))
    assert run("bank", "create", "b")[0] == 0
    args = [*HAVEN, "bank", "import", "b", str(big), "--batch-size", "500", "--no-index"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        code, out = run("bank", "show", "b", "--json")
        imports = json.loads(out.splitlines()[-1])["imports"] if code == 0 else []
        if imports and imports[0]["rows_added"] > 0:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the import ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and INTERRUPTED in err, (proc.returncode, err[-3000:])
    code, out = run("bank", "show", "b")
    assert "interrupted (run the same import again to resume it)" in out
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "resumed after record" in done.stdout
    code, out = run("bank", "show", "b", "--json")
    shown = json.loads(out.splitlines()[-1])
    assert shown["entries"]["pdq"]["total"] == 120_000 and shown["imports"][0]["status"] == "done"


# -- hash and index ----------------------------------------------------------------------------------------


def test_hash_of_a_folder_with_no_files_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out = run("hash", str(tmp_path / "empty"))
    assert code == 2 and "0 files found" in out


def test_index_build_explains_its_input_and_stats_prints_a_table(tmp_path: Path) -> None:
    code, out = run("index", "build", "--help")
    assert "integer id and a 64-hex PDQ" in " ".join(out.split()) and "no header" in out
    src = tmp_path / "hashes.csv"
    src.write_text("id,pdq\n")
    code, out = run("index", "build", str(tmp_path / "x.hidx"), str(src))
    assert code == 2 and "line 1" in out and "no header" in out
    src.write_text(f"7,{hash_file(PHOTO).hashes['pdq']}\n")
    assert run("index", "build", str(tmp_path / "x.hidx"), str(src))[0] == 0
    code, out = run("index", "stats", str(tmp_path / "x.hidx"))
    assert code == 0 and "1 hashes" in out and "segment" in out and not out.lstrip().startswith("{")
    code, out = run("index", "stats", "--json", str(tmp_path / "x.hidx"))
    assert json.loads(out)["count"] == 1
