"""A small generated seizure with known ground truth, and a real bank seeded with some of its originals.

Layout (families f0…f5 are distinct photos; each file is the base or a variant of one):
  phone/            folder: f0 base, resize, recompress, renamed copy; f2 base, resize; notes.txt; empty.dat;
                    broken.jpg (a truncated JPEG)
  backup.zip        f1 base, recompress; f3 base, resize; inner.zip (nested) with f4 base, resize, recompress
  old.tar.gz        f5 base with EXIF GPS + camera serial; f5 recompress; f2 recompress
  bomb.zip          20 MiB of zeros (a zip bomb member) and f1 resize
  evil.zip          f3 recompress stored as "../../f3_q50.jpg" (path traversal)
Bank TEST_BANK: MD5 + PDQ of the f0 and f1 bases, and a PDQ 44 bits from f2's base ("near known").
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from haven.hashing import hash_bytes

FAMILIES = 6
PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos"


def _jpeg(im: Image.Image, quality: int = 90, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    if exif:
        im.save(buf, "JPEG", quality=quality, exif=exif)
    else:
        im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _exif_bytes() -> bytes:
    ex = Image.Exif()
    ex[0x010F] = "FictionalCam"
    ex[0x0110] = "Model X"
    sub = ex.get_ifd(0x8769)
    sub[0xA431] = "SN-0042"
    sub[0x9003] = "2021:06:01 10:11:12"
    gps = ex.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.88)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.2)
    return ex.tobytes()


def family_images(n: int = FAMILIES) -> list[dict[str, bytes]]:
    """For each family: base (q90), r75 (75 % size), q50 (recompressed)."""
    out = []
    for k in range(n):
        with Image.open(PHOTOS / f"{k + 1:04d}.jpg") as src:
            src.draft("RGB", (640, 640))
            im = src.convert("RGB")
        im.thumbnail((320, 320))
        out.append(
            {
                "base": _jpeg(im),
                "r75": _jpeg(im.resize((im.width * 3 // 4, im.height * 3 // 4)), 85),
                "q50": _jpeg(im, 50),
                "exif": _jpeg(im, exif=_exif_bytes()) if k == 5 else b"",
            }
        )
    return out


def flip_bits(pdq: str, n: int) -> str:
    value = int(pdq, 16) ^ ((1 << n) - 1)  # the n lowest bits flipped: exactly n bits away
    return f"{value:064x}"


@dataclass
class Seizure:
    root: Path
    sources: list[Path]
    truth: dict[str, dict[str, object]] = field(default_factory=dict)  # evidence path -> facts
    bank_url: str = ""
    images: list[dict[str, bytes]] = field(default_factory=list)
    near_pdq: str = ""

    def add(self, path: str, family: int | None, what: str) -> None:
        self.truth[path] = {"family": family, "what": what}


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def build_seizure(root: Path) -> Seizure:
    img = family_images()
    root.mkdir(parents=True, exist_ok=True)
    s = Seizure(root=root, sources=[], images=img)
    phone = root / "phone"
    (phone / "DCIM").mkdir(parents=True)
    (phone / "Download").mkdir()
    files = {
        "DCIM/f0_base.jpg": (img[0]["base"], 0, "base"),
        "DCIM/f0_r75.jpg": (img[0]["r75"], 0, "r75"),
        "DCIM/f0_q50.jpg": (img[0]["q50"], 0, "q50"),
        "Download/renamed.dat": (img[0]["base"], 0, "copy"),
        "DCIM/f2_base.jpg": (img[2]["base"], 2, "base"),
        "DCIM/f2_r75.jpg": (img[2]["r75"], 2, "r75"),
        "notes.txt": (b"shopping list\n", None, "other"),
        "empty.dat": (b"", None, "other"),
        "broken.jpg": (img[3]["base"][:700], None, "corrupt"),
    }
    for rel, (data, fam, what) in files.items():
        (phone / rel).write_bytes(data)
        s.add(str(phone / rel), fam, what)
    inner = {"f4_base.jpg": img[4]["base"], "f4_r75.jpg": img[4]["r75"], "f4_q50.jpg": img[4]["q50"]}
    backup = {
        "f1_base.jpg": img[1]["base"],
        "f1_q50.jpg": img[1]["q50"],
        "f3/f3_base.jpg": img[3]["base"],
        "f3/f3_r75.jpg": img[3]["r75"],
        "inner.zip": _zip(inner, zipfile.ZIP_STORED),
    }
    (root / "backup.zip").write_bytes(_zip(backup))
    for name in ("f1_base.jpg", "f1_q50.jpg", "f3/f3_base.jpg", "f3/f3_r75.jpg"):
        s.add(f"{root}/backup.zip!/{name}", int(name.split("_")[0][-1]), name.rsplit("_", 1)[1][:-4])
    for name in inner:
        s.add(f"{root}/backup.zip!/inner.zip!/{name}", 4, name.rsplit("_", 1)[1][:-4])
    with tarfile.open(root / "old.tar.gz", "w:gz") as tf:
        for name, data, fam in (
            ("cam/f5_base.jpg", img[5]["exif"], 5),
            ("cam/f5_q50.jpg", img[5]["q50"], 5),
            ("misc/f2_q50.jpg", img[2]["q50"], 2),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            s.add(f"{root}/old.tar.gz!/{name}", fam, name.rsplit("_", 1)[1][:-4])
    (root / "bomb.zip").write_bytes(
        _zip({"zeros.bin": b"\0" * (20 * 1024 * 1024), "f1_r75.jpg": img[1]["r75"]})
    )
    s.add(f"{root}/bomb.zip!/f1_r75.jpg", 1, "r75")
    (root / "evil.zip").write_bytes(_zip({"../../f3_q50.jpg": img[3]["q50"]}))
    s.add(f"{root}/evil.zip!/../../f3_q50.jpg", 3, "q50")
    s.sources = [phone, root / "backup.zip", root / "old.tar.gz", root / "bomb.zip", root / "evil.zip"]
    return s


def seed_bank(url: str, s: Seizure) -> None:
    from haven.banks.store import BankStore
    from haven.banks.types import EntryIn
    from haven.store.db import upgrade_database

    upgrade_database(url)
    store = BankStore(url)
    store.create_bank("TEST_BANK")
    store.create_bank("OTHER_BANK")
    entries = []
    for fam, victim, category in ((0, True, "1"), (1, False, "2")):
        h = hash_bytes(s.images[fam]["base"], "seed")
        entries += [
            EntryIn(
                signal="md5",
                value=h.hashes["md5"],
                category=category,
                category_scheme="projectvic-us",
                series=f"SERIES-F{fam}",
                victim_identified=victim,
            ),
            EntryIn(
                signal="pdq",
                value=h.hashes["pdq"],
                category=category,
                category_scheme="projectvic-us",
                series=f"SERIES-F{fam}",
                victim_identified=victim,
            ),
        ]
    s.near_pdq = flip_bits(hash_bytes(s.images[2]["base"], "near").hashes["pdq"], 44)
    entries.append(EntryIn(signal="pdq", value=s.near_pdq, category="1", category_scheme="projectvic-us",
                           series="SERIES-NEAR"))
    store.add_entries("TEST_BANK", entries)
    store.close()
