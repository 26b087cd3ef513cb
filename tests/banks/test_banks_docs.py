"""docs/banks.md covers the code: every ``haven bank`` subcommand, every format, every category scheme."""

from __future__ import annotations

from pathlib import Path

from haven.banks import FORMATS, SCHEMES
from haven.cli.bank_cmd import bank_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "banks.md").read_text()


def test_every_bank_subcommand_is_documented() -> None:
    names = [c.name for c in bank_app.registered_commands]
    assert len(names) >= 12
    missing = [n for n in names if f"haven bank {n}" not in DOC]
    assert missing == []


def test_every_format_and_scheme_is_documented() -> None:
    assert [f for f in FORMATS if f"| `{f}` |" not in DOC] == []
    assert [s for s in SCHEMES if f"`{s}`" not in DOC] == []
    assert "haven match" in DOC and "low_quality" in DOC and "HAVEN_DATABASE_URL" in DOC
