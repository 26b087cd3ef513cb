"""Exchange settings (read from the environment by the shells; documented in docs/exchanges.md).

| variable                   | default | meaning |
|----------------------------|---------|---------|
| HAVEN_EXCHANGE_TICK        | 30      | seconds between looks for due fetches and feedback to send (0: off) |
| HAVEN_EXCHANGE_TIMEOUT     | 60      | seconds per API call |
| HAVEN_EXCHANGE_RETRIES     | 4       | more tries after a network error or 5xx |
| HAVEN_EXCHANGE_FILE_MAX    | 1 GiB   | largest file a ``file`` exchange reads |
| HAVEN_FETCH_ALLOW          | (empty) | TEST ONLY: networks the URL-fetch guard lets through |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from haven.errors import UsageError
from haven.exchanges.clients import ClientSettings


@dataclass(frozen=True)
class ExchangeSettings:
    tick_seconds: float = 30.0
    client: ClientSettings = field(default_factory=ClientSettings)

    @classmethod
    def from_env(cls) -> ExchangeSettings:
        env = os.environ
        try:
            return cls(
                tick_seconds=float(env.get("HAVEN_EXCHANGE_TICK", 30)),
                client=ClientSettings(
                    timeout=float(env.get("HAVEN_EXCHANGE_TIMEOUT", 60)),
                    retries=int(env.get("HAVEN_EXCHANGE_RETRIES", 4)),
                    file_max_bytes=int(env.get("HAVEN_EXCHANGE_FILE_MAX", 1 << 30)),
                    fetch_allow=env.get("HAVEN_FETCH_ALLOW", ""),
                ),
            )
        except ValueError as exc:
            raise UsageError(f"bad HAVEN_EXCHANGE_* setting: {exc}") from None
