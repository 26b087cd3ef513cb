"""docs/auth.md covers the module: every ``haven users`` subcommand, every security-event kind, every file."""

from __future__ import annotations

from pathlib import Path

from haven.auth.events import KINDS
from haven.cli.users_cmd import users_app

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "auth.md").read_text()


def test_every_subcommand_is_documented() -> None:
    names = [c.name for c in users_app.registered_commands]
    assert set(names) == {"add", "list", "disable", "enable", "reset-password", "reset-totp"}
    for name in names:
        assert f"haven users {name}" in DOC, name


def test_every_event_kind_is_documented() -> None:
    for kind in KINDS:
        assert f"| `{kind}` |" in DOC, kind


def test_every_module_file_is_documented() -> None:
    for path in (ROOT / "src" / "haven" / "auth").glob("*.py"):
        if path.name != "__init__.py":
            assert f"`{path.name}`" in DOC, path.name
