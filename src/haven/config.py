"""Settings, read from the environment once, with documented defaults.

| variable              | default                                   |
|-----------------------|-------------------------------------------|
| HAVEN_DATA_DIR        | ``$XDG_DATA_HOME/haven`` or ``~/.local/share/haven`` |
| HAVEN_DATABASE_URL    | ``sqlite:///<HAVEN_DATA_DIR>/haven.db``    |
| HAVEN_MAX_PIXELS      | 178956970 (same as Pillow's bomb error limit: 2 × 89.5 MP) |
| HAVEN_MAX_FILE_BYTES  | 2 GiB (images larger than this are refused before decoding) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_PIXELS = 178_956_970
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "haven"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str = ""
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'haven.db'}"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            data_dir=Path(env["HAVEN_DATA_DIR"]) if env.get("HAVEN_DATA_DIR") else _default_data_dir(),
            database_url=env.get("HAVEN_DATABASE_URL", ""),
            max_pixels=int(env.get("HAVEN_MAX_PIXELS", DEFAULT_MAX_PIXELS)),
            max_file_bytes=int(env.get("HAVEN_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)),
        )
