"""Coverage-guided fuzzing of Haven's image decoding + hashing (atheris).

Any exception other than ``haven.errors.InputError`` is a bug (a crash of the whole run in bulk work).

    .venv/bin/python fuzz/fuzz_decode.py fuzz/corpus_decode -max_total_time=300
    make fuzz                                   # same, 60 s

The seed corpus is made from the shared photos by ``make_seeds`` (small re-encodings in every format).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from haven.errors import InputError
    from haven.hashing import hash_bytes

MAX_PIXELS = 4_000_000  # keep each input cheap; bombs are still exercised through the header check


def test_one(data: bytes) -> None:
    try:
        hash_bytes(data, "fuzz-input", max_pixels=MAX_PIXELS)
    except InputError:
        pass


def make_seeds(out: Path, photos: Path) -> None:
    """Small encodings of a few shared photos in every supported format."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    sources = sorted(photos.glob("*.jpg"))[:2] + sorted(photos.glob("*.png"))[:2]
    for i, src in enumerate(sources):
        with Image.open(src) as im:
            small = im.convert("RGB").resize((48, 32))
        for fmt in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"):
            buf = io.BytesIO()
            small.save(buf, fmt)
            (out / f"seed{i}.{fmt.lower()}").write_bytes(buf.getvalue())


def main() -> None:
    corpus = next((Path(a) for a in sys.argv[1:] if not a.startswith("-")), None)
    if corpus is not None and not any(corpus.glob("*")):
        make_seeds(corpus, Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos")
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
