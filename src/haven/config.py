"""Settings, read from the environment once, with documented defaults.

| variable              | default                                   |
|-----------------------|-------------------------------------------|
| HAVEN_DATA_DIR        | ``$XDG_DATA_HOME/haven`` or ``~/.local/share/haven`` |
| HAVEN_DATABASE_URL    | ``sqlite:///<HAVEN_DATA_DIR>/haven.db``    |
| HAVEN_MAX_PIXELS      | 178956970 (same as Pillow's bomb error limit: 2 × 89.5 MP) |
| HAVEN_MAX_FILE_BYTES  | 2 GiB (images larger than this are refused before decoding) |
| HAVEN_MASTER_KEY      | — (base64 master key(s), newest first, comma-separated; see ``haven.secrets``) |
| HAVEN_MASTER_KEY_FILE | ``$XDG_CONFIG_HOME/haven/master.key`` or ``~/.config/haven/master.key`` |
| HAVEN_SECRET_KEY      | — (legacy: Fernet key of pre-key-ring credentials; read only to migrate them) |
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


def _default_master_key_file() -> Path:
    # Outside the data folder on purpose: a copy of the data must not be a copy of the key.
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "haven" / "master.key"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str = ""
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    #: Legacy only: opens NCMEC credentials sealed before the master key ring, so they can be re-sealed.
    legacy_secret_key: str | None = field(default=None, repr=False)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'haven.db'}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or _default_master_key_file()

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            data_dir=Path(env["HAVEN_DATA_DIR"]) if env.get("HAVEN_DATA_DIR") else _default_data_dir(),
            database_url=env.get("HAVEN_DATABASE_URL", ""),
            max_pixels=int(env.get("HAVEN_MAX_PIXELS", DEFAULT_MAX_PIXELS)),
            max_file_bytes=int(env.get("HAVEN_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)),
            master_key=env.get("HAVEN_MASTER_KEY") or None,
            master_key_file=Path(env["HAVEN_MASTER_KEY_FILE"]) if env.get("HAVEN_MASTER_KEY_FILE") else None,
            legacy_secret_key=env.get("HAVEN_SECRET_KEY") or None,
        )
