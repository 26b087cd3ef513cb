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
