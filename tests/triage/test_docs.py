"""docs/triage.md covers every `haven triage` option, every summary key and every CSV column."""

from __future__ import annotations

from pathlib import Path

import typer.main

from haven.cli.main import app
from haven.triage.casedb import case_signals
from haven.triage.export import csv_columns

DOC = (Path(__file__).resolve().parents[2] / "docs" / "triage.md").read_text()


def test_every_option_is_documented() -> None:
    group = typer.main.get_command(app)
    command = group.commands["triage"]  # type: ignore[attr-defined]
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            names = [*param.opts, *getattr(param, "secondary_opts", [])]
            assert any(opt in DOC for opt in names), names


def test_summary_keys_and_csv_columns_are_documented() -> None:
    from haven.triage.analyse import analyse

    for key in [*analyse([], [], None).summary(), "out"]:  # every key the summary line has
        assert f"| `{key}` |" in DOC, key
    assert ",".join(csv_columns(case_signals())) in DOC
