"""Paths to the shared reference material, importable from any test module.

(A module of its own, not ``conftest``: sub-folders have their own conftest.py files, and
``from conftest import …`` would pick whichever one was imported first.)
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHOTOS = SHARED / "data" / "photos"
PDQ_REF = SHARED / "reference" / "pdq"
NCMEC_REF = SHARED / "reference" / "ncmec"
FORMATS_REF = SHARED / "reference" / "formats"


def drifted_thumbnail(photos: Path, tmp_path: Path) -> tuple[str, Path]:
    """A 320-px picture's PDQ and a file of its 45 % resize whose own PDQ is past 31 bits from it but
    whose upscaled values are within: the first such among the shared photos' quarter crops."""
    import io

    from PIL import Image

    from haven.hashing import hash_bytes

    for src in sorted(photos.glob("*.jpg")):
        with Image.open(src) as im:
            whole = im.convert("RGB")
        whole.thumbnail((640, 640))
        w, h = whole.size
        for box in ((0, 0, w // 2, h // 2), (w // 2, h // 2, w, h)):
            pic = whole.crop(box)
            pic.thumbnail((320, 320))
            buf = io.BytesIO()
            pic.save(buf, "JPEG", quality=90)
            original = hash_bytes(buf.getvalue(), "original", ("pdq",))
            if original.quality["pdq"] < 80:
                continue
            buf = io.BytesIO()
            pic.resize((int(pic.width * 0.45), int(pic.height * 0.45)), Image.Resampling.BILINEAR).save(
                buf, "JPEG", quality=85)
            thumb = hash_bytes(buf.getvalue(), "thumb", ("pdq",), upscaled=True)
            own = (int(thumb.hashes["pdq"], 16) ^ int(original.hashes["pdq"], 16)).bit_count()
            ladder = min((int(v.value, 16) ^ int(original.hashes["pdq"], 16)).bit_count()
                         for v in thumb.variants.get("pdq", ()))
            if own > 31 and ladder <= 31:
                path = tmp_path / "thumb.jpg"
                path.write_bytes(buf.getvalue())
                return original.hashes["pdq"], path
    raise AssertionError("no drifted thumbnail among the shared photos")
