"""docs/reporting.md covers every `haven report` subcommand, every reporting setting and every crash point."""

from __future__ import annotations

import re
from pathlib import Path

DOC = (Path(__file__).resolve().parents[2] / "docs" / "reporting.md").read_text()


def test_every_subcommand_is_documented() -> None:
    from haven.cli.report_cmd import report_app

    names = [c.name or c.callback.__name__ for c in report_app.registered_commands]  # type: ignore[union-attr]
    assert len(names) >= 9
    for name in names:
        assert f"haven report {name}" in DOC, name
    assert "haven ncmec-mock" in DOC


def test_every_setting_is_documented() -> None:
    import haven.reporting.settings as settings

    names = set(re.findall(r"HAVEN_[A-Z_]+", settings.__doc__ or ""))
    assert {"HAVEN_NCMEC_ENV", "HAVEN_NCMEC_URL"} <= names
    # The credentials' keys are haven.config settings, documented here too: the ring and the legacy key.
    for name in names | {"HAVEN_MASTER_KEY", "HAVEN_MASTER_KEY_FILE", "HAVEN_SECRET_KEY"}:
        assert name in DOC, name


def test_every_crash_point_is_documented() -> None:
    source = (Path(__file__).resolve().parents[2] / "src" / "haven" / "reporting" / "machine.py").read_text()
    points = set(re.findall(r'FAULTS\.reach\("([a-z_]+)"\)', source))
    assert len(points) == 7
    for point in points:
        assert point in DOC, point
