"""Reporting settings, from the environment (documented in docs/reporting.md).

| variable               | default | meaning |
|------------------------|---------|---------|
| HAVEN_NCMEC_ENV        | test    | ``test`` (exttest.cybertip.org), ``production`` (report.cybertip.org) or
any name with HAVEN_NCMEC_URL |
| HAVEN_NCMEC_URL        | —       | base URL override, e.g. a local ``haven ncmec-mock`` (https, or http on
loopback only) |
| HAVEN_NCMEC_TIMEOUT    | 60      | seconds per HTTP request |
| HAVEN_NCMEC_RETRIES    | 4       | retries after the first try, for network errors and 5xx only |
| HAVEN_NCMEC_BACKOFF    | 0.5     | first backoff in seconds (doubles, capped at 16 s, full jitter) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from haven.errors import UsageError


@dataclass(frozen=True)
class ReportingSettings:
    environment: str = "test"
    url: str | None = None
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5

    @classmethod
    def from_env(cls) -> ReportingSettings:
        env = os.environ
        try:
            return cls(
                environment=env.get("HAVEN_NCMEC_ENV", "test") or "test",
                url=env.get("HAVEN_NCMEC_URL") or None,
                timeout=float(env.get("HAVEN_NCMEC_TIMEOUT", 60.0)),
                retries=int(env.get("HAVEN_NCMEC_RETRIES", 4)),
                backoff=float(env.get("HAVEN_NCMEC_BACKOFF", 0.5)),
            )
        except ValueError as exc:
            raise UsageError(f"bad HAVEN_NCMEC_* setting: {exc}") from None
