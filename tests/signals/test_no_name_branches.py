"""Outside ``haven.signals`` (and migrations), no code branches on a signal's name: what a signal does is
asked of the signal (its lookup kind, input, output shape), so a new one is matched and shown right
without a change elsewhere. A mechanical check over the source."""

from __future__ import annotations

import re
from pathlib import Path

from haven.signals import signal_names

SRC = Path(__file__).resolve().parents[2] / "src" / "haven"
NAMES = "|".join(map(re.escape, signal_names()))
BRANCH = re.compile(
    rf"""(==|!=|\bin)\s*\(?\s*["']({NAMES})["']"""  # x == "pdq", x in ("md5", …
    rf"""|["']({NAMES})["']\s*(==|!=|\bin\b)"""  # "pdq" == x, "pdq" in x
)


def test_no_branch_on_a_signal_name_outside_signals() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "signals" or "migrations" in rel.parts:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if BRANCH.search(line.split("#", 1)[0]):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def test_the_check_sees_a_branch() -> None:
    assert BRANCH.search('if sig.name == "pdq":') and BRANCH.search('if e.signal in ("md5", "sha1"):')
    assert BRANCH.search('if "md5" in algorithms:') and not BRANCH.search('x = get_signal("pdq")')
