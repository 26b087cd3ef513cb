"""Haven's one identity module, for every web surface and for machines.

People: users with roles in a *realm* (``staff`` for the web UI and review console, ``portal`` for the
recovery network), Argon2id passwords, sessions in the database, TOTP for privileged roles, lockout.
Machines: API keys (Bearer header, scopes, rate limits, revocation). Both become an ``Actor``.

    auth = Auth(url, policy=AuthPolicy(), key_ring=lambda: KeyRing.load(settings))  # url already migrated
    user, one_time_password = auth.add_user("staff", "alice", ["reviewer"])
    auth.events.subscribe(audit_log.record)       # every security event, as it happens

The FastAPI side (sign-in pages, ``require(role)``, CSRF) is ``haven.auth.web.WebAuth``; this package itself
imports no web framework. Files: ``passwords`` (Argon2id), ``totp`` (RFC 6238), ``sessions``, ``users``,
``throttle`` (lockout), ``csrf`` (token and Origin checks), ``login`` (the sign-in steps), ``keys`` (API
keys), ``events`` (the hook), ``realms``, ``policy`` (defaults and why), ``core`` (``Auth``), ``web``.
"""

from haven.auth.actor import Actor
from haven.auth.core import Auth
from haven.auth.events import SecurityEvent, SecurityEvents
from haven.auth.keys import ApiKey, KeyStore
from haven.auth.policy import AuthPolicy
from haven.auth.realms import PORTAL, STAFF, Realm, get_realm, register_realm
from haven.auth.sessions import Session
from haven.auth.users import User

__all__ = [
    "PORTAL",
    "STAFF",
    "Actor",
    "ApiKey",
    "Auth",
    "AuthPolicy",
    "KeyStore",
    "Realm",
    "SecurityEvent",
    "SecurityEvents",
    "Session",
    "User",
    "get_realm",
    "register_realm",
]
