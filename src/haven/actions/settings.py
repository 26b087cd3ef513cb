"""Action settings (read from the environment by the shells; documented in docs/actions.md).

| variable                    | default    | meaning |
|-----------------------------|------------|---------|
| HAVEN_JOBS_URL              | (empty)    | job queue: empty = the database; ``redis://…``; ``amqp://…`` |
| HAVEN_WORKER_THREADS        | 2          | jobs run at once by ``haven worker`` / the embedded worker |
| HAVEN_EMBEDDED_WORKER       | 1          | ``haven serve`` runs a worker (0: ``haven worker`` does) |
| HAVEN_WEBHOOK_TRIES         | 8          | tries before a delivery is dead-lettered (``max_tries``) |
| HAVEN_WEBHOOK_BACKOFF       | 2          | seconds before the first retry; doubles, at most 10 min |
| HAVEN_WEBHOOK_TIMEOUT       | 10         | seconds per delivery |
| HAVEN_DETERRENCE_MESSAGE    | (built in) | the deterrence text returned to the uploading client |
| HAVEN_AUDIT_ANCHOR_FILE     | (none)     | append the audit chain head here every interval |
| HAVEN_AUDIT_ANCHOR_INTERVAL | 3600       | seconds between anchors |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haven.errors import UsageError

DEFAULT_DETERRENCE = (
    "This upload matched known child sexual abuse material and was not accepted. Viewing, sharing or "
    "keeping such images is illegal and causes real harm to the children in them. If you are worried about "
    "your own thoughts or behaviour, confidential help is available."
)
DEFAULT_RESOURCES: tuple[dict[str, str], ...] = (
    {"name": "Stop It Now (US)", "url": "https://www.stopitnow.org", "phone": "1-888-773-8368"},
    {"name": "Stop It Now (UK and Ireland)", "url": "https://www.stopitnow.org.uk", "phone": "0808 1000 900"},
)


@dataclass(frozen=True)
class ActionSettings:
    jobs_url: str = ""
    worker_threads: int = 2
    embedded_worker: bool = True
    webhook_tries: int = 8
    webhook_backoff: float = 2.0
    webhook_max_backoff: float = 600.0
    webhook_timeout: float = 10.0
    deterrence_message: str = DEFAULT_DETERRENCE
    deterrence_resources: tuple[dict[str, str], ...] = field(default=DEFAULT_RESOURCES)
    anchor_file: Path | None = None
    anchor_interval: float = 3600.0
    job_lease_seconds: float = 60.0

    def deterrence(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        p = params or {}
        return {
            "message": p.get("message") or self.deterrence_message,
            "resources": list(p.get("resources") or self.deterrence_resources),
        }

    @classmethod
    def from_env(cls) -> ActionSettings:
        env = os.environ
        try:
            return cls(
                jobs_url=env.get("HAVEN_JOBS_URL", ""),
                worker_threads=int(env.get("HAVEN_WORKER_THREADS", 2)),
                embedded_worker=env.get("HAVEN_EMBEDDED_WORKER", "1") not in ("0", "false", "no"),
                webhook_tries=int(env.get("HAVEN_WEBHOOK_TRIES", 8)),
                webhook_backoff=float(env.get("HAVEN_WEBHOOK_BACKOFF", 2.0)),
                webhook_timeout=float(env.get("HAVEN_WEBHOOK_TIMEOUT", 10.0)),
                deterrence_message=env.get("HAVEN_DETERRENCE_MESSAGE") or DEFAULT_DETERRENCE,
                anchor_file=Path(env["HAVEN_AUDIT_ANCHOR_FILE"])
                if env.get("HAVEN_AUDIT_ANCHOR_FILE")
                else None,
                anchor_interval=float(env.get("HAVEN_AUDIT_ANCHOR_INTERVAL", 3600)),
            )
        except ValueError as exc:
            raise UsageError(f"bad HAVEN_* action setting: {exc}") from None
