"""``haven bench hash``: Haven's PDQ (exact and fast) against PIL + ``pdqhash`` on the same photos.

The peer is what python-threatexchange and HMA run:
``pdqhash.compute(np.asarray(Image.open(p).convert("RGB")))``.
All three run single-threaded, interleaved in rounds on the same files (page cache warmed first),
and the best round of each is reported, since this machine is shared and noisy.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import typer

from haven.cli.common import emit_json, stdout
from haven.errors import UsageError
from haven.hashing import hash_file, iter_input_files

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


def _bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def run_bench_hash(photos: Path, rounds: int, limit: int | None) -> dict[str, object]:
    try:
        import numpy as np
        import pdqhash
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - bench extra missing
        raise UsageError("the peer `pdqhash` is not installed: pip install 'haven[bench]'") from exc

    files = [p for p in iter_input_files([photos]) if p.suffix.lower() in IMAGE_SUFFIXES]
    if limit:
        files = files[:limit]
    if not files:
        raise UsageError(f"{photos}: no images found")
    for p in files:  # warm the page cache so every contender reads from memory
        p.read_bytes()

    def peer(p: Path) -> str:
        with Image.open(p) as im:
            bits, _q = pdqhash.compute(np.asarray(im.convert("RGB")))
        return "{:064x}".format(int("".join(str(int(b)) for b in bits), 2))

    def exact(p: Path) -> str:
        return hash_file(p, ("pdq",)).hashes["pdq"]

    def fast(p: Path) -> str:
        return hash_file(p, ("pdq",), fast=True).hashes["pdq"]

    contenders = {"pdqhash": peer, "haven_exact": exact, "haven_fast": fast}
    best: dict[str, float] = {name: float("inf") for name in contenders}
    outputs: dict[str, list[str]] = {}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            outputs[name] = [fn(p) for p in files]
            best[name] = min(best[name], time.perf_counter() - t0)
    n = len(files)
    rate = {name: n / best[name] for name in contenders}
    exact_mismatch = sum(a != b for a, b in zip(outputs["pdqhash"], outputs["haven_exact"], strict=True))
    jpeg = [i for i, p in enumerate(files) if p.suffix.lower() in (".jpg", ".jpeg")]
    dev = sorted(_bits(outputs["haven_exact"][i], outputs["haven_fast"][i]) for i in range(n))
    dev_jpeg = sorted(_bits(outputs["haven_exact"][i], outputs["haven_fast"][i]) for i in jpeg)

    def p99(xs: list[int]) -> int:
        return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))] if xs else 0

    return {
        "images": n,
        "jpeg_images": len(jpeg),
        "rounds": rounds,
        "pdqhash_ips": round(rate["pdqhash"], 1),
        "haven_exact_ips": round(rate["haven_exact"], 1),
        "haven_fast_ips": round(rate["haven_fast"], 1),
        "ratio_exact_vs_pdqhash": round(rate["haven_exact"] / rate["pdqhash"], 2),
        "ratio_fast_vs_pdqhash": round(rate["haven_fast"] / rate["pdqhash"], 2),
        "exact_mismatches_vs_pdqhash": exact_mismatch,
        "fast_dev_mean_bits": round(statistics.fmean(dev), 2),
        "fast_dev_p99_bits": p99(dev),
        "fast_dev_max_bits": dev[-1],
        "fast_dev_jpeg_mean_bits": round(statistics.fmean(dev_jpeg), 2) if dev_jpeg else 0.0,
        "fast_dev_jpeg_p99_bits": p99(dev_jpeg),
        "fast_dev_jpeg_max_bits": dev_jpeg[-1] if dev_jpeg else 0,
    }


def bench_hash_command(
    photos: Path = typer.Option(Path("../shared/data/photos"), "--photos", help="Folder of images to hash."),
    rounds: int = typer.Option(3, "--rounds", help="Rounds per contender; the best is kept."),
    limit: int = typer.Option(0, "--limit", help="Use only the first N images (0 = all)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Images/s of Haven exact and fast PDQ vs PIL + pdqhash (1 thread each), and the fast path's bit
    deviation."""
    r = run_bench_hash(photos, rounds, limit or None)
    if json_out:
        emit_json(r)
        return
    stdout.print(
        f"{r['images']} images ({r['jpeg_images']} JPEG) from {photos}, best of {rounds} rounds, "
        "1 thread each"
    )
    stdout.print(f"  PIL + pdqhash      {r['pdqhash_ips']:8.1f} images/s")
    stdout.print(
        f"  haven (exact)      {r['haven_exact_ips']:8.1f} images/s   {r['ratio_exact_vs_pdqhash']:.2f}x  "
        f"({r['exact_mismatches_vs_pdqhash']} hashes differ from pdqhash)"
    )
    stdout.print(
        f"  haven --fast       {r['haven_fast_ips']:8.1f} images/s   {r['ratio_fast_vs_pdqhash']:.2f}x"
    )
    stdout.print(
        f"  fast vs exact, all images: mean {r['fast_dev_mean_bits']} / p99 {r['fast_dev_p99_bits']} / "
        f"max {r['fast_dev_max_bits']} bits"
    )
    stdout.print(
        f"  fast vs exact, JPEG only:  mean {r['fast_dev_jpeg_mean_bits']} / "
        f"p99 {r['fast_dev_jpeg_p99_bits']} / "
        f"max {r['fast_dev_jpeg_max_bits']} bits"
    )
