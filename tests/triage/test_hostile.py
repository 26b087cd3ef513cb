"""`haven triage` on evidence built by someone who expects it to be examined (issue 23).

Each hostile input is built here (``tests/hostile_evidence.py``), small on disk, and triaged by a real
`haven triage` process beside a folder of benign photos. For every run the test states and checks
a time limit and a memory bound measured for the whole process tree (the triage process, its
forkserver and its workers: resident memory summed, sampled every 20 ms), that every benign photo
is in files.csv, and that each hostile item is a row or a problem that names it.

One run (``hostile``) takes most inputs at once: its bounds hold for each of them. Runs of their own
check what needs its own conditions: the memory bound with four workers, resuming, and the
temporary folder a SIGKILL leaves behind.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from seizure_builder import PHOTOS

import hostile_evidence as hb

HAVEN = str(Path(sys.executable).with_name("haven"))
BENIGN = 12  # photos in the benign folder beside every hostile input


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes, the whole process tree
    out: Path
    summary: dict = field(default_factory=dict)

    def files(self) -> dict[str, dict[str, str]]:
        with open(self.out / "files.csv", newline="", encoding="utf-8") as fh:
            return {r["path"]: r for r in csv.DictReader(fh)}

    def problems(self) -> list[dict[str, str]]:
        with open(self.out / "problems.csv", newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # it has just ended
        return 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def triage(sources: list[Path | str], out: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 240) -> Run:
    """Run `haven triage` to the end, sampling the resident memory of its whole process tree."""
    env = {**os.environ, "HAVEN_DATA_DIR": str(out.parent / "data"), **(env or {})}
    env["HAVEN_DATABASE_URL"] = f"sqlite:///{out.parent / 'banks.db'}"
    started = time.monotonic()
    proc = subprocess.Popen(
        # No bank: these runs are about the walk, memory and time (bankless, triage needs --no-banks).
        [HAVEN, "triage", *map(str, sources), "--out", str(out), "--json", "--no-progress", "--no-banks",
         *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    peak, watch, done = 0, psutil.Process(proc.pid), threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(watch))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"haven triage did not finish within {timeout} s: {stderr[-2000:]}")
    finally:
        done.set()
        sampler.join()
    run = Run(proc.returncode, stdout, stderr, time.monotonic() - started, peak, out)
    if run.code == 0:
        run.summary = json.loads(stdout.strip().splitlines()[-1])
    return run


def benign_folder(root: Path) -> list[Path]:
    root.mkdir(parents=True)
    photos = sorted(PHOTOS.glob("*.jpg"))[:BENIGN]
    for p in photos:
        shutil.copy(p, root / p.name)
    return [root / p.name for p in photos]


def assert_benign_all_there(run: Run, benign: list[Path]) -> None:
    rows = run.files()
    for p in benign:
        row = rows.get(str(p))
        assert row is not None, f"{p} missing from files.csv"
        assert row["status"] in ("unknown", "known") and row["pdq"], row


def named(run: Run, path: str, code: str | None = None) -> list[str]:
    """Where ``path`` is reported: 'row' (in files.csv) and/or the problem codes that name it."""
    found = ["row"] if path in run.files() else []
    found += [p["code"] for p in run.problems() if p["path"] == path and (code is None or p["code"] == code)]
    return found


# --- the inputs --------------------------------------------------------------------------------


def _png_text_chunks(total: int, each: int = hb.MiB - 1) -> bytes:
    return hb.png(extra=[hb.ztxt(each, f"k{i}".encode()) for i in range(total // each + 1)])


def build_hostile(root: Path) -> dict[str, Path]:
    """Every input of issue 23 that one run can take; name → source path."""
    root.mkdir(parents=True)
    s: dict[str, Path] = {}

    def put(name: str, data: bytes) -> Path:
        s[name] = root / name
        s[name].write_bytes(data)
        return s[name]

    # The run stops or hangs
    put("one_gib.tar.bz2", hb.tar_bz2_of_zeros([("zeros.bin", hb.GiB)]))
    put("two_gib.tar.bz2", hb.tar_bz2_of_zeros([("a.bin", hb.GiB), ("b.bin", hb.GiB)]))
    put("eight.tar.bz2", hb.tar_bz2_of_zeros([(f"m{i}.bin", 511 * hb.MiB) for i in range(8)]))
    put("zeros.tar.xz", hb.tar_xz_of_zeros([("a.bin", hb.GiB), ("b.bin", hb.GiB)]))
    names = root / "names"
    names.mkdir()
    (names / os.fsdecode(b"caf\xe9-latin1.jpg")).write_bytes(hb.jpeg("blue"))  # not UTF-8 (Latin-1 é)
    s["names"] = names
    put("names.tar", hb.tar_with([(hb.tar_info(os.fsdecode(b"pics/\xff\xfe.jpg")), hb.jpeg("green"))]))
    fat = hb.fat_image(root / "fat", {"P.JPG": hb.jpeg("red", 64)})
    if fat is not None:
        put("cut.dd", fat.read_bytes()[:3000])
        put("cut-dd.zip", hb.zip_of({"card.dd": fat.read_bytes()[:3000]}))
        e01 = hb.e01_of(fat)
        if e01 is not None:
            whole = e01.read_bytes()
            put("half.E01", whole[: len(whole) // 2])
            put("small.E01", whole[:2048])
    # Material silently missing
    put("dup.zip", hb.raw_zip([(b"dup.jpg", hb.jpeg("red")), (b"dup.jpg", hb.jpeg("blue")),
                               (b"nul.jpg\x00a", hb.jpeg("green")), (b"nul.jpg\x00b", hb.jpeg("white"))]))
    put("dup.tar", hb.tar_with([(hb.tar_info("dup.jpg"), hb.jpeg("red")),
                                (hb.tar_info("dup.jpg"), hb.jpeg("blue"))]))
    put(
        "badutf8.zip",
        hb.raw_zip([(b"ok.jpg", hb.jpeg("red")), (b"bad-\xff\xfe.jpg", hb.jpeg("blue"))], flags=0x800),
    )
    put("polyglot.jpg", hb.jpeg("yellow", 64) + hb.zip_of({"hidden.jpg": hb.jpeg("purple", 48)}))
    put(
        "specials.tar",
        hb.tar_with(
            [
                (hb.tar_info("link", tarfile.SYMTYPE, "/etc/passwd"), None),
                (hb.tar_info("hard", tarfile.LNKTYPE, "link"), None),
                (hb.tar_info("fifo", tarfile.FIFOTYPE), None),
                (hb.tar_info("null", tarfile.CHRTYPE, major=1, minor=3), None),
                (hb.tar_info("disk", tarfile.BLKTYPE, major=8, minor=0), None),
                (hb.tar_info("photo.jpg"), hb.jpeg("orange")),
            ]
        ),
    )
    links = root / "links"
    links.mkdir()
    for name, target in (("self", "."), ("up", ".."), ("root", "/"), ("proc", "/proc")):
        os.symlink(target, links / name)
    os.mkfifo(links / "pipe")
    (links / "real.jpg").write_bytes(hb.jpeg("navy"))
    s["links"] = links
    # Memory and time bounds
    put("lying.zip", hb.zip_lying_sizes())
    put("liar.zip", hb.zip_member_larger_than_declared())
    put("huge.png", hb.huge_png())
    put("nest.zip", hb.zip_nest())
    put("overlap.zip", hb.zip_overlapping())
    put("overlap_full.zip", hb.zip_fully_overlapping())
    put("ztxt.png", hb.png(extra=[hb.ztxt(hb.GiB)]))
    put("iccp.png", hb.png(extra=[hb.iccp(hb.GiB)], color=10))
    put("texts.png", _png_text_chunks(64 * hb.MiB + 1))
    return s


MEMORY = "1536M"
MEMORY_BYTES = 1536 * hb.MiB
SECONDS = 150


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, Path], list[Path]]:
    tmp = tmp_path_factory.mktemp("hostile")
    benign = benign_folder(tmp / "benign")
    inputs = build_hostile(tmp / "evil")
    run = triage(
        [tmp / "benign", *inputs.values()],
        tmp / "out",
        "--max-memory",
        MEMORY,
        "-j",
        "2",
        timeout=SECONDS + 60,
    )
    assert run.code == 0, run.stderr[-3000:]
    return run, inputs, benign


def test_finishes_in_time_and_memory_with_every_benign_photo(hostile: tuple[Run, dict, list]) -> None:
    run, _, benign = hostile
    assert run.seconds < SECONDS, run.seconds
    assert run.peak_rss < MEMORY_BYTES, f"peak {run.peak_rss >> 20} MiB over the {MEMORY} bound"
    assert_benign_all_there(run, benign)
    print(f"hostile run: {run.seconds:.1f} s, peak {run.peak_rss >> 20} MiB, {run.summary}")


def test_tar_bombs_are_stopped_from_their_headers(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    for name, member in (
        ("one_gib.tar.bz2", "zeros.bin"),
        ("two_gib.tar.bz2", "a.bin"),
        ("eight.tar.bz2", "m0.bin"),
        ("zeros.tar.xz", "a.bin"),
    ):
        assert named(run, f"{s[name]}!/{member}", "zip_bomb"), name
        assert "zip_bomb" in named(run, str(s[name])), name  # the archive says why the rest is not read


def test_names_that_are_not_utf8_are_kept_escaped(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    folder_file = f"{s['names']}/caf%E9-latin1.jpg"
    assert run.files()[folder_file]["status"] == "unknown"
    assert os.path.exists(
        os.fsdecode(os.fsencode(s["names"]) + b"/caf\xe9-latin1.jpg")
    )  # the %XX is the byte
    assert run.files()[f"{s['names.tar']}!/pics/%FF%FE.jpg"]["pdq"]


@pytest.mark.skipif(shutil.which("mcopy") is None, reason="mtools not installed")
def test_truncated_disk_images_are_problems_and_the_rest_goes_on(hostile: tuple[Run, dict, list]) -> None:
    pytest.importorskip("pytsk3")
    run, s, _ = hostile
    for name in ("cut.dd", "half.E01", "small.E01"):
        if name in s:
            assert "row" in named(run, str(s[name])), name
    assert any(c in ("corrupt_archive",) for c in named(run, str(s["cut.dd"])))
    inner = f"{s['cut-dd.zip']}!/card.dd"
    problems = [p for p in run.problems() if p["path"] == inner]
    assert problems and all("None" not in p["message"] for p in problems), problems


def test_every_member_of_a_duplicated_name_is_its_own_row(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    rows = run.files()
    for archive in ("dup.zip", "dup.tar"):
        first, second = rows[f"{s[archive]}!/dup.jpg"], rows[f"{s[archive]}!/dup.jpg#2"]
        assert first["md5"] != second["md5"] and first["pdq"] and second["pdq"]
    assert rows[f"{s['dup.zip']}!/nul.jpg%00a"]["md5"] != rows[f"{s['dup.zip']}!/nul.jpg%00b"]["md5"]


def test_a_utf8_flagged_name_that_is_not_utf8_keeps_its_zip_readable(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    rows = run.files()
    assert rows[f"{s['badutf8.zip']}!/ok.jpg"]["pdq"] and rows[f"{s['badutf8.zip']}!/bad-%FF%FE.jpg"]["pdq"]


def test_a_zip_appended_to_a_jpeg_is_walked_and_reported(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    rows = run.files()
    assert rows[str(s["polyglot.jpg"])]["status"] == "unknown"  # still hashed as the image it is
    assert rows[f"{s['polyglot.jpg']}!/hidden.jpg"]["pdq"]
    codes = named(run, str(s["polyglot.jpg"]))
    assert "trailing_data" in codes and "appended_archive" in codes
    message = next(p["message"] for p in run.problems() if p["code"] == "trailing_data")
    assert "application/zip" in message


def test_links_fifos_and_devices_are_recorded_never_followed(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    expected = {"link": "symlink", "hard": "hardlink", "fifo": "fifo", "null": "device", "disk": "device"}
    for member, code in expected.items():
        assert code in named(run, f"{s['specials.tar']}!/{member}"), member
    assert run.files()[f"{s['specials.tar']}!/photo.jpg"]["pdq"]
    for name, target in (("self", "."), ("up", ".."), ("root", "/"), ("proc", "/proc")):
        message = [p["message"] for p in run.problems() if p["path"] == f"{s['links']}/{name}"]
        assert message and repr(target) in message[0], name
    assert "fifo" in named(run, f"{s['links']}/pipe")
    assert not any(p.startswith("/proc/") for p in run.files())


def test_headers_that_lie_about_sizes_cost_no_memory(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    for i in range(8):
        assert named(run, f"{s['lying.zip']}!/big{i}.bin"), i
    assert "zip_bomb" in named(run, f"{s['liar.zip']}!/zeros.bin")


def test_a_huge_png_is_refused_from_its_header(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    row = run.files()[str(s["huge.png"])]
    assert row["error_code"] == "too_large_to_decode" and row["sha256"], row


def test_bombs_under_the_per_member_check_are_stopped_by_the_source_budget(
    hostile: tuple[Run, dict, list],
) -> None:
    run, s, _ = hostile
    problems = run.problems()
    nest = [p for p in problems if p["path"].startswith(str(s["nest.zip"])) and p["code"] == "zip_bomb"]
    assert nest, "the nest's leaves past the budget are named"
    read = [
        r
        for r in run.files().values()
        if r["path"].startswith(f"{s['nest.zip']}!/") and r["path"].endswith(".bin")
    ]
    assert 0 < len(read) * (4 * hb.MiB) <= 300 * hb.MiB  # about 256 MiB of leaves hashed, not 16 GiB
    for name, n in (("overlap.zip", 2000), ("overlap_full.zip", 2000)):
        members = [p for p in problems if p["path"].startswith(f"{s[name]}!/") and p["code"] == "zip_bomb"]
        assert len(members) == n, (name, len(members))
        assert not any(p["code"] == "corrupt_archive" for p in problems if p["path"].startswith(str(s[name])))


def test_pngs_with_huge_ancillary_chunks_are_hashed(hostile: tuple[Run, dict, list]) -> None:
    run, s, _ = hostile
    rows = run.files()
    for name in ("ztxt.png", "iccp.png", "texts.png"):
        assert rows[str(s[name])]["pdq"] and not rows[str(s[name])]["error_code"], name
        assert "ancillary_chunks_skipped" in named(run, str(s[name])), name


def test_rerun_into_the_same_case_resumes_with_non_utf8_names(
    hostile: tuple[Run, dict, list], tmp_path: Path
) -> None:
    _, s, benign = hostile
    again = triage([benign[0].parent, s["names"], s["names.tar"]], tmp_path / "out", "-j", "1")
    assert again.code == 0, again.stderr[-2000:]
    rerun = triage([benign[0].parent, s["names"], s["names.tar"]], tmp_path / "out", "-j", "1")
    assert rerun.code == 0, rerun.stderr[-2000:]
    for name in ("files.csv", "problems.csv", "vics.json", "summary.json"):
        assert (again.out / name).read_bytes() == (rerun.out / name).read_bytes(), name


def test_memory_stays_bounded_with_four_workers_and_big_members(tmp_path: Path) -> None:
    """Members too big to hold are streamed through the hashers (a tar inside one walked from the same
    stream); lying headers, a huge PNG and bombs are refused; four workers share the same bound."""
    benign = benign_folder(tmp_path / "benign")
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "lying.zip").write_bytes(hb.zip_lying_sizes())
    (evil / "liar.zip").write_bytes(hb.zip_member_larger_than_declared())
    (evil / "eight.tar.bz2").write_bytes(hb.tar_bz2_of_zeros([(f"m{i}.bin", 511 * hb.MiB) for i in range(8)]))
    (evil / "huge.png").write_bytes(hb.huge_png())
    inner = tmp_path / "inner.tar"
    hb.sparse_tar(inner, [("deep.jpg", hb.jpeg("teal"), 40 * 1024)])
    hb.sparse_tar(
        evil / "big.tar",
        [
            ("video.bin", b"", 200 * hb.MiB),  # "other", five times the hold limit: streamed, never held
            ("photo.jpg", hb.jpeg("olive", 64), 64 * hb.MiB),  # an image too big to decode: digests only
            ("inner.tar", inner.read_bytes(), 64 * hb.MiB),  # a tar too big to hold: walked as it streams
        ],
    )
    with open(evil / "big-folder.jpg", "wb") as fh:  # a folder image over the hold limit
        fh.write(hb.jpeg("maroon", 64))
        fh.truncate(64 * hb.MiB)
    run = triage(
        [tmp_path / "benign", *sorted(evil.iterdir())],
        tmp_path / "out",
        "--max-memory",
        MEMORY,
        "-j",
        "4",
        timeout=SECONDS + 60,
    )
    assert run.code == 0, run.stderr[-3000:]
    assert run.seconds < SECONDS, run.seconds
    assert run.peak_rss < MEMORY_BYTES, f"peak {run.peak_rss >> 20} MiB over the {MEMORY} bound"
    assert_benign_all_there(run, benign)
    rows = run.files()
    video = rows[f"{evil}/big.tar!/video.bin"]
    assert int(video["size"]) == 200 * hb.MiB
    assert video["sha256"] == "72abf2ca8f36943ebe2e49ca3a51d409ca5f0bfcffab6c9d25643c17c32889da"
    for path in (f"{evil}/big.tar!/photo.jpg", f"{evil}/big-folder.jpg"):
        assert rows[path]["error_code"] == "file_too_large" and rows[path]["sha256"], path
    assert rows[f"{evil}/big.tar!/inner.tar!/deep.jpg"]["pdq"]
    assert int(rows[f"{evil}/big.tar!/inner.tar"]["size"]) == 64 * hb.MiB
    print(f"four workers: {run.seconds:.1f} s, peak {run.peak_rss >> 20} MiB")


def test_a_killed_run_leaves_no_temporary_folder_after_its_rerun(tmp_path: Path) -> None:
    """SIGKILL leaves multiprocessing's pymp-* folder in the temporary folder; the rerun removes it."""
    folder = tmp_path / "photos"
    for k in range(15):
        benign_folder(folder / f"d{k}")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "HAVEN_DATA_DIR": str(tmp_path / "data"),
        "HAVEN_DATABASE_URL": f"sqlite:///{tmp_path / 'banks.db'}",
    }
    out = tmp_path / "out"
    args = [HAVEN, "triage", str(folder), "--out", str(out), "--no-progress", "--no-banks", "-j", "2"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / "workers.tmp.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in temp.iterdir() if p.name.startswith("pymp-")]
    assert left, "a killed run leaves its multiprocessing folder (the finding this test guards)"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert not [p.name for p in temp.iterdir() if p.name.startswith("pymp-")]
    start = [json.loads(line) for line in (out / "run.log").read_text().splitlines()][-2]
    assert start["event"] == "start" and start["removed_stale_temp_folder"].endswith(left[0])
