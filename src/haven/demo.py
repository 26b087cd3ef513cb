"""The demo bank: benign photos stand in for a hash list, transformed copies stand in for uploads.

``build_demo`` creates (idempotently) the bank ``demo`` (source ``haven-demo``) from the PDQ and MD5
of the first N photos, and writes a query folder with transformed copies of some banked photos
(50 % resize + JPEG q70, JPEG q70 only, a byte-exact copy) and some photos that are not in the bank,
so ``haven match <folder>`` shows hits and misses.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from haven.banks import BankStore, entries_from_hash
from haven.errors import ConflictError, UsageError
from haven.hashing import hash_file

BANK = "demo"
SOURCE = "haven-demo"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
#: What the demo bank holds of each photo: the perceptual hash and the digest most lists carry.
DEMO_SIGNALS = ("pdq", "md5")


def default_photos() -> Path:
    """``../shared/data/photos`` next to the checkout (or relative to the current directory)."""
    for candidate in (Path(__file__).resolve().parents[3] / "shared" / "data" / "photos",
                      Path.cwd().parent / "shared" / "data" / "photos"):
        if candidate.is_dir():
            return candidate
    raise UsageError("no photo folder found; pass --photos DIR")


def list_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _jpeg(src: Path, dst: Path, *, scale: float, quality: int) -> None:
    from PIL import Image

    with Image.open(src) as opened:
        im = opened.convert("RGB")
    if scale != 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.LANCZOS)
    im.save(dst, "JPEG", quality=quality)


def build_demo(store: BankStore, *, out: Path, photos: Path | None = None, count: int = 40,
               hits: int = 6, misses: int = 5) -> dict[str, Any]:
    """Create the demo bank and the query folder ``out``; returns what was made and which queries should
    match."""
    folder = photos or default_photos()
    files = list_photos(folder)
    if count < 1 or len(files) < count + misses:
        raise UsageError(
            f"{folder} has {len(files)} photos; need at least {count + misses} for --count {count}"
        )
    banked, others = files[:count], files[count : count + misses]
    created = False
    try:
        store.create_bank(
            BANK, source=SOURCE, description="Benign stand-in photos for the Haven demo", actor="haven-demo"
        )
        created = True
    except ConflictError:
        pass
    stats = store.bank_stats(BANK)["entries"]
    if not stats:
        entries = []
        for p in banked:
            entries += entries_from_hash(
                hash_file(p, DEMO_SIGNALS),
                category="A",
                category_scheme="uk",
                note=f"demo: {p.name}",
                item=f"demo:{p.name}",
            )
        store.add_entries(BANK, entries, actor="haven-demo")
    queries = out
    if queries.exists():
        shutil.rmtree(queries)
    queries.mkdir(parents=True)
    expected_hits, expected_misses = [], []
    step = max(1, count // hits)
    for k, src in enumerate(banked[::step][:hits]):
        if k == 0:
            dst = queries / f"hit-exact-{src.name}"
            shutil.copyfile(src, dst)
        elif k % 2:
            dst = queries / f"hit-resized50-q70-{src.stem}.jpg"
            _jpeg(src, dst, scale=0.5, quality=70)
        else:
            dst = queries / f"hit-q70-{src.stem}.jpg"
            _jpeg(src, dst, scale=1.0, quality=70)
        expected_hits.append(dst.name)
    for src in others:
        dst = queries / f"miss-{src.stem}.jpg"
        _jpeg(src, dst, scale=1.0, quality=85)
        expected_misses.append(dst.name)
    total = sum(v["total"] for v in store.bank_stats(BANK)["entries"].values())
    return {
        "bank": BANK,
        "created": created,
        "count": count,
        "bank_entries": total,
        "photos": str(folder),
        "queries": str(queries),
        "expected_hits": expected_hits,
        "expected_misses": expected_misses,
    }
