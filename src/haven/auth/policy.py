"""The identity module's tunables, with the defaults and the reasons for them (docs/security.md repeats them).

Shells build one ``AuthPolicy`` (``ServiceSettings.from_env`` reads ``HAVEN_SESSION_*`` / ``HAVEN_LOGIN_*``)
and pass it in; nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthPolicy:
    # Sessions. 30 idle minutes is OWASP's upper band for sensitive applications; 12 hours covers one
    # working shift, so a reviewer signs in once a day and a stolen cookie dies by the next morning.
    session_idle_seconds: float = 30 * 60
    session_absolute_seconds: float = 12 * 3600
    # Time to finish a started sign-in (TOTP code, new password, enrolment) before starting over.
    login_pending_seconds: float = 10 * 60
    # last_seen_at is written at most this often (one UPDATE per minute per session, not per request);
    # idle expiry is therefore exact to within this.
    session_touch_seconds: float = 60

    # Lockout per account: 5 failed passwords or TOTP codes within 15 minutes lock sign-in for 15 minutes.
    # Counted per realm and username whether or not the account exists, so a lock says nothing about
    # which usernames are real. A time lock (not a permanent one) bounds guessing without letting anyone
    # lock a colleague out for good.
    user_max_failures: int = 5
    user_window_seconds: float = 15 * 60
    user_lock_seconds: float = 15 * 60
    # Throttle per client address: 20 failures within 15 minutes block that address for 15 minutes
    # (catches one machine spraying many usernames, which the per-account lock does not).
    address_max_failures: int = 20
    address_window_seconds: float = 15 * 60
    address_lock_seconds: float = 15 * 60

    # Passwords: no composition rules, a minimum length, a maximum that bounds hashing work
    # (NIST SP 800-63B). 15 is that document's minimum for a password that is the only factor.
    password_min_length: int = 15
    password_max_length: int = 256
    # Argon2id, RFC 9106's second recommended option (t=3, 64 MiB, p=4), argon2-cffi's own default.
    # Hashes made with other parameters are re-hashed at the next successful sign-in.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4
    # At most this many hashes at once per process: each takes argon2_memory_kib of memory, and a burst
    # of sign-ins must not take the service's memory with it.
    max_concurrent_hashes: int = 4

    # TOTP (RFC 6238): 6 digits, 30-second steps, SHA-1 (what every authenticator app supports);
    # one step of clock drift either way is accepted.
    totp_digits: int = 6
    totp_step_seconds: int = 30
    totp_drift_steps: int = 1
    totp_issuer: str = "Haven"

    # Origins besides the request's own (scheme://host:port from its Host header) whose form posts are
    # accepted: set it when a reverse proxy rewrites Host (HAVEN_TRUSTED_ORIGINS, comma-separated).
    trusted_origins: tuple[str, ...] = ()
