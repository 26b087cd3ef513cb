"""Portal settings, read from the environment by the shells only.

| variable                 | default                          | meaning                                   |
|--------------------------|----------------------------------|-------------------------------------------|
| HAVEN_SMTP_HOST          | (empty: e-mail off, logged only) | SMTP server for notifications             |
| HAVEN_SMTP_PORT          | 25                               |                                           |
| HAVEN_SMTP_FROM          | recovery-network@localhost       | sender address                            |
| HAVEN_SMTP_STARTTLS      | 0                                | 1: upgrade the connection with STARTTLS   |
| HAVEN_SMTP_USER / _PASSWORD | (empty)                       | SMTP login                                |
| HAVEN_PORTAL_MIN_CELL    | 5                                | smallest count shown in survey results    |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from haven.auth.policy import AuthPolicy
from haven.config import Settings
from haven.portal.notify import SmtpSettings


def smtp_from_env() -> SmtpSettings:
    """For shells only: ``HAVEN_SMTP_HOST``, ``_PORT``, ``_FROM``, ``_STARTTLS``, ``_USER``, ``_PASSWORD``."""
    env = os.environ
    return SmtpSettings(
        host=env.get("HAVEN_SMTP_HOST", ""),
        port=int(env.get("HAVEN_SMTP_PORT") or 25),
        sender=env.get("HAVEN_SMTP_FROM") or SmtpSettings.sender,
        starttls=env.get("HAVEN_SMTP_STARTTLS", "0") in ("1", "true", "yes"),
        username=env.get("HAVEN_SMTP_USER", ""),
        password=env.get("HAVEN_SMTP_PASSWORD", ""),
    )


@dataclass(frozen=True)
class PortalSettings:
    base: Settings = field(default_factory=Settings)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    min_cell: int = 5
    migrate: bool = True

    @property
    def database_url(self) -> str:
        return self.base.resolved_database_url

    @classmethod
    def from_env(cls) -> PortalSettings:
        from haven.service.settings import auth_policy_from_env

        return cls(
            base=Settings.from_env(),
            auth=auth_policy_from_env(),
            smtp=smtp_from_env(),
            min_cell=int(os.environ.get("HAVEN_PORTAL_MIN_CELL") or 5),
        )
