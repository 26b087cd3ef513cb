"""Vault settings (read from the environment by the shells; documented in docs/vault.md).

| variable                  | default                 | meaning |
|---------------------------|-------------------------|---------|
| HAVEN_VAULT_DIR           | ``<data dir>/vault``    | where the encrypted blobs live (local file system) |
| HAVEN_RETENTION_DAYS      | 365                     | days kept after its report (REPORT Act: one year) |
| HAVEN_PURGE_INTERVAL      | 3600                    | seconds between runs of the scheduled purge |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from haven.config import Settings
from haven.errors import UsageError


@dataclass(frozen=True)
class VaultSettings:
    vault_dir: Path
    retention_days: float = 365.0
    purge_interval: float = 3600.0

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @classmethod
    def defaults(cls, base: Settings) -> VaultSettings:
        return cls(vault_dir=base.data_dir / "vault")

    @classmethod
    def from_env(cls, base: Settings) -> VaultSettings:
        env = os.environ
        try:
            return cls(
                vault_dir=Path(env["HAVEN_VAULT_DIR"])
                if env.get("HAVEN_VAULT_DIR")
                else base.data_dir / "vault",
                retention_days=float(env.get("HAVEN_RETENTION_DAYS", 365)),
                purge_interval=float(env.get("HAVEN_PURGE_INTERVAL", 3600)),
            )
        except ValueError as exc:
            raise UsageError(f"bad HAVEN_RETENTION_DAYS / HAVEN_PURGE_INTERVAL: {exc}") from None
