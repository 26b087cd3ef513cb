"""Keep the French catalogue in step with the templates: extract the messages, merge them into
``locale/fr/LC_MESSAGES/messages.po`` (new ones empty, gone ones dropped) and report what is untranslated.

    python -m haven.portal.web.update_catalogs        # after changing any text in the portal
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
POT = HERE / "locale" / "messages.pot"


def extract() -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(HERE / "babel.cfg"),
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "--project",
            "haven-portal",
            "-o",
            str(POT),
            str(HERE.parent),
        ],
        check=True,
        capture_output=True,
    )


def merge(language: str) -> list[str]:
    """Merge the template into ``language``'s catalogue; returns the messages still without a translation."""
    po = HERE / "locale" / language / "LC_MESSAGES" / "messages.po"
    with POT.open("rb") as fh:
        template = read_po(fh)
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    with po.open("wb") as fh:
        write_po(fh, catalog, no_location=True, sort_output=True, width=110)
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


if __name__ == "__main__":
    extract()
    missing = merge("fr")
    print("\n".join(f"untranslated: {m}" for m in missing) or "fr: complete")
