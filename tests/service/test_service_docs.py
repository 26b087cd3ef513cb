"""docs/api.md covers every route of the OpenAPI document, every service setting and every CLI command."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from haven.config import Settings
from haven.service.app import create_app
from haven.service.settings import ServiceSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_route_is_documented(tmp_path: Path) -> None:
    app = create_app(ServiceSettings(base=Settings(data_dir=tmp_path)))
    text = (DOCS / "api.md").read_text()
    for path, ops in app.openapi()["paths"].items():
        for method in ops:
            # Documented as "`METHOD /path`" or grouped as "`GET /a`, `DELETE /a`".
            assert re.search(rf"{method.upper()} {re.escape(path)}(?![\w/{{])", text), (
                f"{method.upper()} {path} undocumented"
            )
    app.state.haven.keys.close()


def test_every_setting_is_documented() -> None:
    text = (DOCS / "api.md").read_text() + (DOCS / "security.md").read_text()
    source = (Path(__file__).resolve().parents[2] / "src/haven/service/settings.py").read_text()
    names = set(re.findall(r'"(HAVEN_[A-Z_]+)"', source)) - {"HAVEN_SERVICE_MIGRATE"}  # internal to serve
    assert len(names) >= len(
        [f for f in dataclasses.fields(ServiceSettings) if f.name not in ("base", "migrate")]
    )
    for name in names:
        assert name in text, f"{name} undocumented"


def test_cli_commands_are_documented() -> None:
    text = (DOCS / "api.md").read_text()
    for command in (
        "haven serve",
        "haven keys create",
        "haven keys list",
        "haven keys revoke",
        "haven bench service",
    ):
        assert command in text
