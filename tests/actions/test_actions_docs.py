"""docs/actions.md, vault.md and audit.md cover every setting and every subcommand of their areas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

REPO = Path(__file__).resolve().parents[2]
DOCS = {name: (REPO / "docs" / f"{name}.md").read_text() for name in ("actions", "vault", "audit")}


@pytest.mark.parametrize(
    "source,doc", [("src/haven/actions/settings.py", "actions"), ("src/haven/evidence/settings.py", "vault")]
)
def test_every_setting_is_documented(source: str, doc: str) -> None:
    names = set(re.findall(r'"(HAVEN_[A-Z_]+)"', (REPO / source).read_text()))
    assert names
    for name in names:
        assert name in DOCS[doc], f"{name} missing from docs/{doc}.md"


@pytest.mark.parametrize(
    "module,attr,prefix,doc",
    [
        ("haven.cli.rules_cmd", "rules_app", "haven rules", "actions"),
        ("haven.cli.rules_cmd", "actions_app", "haven actions", "actions"),
        ("haven.cli.jobs_cmd", "jobs_app", "haven jobs", "actions"),
        ("haven.cli.vault_cmd", "vault_app", "haven vault", "vault"),
        ("haven.cli.audit_cmd", "audit_app", "haven audit", "audit"),
    ],
)
def test_every_subcommand_is_documented(module: str, attr: str, prefix: str, doc: str) -> None:
    import importlib

    app: typer.Typer = getattr(importlib.import_module(module), attr)
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        assert name
        text = DOCS[doc]
        assert f"{prefix} {name}" in text or re.search(rf"`{name}[` ]", text), (
            f"`{prefix} {name}` missing from docs/{doc}.md"
        )


def test_worker_and_bench_documented() -> None:
    assert "haven worker" in DOCS["actions"] and "haven bench actions" in DOCS["actions"]
