"""``Auth``: the identity module's stores over one database, and the account changes that must also end
sessions and publish security events. Every web surface and the ``haven users`` command use one of these.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

from haven.auth.actor import Actor
from haven.auth.clock import Clock, utcnow
from haven.auth.events import SecurityEvents
from haven.auth.keys import KeyStore
from haven.auth.login import Enrolment, LoginFlow
from haven.auth.passwords import PasswordHasher
from haven.auth.policy import AuthPolicy
from haven.auth.sessions import Session, SessionStore
from haven.auth.throttle import LoginThrottle, user_key
from haven.auth.totp import TotpParams
from haven.auth.users import User, UserStore
from haven.errors import ConflictError, LoginRequiredError
from haven.secrets import KeyRing
from haven.store.db import make_session_factory


def cli_actor() -> str:
    """Who an account change made from the command line is attributed to."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name (containers): still say it came from the CLI
        return "cli"


class Auth:
    """Users, sessions, sign-in, throttling, API keys and security events on the database at ``url``.

    The database must be at the current schema (shells call ``haven.store.db.upgrade_database``; this
    object never migrates). ``key_ring`` is called the first time a TOTP secret is sealed or opened (so a
    deployment without privileged users needs no master key); ``clock`` is for tests.
    """

    def __init__(self, url: str, *, policy: AuthPolicy | None = None,
                 key_ring: Callable[[], KeyRing] | None = None, events: SecurityEvents | None = None,
                 clock: Clock = utcnow) -> None:
        self.policy = policy or AuthPolicy()
        self.keys = KeyStore(url)
        self.engine = self.keys.engine
        factory = make_session_factory(self.engine)
        self.events = events or SecurityEvents(clock=clock)
        self.users = UserStore(factory, PasswordHasher(self.policy), key_ring=key_ring, clock=clock,
                               totp=TotpParams(self.policy.totp_digits, self.policy.totp_step_seconds,
                                               self.policy.totp_drift_steps))
        self.sessions = SessionStore(factory, self.policy, clock=clock)
        self.throttle = LoginThrottle(factory, self.policy, clock=clock)
        self.login = LoginFlow(self.users, self.sessions, self.throttle, self.events,
                               issuer=self.policy.totp_issuer, clock=clock)

    def close(self) -> None:
        self.keys.close()

    # -- requests -------------------------------------------------------------------------------------

    def authenticate(self, token: str | None, realm: str) -> tuple[Actor, Session]:
        """The actor and active session for a cookie value in ``realm``; ``LoginRequiredError`` otherwise
        (no cookie, unknown, ended, expired, still signing in, another realm, account disabled)."""
        session = self.sessions.get(token)
        if session is None or session.realm != realm or not session.active:
            raise LoginRequiredError("please sign in")
        user = self.users.by_id(session.user_id)
        if user is None or user.disabled:
            self.sessions.end(token, "disabled")
            raise LoginRequiredError("please sign in")
        return Actor.for_user(user), session

    def logout(self, token: str | None, *, client: str | None = None) -> bool:
        """End the session of a cookie value on the server; True if there was one."""
        session = self.sessions.end(token, "logout")
        if session is None:
            return False
        user = self.users.by_id(session.user_id)
        name = user.username if user else None
        self.events.emit("logout", realm=session.realm, username=name, user_id=session.user_id,
                         actor=f"user:{session.user_id}:{name or ''}", client=client)
        return True

    # -- optional TOTP, set up while signed in -----------------------------------------------------------

    def start_totp(self, token: str | None, realm: str, *, account_label: str | None = None) -> Enrolment:
        """For a signed-in user without a second factor (one whose role does not require it): a new secret,
        kept sealed on the session until ``confirm_totp``; from then on every sign-in asks for a code."""
        session, user = self._signed_in(token, realm)
        if user.totp_enrolled:
            raise ConflictError("two-step sign-in is already on for this account")
        return self.login.secret_for(session, user, account_label=account_label)

    def confirm_totp(self, token: str | None, realm: str, code: str, *, client: str | None = None) -> User:
        """Check a code from the secret of ``start_totp`` and make it the account's (``totp_enrolled``)."""
        session, user = self._signed_in(token, realm)
        return self.login.confirm_secret(session, user, code, client=client,
                                         missing=ConflictError("open the set-up page first"))

    def _signed_in(self, token: str | None, realm: str) -> tuple[Session, User]:
        _, session = self.authenticate(token, realm)
        user = self.users.by_id(session.user_id)
        if user is None:
            raise LoginRequiredError("please sign in")
        return session, user

    # -- account administration -----------------------------------------------------------------------

    def add_user(self, realm: str, username: str, roles: list[str] | tuple[str, ...], *,
                 password: str | None = None, actor: str | None = None) -> tuple[User, str | None]:
        """Create an account; returns it and its one-time password (None when ``password`` was given)."""
        user, once = self.users.add(realm, username, roles, password=password)
        self.events.emit("user_created", realm=realm, username=user.username, user_id=user.id,
                         actor=actor or cli_actor(), detail={"roles": list(user.roles)})
        return user, once

    def disable_user(self, realm: str, username: str, *, actor: str | None = None) -> User:
        """Disable an account and end all its sessions at once."""
        user = self.users.set_disabled(self.users.get(realm, username).id, True)
        ended = self.sessions.end_all(user.id, "disabled")
        self._emit_admin("user_disabled", user, actor, ended)
        return user

    def enable_user(self, realm: str, username: str, *, actor: str | None = None) -> User:
        """Enable an account again (and lift a lockout)."""
        user = self.users.set_disabled(self.users.get(realm, username).id, False)
        self.throttle.reset(user_key(user.realm, user.username))
        self._emit_admin("user_enabled", user, actor, 0)
        return user

    def reset_password(self, realm: str, username: str, *, actor: str | None = None) -> tuple[User, str]:
        """Give an account a new one-time password (changed at its next sign-in), end its sessions and lift
        a lockout; returns the password, the only time it exists in clear."""
        user = self.users.get(realm, username)
        once = self.users.reset_password(user.id)
        ended = self.sessions.end_all(user.id, "password_reset")
        self.throttle.reset(user_key(user.realm, user.username))
        self._emit_admin("password_reset", user, actor, ended)
        return self.users.get(realm, username), once

    def reset_totp(self, realm: str, username: str, *, actor: str | None = None) -> User:
        """Clear an account's TOTP secret and end its sessions; a privileged account enrols again at its
        next sign-in."""
        user = self.users.clear_totp(self.users.get(realm, username).id)
        ended = self.sessions.end_all(user.id, "totp_reset")
        self._emit_admin("totp_reset", user, actor, ended)
        return user

    def delete_user(self, realm: str, username: str, *, actor: str | None = None) -> None:
        """Delete an account for good: its sessions end, its lockout record goes, nothing of it stays (the
        security event keeps only its id). For a person whose personal data must be erased."""
        user = self.users.get(realm, username)
        ended = self.sessions.end_all(user.id, "deleted")
        self.throttle.reset(user_key(user.realm, user.username))
        self.users.delete(user.id)
        self.events.emit("user_deleted", realm=realm, username=None, user_id=user.id,
                         actor=actor or cli_actor(),
                         detail={"sessions_ended": ended} if ended else {})

    def _emit_admin(self, kind: str, user: User, actor: str | None, ended: int) -> None:
        self.events.emit(kind, realm=user.realm, username=user.username, user_id=user.id,
                         actor=actor or cli_actor(), detail={"sessions_ended": ended} if ended else {})
