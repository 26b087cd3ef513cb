"""``haven bench spark``: files/s of ``haven spark scan`` on ``local[1]`` and ``local[2]`` against
``haven match`` on one core, on the same files and bank, in the same run.

The files are copies of the photos (each copy re-encoded a little so no two share a digest), the bank
holds the PDQ of every tenth one, the MD5 of every twentieth and ``noise`` random PDQ values. The CLI
is timed as a user runs it (``haven match --fast --upscaled -j 1``, process start to exit); each Spark
run is timed from listing to the last row written, after a warm-up scan of a few files on the same
session (the JVM start and the Python workers' first import are reported apart: a cluster pays them
once per job, not per file).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from haven.banks import BankStore, EntryIn
from haven.hashing import hash_bytes
from haven.store.db import upgrade_database


def build_corpus(photos: Path, folder: Path, count: int) -> list[Path]:
    """``count`` JPEGs in ``folder``: the photos, cycled, each re-encoded at a quality of its own."""
    from PIL import Image

    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    folder.mkdir(parents=True)
    out = []
    for k in range(count):
        src = sources[k % len(sources)]
        if k < len(sources):
            dest = folder / src.name
            shutil.copyfile(src, dest)
        else:
            with Image.open(src) as im:
                buf = io.BytesIO()
                im.convert("RGB").save(buf, "JPEG", quality=70 + k % 25)
            dest = folder / f"{src.stem}-{k}.jpg"
            dest.write_bytes(buf.getvalue())
        out.append(dest)
    return out


def build_bank(url: str, files: list[Path], noise: int) -> None:
    upgrade_database(url)
    rng = random.Random(18)
    entries = []
    for k, f in enumerate(files):
        if k % 10 == 0:
            entries.append(
                EntryIn("pdq", hash_bytes(f.read_bytes(), str(f), ("pdq",), fast=True).hashes["pdq"])
            )
        if k % 20 == 5:
            entries.append(EntryIn("md5", hash_bytes(f.read_bytes(), str(f), ("md5",)).hashes["md5"]))
    entries.extend(EntryIn("pdq", f"{rng.getrandbits(256):064x}") for _ in range(noise))
    with BankStore(url) as store:
        store.create_bank("bench")
        store.add_entries("bench", entries)


def _cli_rate(folder: Path, files: int, env: dict[str, str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "haven.cli.main",
        "match",
        str(folder),
        "--fast",
        "--upscaled",
        "--json",
        "-j",
        "1",
    ]
    started = time.perf_counter()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = run.stdout.splitlines()
    matched = sum('"matches": [{' in line for line in lines)
    return {
        "seconds": round(seconds, 2),
        "files_per_second": round(files / seconds, 2),
        "exit": run.returncode,
        "files": len(lines),
        "matched": matched,
    }


def run_bench(
    photos: Path, work: Path, *, files: int = 240, noise: int = 10_000, cores: tuple[int, ...] = (1, 2)
) -> dict[str, Any]:
    from haven.spark.scan import run_scan
    from haven.spark.session import build_session
    from haven.spark.work import ScanConfig

    folder = work / "files"
    corpus = build_corpus(photos, folder, files)
    url = f"sqlite:///{work / 'haven.db'}"
    build_bank(url, corpus, noise)
    env = {**os.environ, "HAVEN_DATABASE_URL": url, "HAVEN_DATA_DIR": str(work / "data")}
    for f in corpus:  # the page cache warm for every contender
        f.read_bytes()
    result: dict[str, Any] = {
        "files": files,
        "bank_entries": noise + files // 10 + files // 20,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
    }
    result["haven_match_1_core"] = _cli_rate(folder, files, env)
    warm_folder = work / "warm"
    warm_folder.mkdir()
    for f in corpus[:4]:
        shutil.copyfile(f, warm_folder / f.name)
    config = ScanConfig(database_url=url, banks=("bench",))
    for n in cores:
        started = time.perf_counter()
        spark = build_session(
            f"local[{n}]",
            app_name="haven bench spark",
            ui=False,
            conf={"spark.sql.shuffle.partitions": str(n), "spark.default.parallelism": str(n)},
        )
        try:
            session = time.perf_counter() - started
            t0 = time.perf_counter()
            run_scan(
                spark,
                [str(warm_folder)],
                str(work / f"warm-{n}"),
                config,
                index_dir=work / "data" / "index",
                files_per_task=2,
            )
            warm = time.perf_counter() - t0
            summary = run_scan(
                spark,
                [str(folder)],
                str(work / f"out-{n}"),
                config,
                index_dir=work / "data" / "index",
            )  # the scan's own task size (`haven spark scan --files-per-task`, 16)
        finally:
            spark.stop()
        result[f"spark_local_{n}"] = {
            "seconds": round(summary.seconds, 2),
            "files_per_second": round(summary.files_per_second, 2),
            "matched": summary.matched,
            "files": summary.files,
            "session_start_s": round(session, 1),
            "warm_up_s": round(warm, 1),
        }
    cli = result["haven_match_1_core"]["files_per_second"]
    one = result.get("spark_local_1", {}).get("files_per_second")
    two = result.get("spark_local_2", {}).get("files_per_second")
    if one:
        result["per_core_vs_cli"] = round(one / cli, 2)
    if one and two:
        result["scaling_1_to_2"] = round(two / one, 2)
    result["load_average_after"] = os.getloadavg()[0]
    return result
