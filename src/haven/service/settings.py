"""Service settings: the shared ``haven.config.Settings`` plus the limits only the API needs.

Every limit is per worker process; docs/security.md gives each one's reason.

| variable                    | default      | meaning                                             |
|-----------------------------|--------------|-----------------------------------------------------|
| HAVEN_MAX_UPLOAD_BYTES      | 52428800     | largest uploaded file (50 MiB)                      |
| HAVEN_MAX_UPLOAD_PIXELS     | 50000000     | largest uploaded image (pixels, decompression bombs)|
| HAVEN_DECODE_MEMORY         | 1610612736   | bytes all concurrent image decodes may use (1.5 GiB)|
| HAVEN_UPLOAD_TIMEOUT        | 30           | seconds to receive a body, and again to hash it     |
| HAVEN_MAX_BODY_IN_FLIGHT    | 268435456    | request body bytes buffered at once (256 MiB)       |
| HAVEN_MAX_CONNECTIONS       | 1000         | open connections; more are closed at once           |
| HAVEN_HEADER_TIMEOUT        | 10           | seconds for a connection to send a request's headers|
| HAVEN_KEEPALIVE_TIMEOUT     | 5            | whole seconds an idle keep-alive connection stays open |
| HAVEN_RATE_LIMIT            | 1000         | requests/s per key per worker (0 = unlimited)       |
| HAVEN_REFRESH_INTERVAL      | 0.25         | seconds between index refreshes (hot updates)       |
| HAVEN_FETCH_MAX_BYTES       | 52428800     | largest file fetched by URL                         |
| HAVEN_FETCH_TIMEOUT         | 10           | total seconds for one URL fetch, redirects included |
| HAVEN_FETCH_CONCURRENCY     | 8            | URL fetches at once (more wait up to 1 s, then 503) |
| HAVEN_FETCH_ALLOW           | (empty)      | TEST ONLY: networks exempt from the SSRF guard      |
| HAVEN_RECORD_MATCHES        | 1            | keep each match result for GET /v1/matches/{id}     |
| HAVEN_SESSION_IDLE_MINUTES  | 30           | web sessions end after this long unused             |
| HAVEN_SESSION_MAX_HOURS     | 12           | web sessions end this long after sign-in, used or not|
| HAVEN_LOGIN_MAX_FAILURES    | 5            | failed sign-ins (15 min) that lock an account       |
| HAVEN_LOGIN_LOCK_MINUTES    | 15           | how long an account or address stays locked         |
| HAVEN_LOGIN_ADDRESS_MAX_FAILURES | 20      | failed sign-ins (15 min) that block a client address|
| HAVEN_PASSWORD_MIN_LENGTH   | 15           | shortest password a person may choose               |
| HAVEN_TRUSTED_ORIGINS       | (empty)      | extra origins whose form posts are accepted (proxy) |

The identity settings are ``haven.auth.AuthPolicy`` (its docstrings give the reasons for each default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from haven.actions.runtime import RuntimeSettings
from haven.auth.policy import AuthPolicy
from haven.config import Settings
from haven.portal.notify import SmtpSettings
from haven.portal.web.settings import smtp_from_env

MiB = 1024 * 1024


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


@dataclass(frozen=True)
class ServiceSettings:
    base: Settings = field(default_factory=Settings)
    max_upload_bytes: int = 50 * MiB
    max_upload_pixels: int = 50_000_000
    decode_memory: int = 1536 * MiB
    upload_timeout: float = 30.0
    max_body_in_flight: int = 256 * MiB
    max_connections: int = 1000
    header_timeout: float = 10.0
    keepalive_timeout: int = 5
    rate_limit: float = 1000.0
    refresh_interval: float = 0.25
    fetch_max_bytes: int = 50 * MiB
    fetch_timeout: float = 10.0
    fetch_concurrency: int = 8
    fetch_allow: str = ""
    record_matches: bool = True
    migrate: bool = True
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)  # rules, jobs, vault (docs/actions.md)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)  # the recovery portal's notifications
    portal_min_cell: int = 5

    @property
    def database_url(self) -> str:
        return self.base.resolved_database_url

    @classmethod
    def from_env(cls) -> ServiceSettings:
        base = Settings.from_env()
        return cls(
            base=base,
            runtime=RuntimeSettings.from_env(base, dev=os.environ.get("HAVEN_DEV") == "1"),
            max_upload_bytes=_env_int("HAVEN_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            max_upload_pixels=_env_int("HAVEN_MAX_UPLOAD_PIXELS", cls.max_upload_pixels),
            decode_memory=_env_int("HAVEN_DECODE_MEMORY", cls.decode_memory),
            upload_timeout=_env_float("HAVEN_UPLOAD_TIMEOUT", cls.upload_timeout),
            max_body_in_flight=_env_int("HAVEN_MAX_BODY_IN_FLIGHT", cls.max_body_in_flight),
            max_connections=_env_int("HAVEN_MAX_CONNECTIONS", cls.max_connections),
            header_timeout=_env_float("HAVEN_HEADER_TIMEOUT", cls.header_timeout),
            keepalive_timeout=_env_int("HAVEN_KEEPALIVE_TIMEOUT", cls.keepalive_timeout),
            rate_limit=_env_float("HAVEN_RATE_LIMIT", cls.rate_limit),
            refresh_interval=_env_float("HAVEN_REFRESH_INTERVAL", cls.refresh_interval),
            fetch_max_bytes=_env_int("HAVEN_FETCH_MAX_BYTES", cls.fetch_max_bytes),
            fetch_timeout=_env_float("HAVEN_FETCH_TIMEOUT", cls.fetch_timeout),
            fetch_concurrency=_env_int("HAVEN_FETCH_CONCURRENCY", cls.fetch_concurrency),
            fetch_allow=os.environ.get("HAVEN_FETCH_ALLOW", ""),
            record_matches=os.environ.get("HAVEN_RECORD_MATCHES", "1") not in ("0", "false", "no"),
            migrate=os.environ.get("HAVEN_SERVICE_MIGRATE", "1") not in ("0", "false", "no"),
            auth=auth_policy_from_env(),
            smtp=smtp_from_env(),
            portal_min_cell=_env_int("HAVEN_PORTAL_MIN_CELL", 5),
        )


def auth_policy_from_env() -> AuthPolicy:
    """The identity module's policy with the ``HAVEN_SESSION_*`` / ``HAVEN_LOGIN_*`` overrides (above)."""
    d = AuthPolicy()
    lock = _env_float("HAVEN_LOGIN_LOCK_MINUTES", d.user_lock_seconds / 60) * 60
    return AuthPolicy(
        session_idle_seconds=_env_float("HAVEN_SESSION_IDLE_MINUTES", d.session_idle_seconds / 60) * 60,
        session_absolute_seconds=_env_float("HAVEN_SESSION_MAX_HOURS", d.session_absolute_seconds / 3600)
        * 3600,
        user_max_failures=_env_int("HAVEN_LOGIN_MAX_FAILURES", d.user_max_failures),
        user_lock_seconds=lock,
        address_max_failures=_env_int("HAVEN_LOGIN_ADDRESS_MAX_FAILURES", d.address_max_failures),
        address_lock_seconds=lock,
        password_min_length=_env_int("HAVEN_PASSWORD_MIN_LENGTH", d.password_min_length),
        trusted_origins=tuple(o.strip() for o in os.environ.get("HAVEN_TRUSTED_ORIGINS", "").split(",")
                              if o.strip()),
    )
