"""PDQ against the published reference values in ../shared/reference/pdq (pdqhash-pypi rows)."""

from __future__ import annotations

import csv

import pytest

from haven.hashing import DIHEDRAL_NAMES, hash_file
from haven_testdata import PDQ_REF

IMAGES = PDQ_REF / "images"


def _rows(name: str) -> list[dict[str, str]]:
    with open(PDQ_REF / name, newline="") as fh:
        return list(csv.DictReader(fh))


# The reference rows whose image is shipped (exif-rotn/* are listed but not copied: see its README).
EXPECTED = [
    r
    for r in _rows("expected.csv")
    if r["source"].startswith("pdqhash-pypi") and (IMAGES / r["file"]).exists()
]
DIHEDRAL = [r for r in _rows("dihedral.csv") if (IMAGES / r["file"]).exists()]


def test_reference_set_is_present() -> None:
    assert len(EXPECTED) >= 45, "reference images missing from ../shared/reference/pdq/images"


@pytest.mark.parametrize("row", EXPECTED, ids=[r["file"] for r in EXPECTED])
def test_hash_and_quality_bit_exact(row: dict[str, str]) -> None:
    result = hash_file(IMAGES / row["file"], ("pdq",))
    assert result.get("pdq") == row["pdq_hex"]
    assert result.quality["pdq"] == int(row["quality"])


@pytest.mark.parametrize("file", sorted({r["file"] for r in DIHEDRAL}))
def test_dihedral_variants_bit_exact(file: str) -> None:
    want = {r["transform"]: r["pdq_hex"] for r in DIHEDRAL if r["file"] == file}
    result = hash_file(IMAGES / file, ("pdq",), dihedral=True)
    dihedral = result.to_dict()["dihedral"]
    assert set(dihedral) == set(DIHEDRAL_NAMES)
    assert dihedral == want
    assert dihedral["orig"] == result.get("pdq")
