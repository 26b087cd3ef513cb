"""The sign-in flow as a small state machine, free of HTTP: password, then each step still owed.

Steps, in this order, each only when it applies:

1. ``totp``     — the account has a TOTP secret: a current code, never one already used;
2. ``password`` — the password was a one-time password (new account, admin reset): choose a new one;
3. ``enrol``    — a role of the account is privileged in its realm and it has no TOTP secret yet: scan
                  the secret into an authenticator app and confirm with a code;
4. ``active``   — signed in.

Every step is done on a *pending* session (10 minutes by default) and moves it on under a new id. Failed
passwords and codes count towards the account's and the address's lockout (``throttle``).
"""

from __future__ import annotations

from dataclasses import dataclass

from haven.auth.clock import Clock, utcnow
from haven.auth.events import SecurityEvents
from haven.auth.realms import get_realm
from haven.auth.sessions import ACTIVE, Session, SessionStore
from haven.auth.throttle import LoginThrottle, address_key, user_key
from haven.auth.totp import new_secret, qr_svg, secret_to_base32
from haven.auth.users import User, UserStore, pending_totp_context
from haven.errors import AuthError, HavenError, LoginRequiredError, UsageError

STEPS = ("totp", "password", "enrol", ACTIVE)
BAD_LOGIN = "wrong username or password"


@dataclass(frozen=True)
class LoginProgress:
    """Where a sign-in stands: the session, its new id (set it as the cookie), and the step now owed
    (``active`` when done)."""

    session: Session
    token: str
    user: User

    @property
    def step(self) -> str:
        return self.session.stage

    @property
    def done(self) -> bool:
        return self.session.active


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret typed into an app, the URI a QR code carries, the QR."""

    secret: str
    uri: str
    qr_svg: str


def _step_applies(step: str, user: User) -> bool:
    if step == "totp":
        return user.totp_enrolled
    if step == "password":
        return user.must_change_password
    if step == "enrol":
        return user.needs_totp and not user.totp_enrolled
    return True


def next_step(user: User, after: str | None = None) -> str:
    """The first step after ``after`` (from the start when None) that applies to ``user``."""
    start = 0 if after is None else STEPS.index(after) + 1
    return next(s for s in STEPS[start:] if _step_applies(s, user))


class LoginFlow:
    def __init__(self, users: UserStore, sessions: SessionStore, throttle: LoginThrottle,
                 events: SecurityEvents, *, issuer: str = "Haven", clock: Clock = utcnow) -> None:
        self.users, self.sessions, self.throttle, self.events = users, sessions, throttle, events
        self.issuer = issuer
        self._clock = clock

    def start(self, realm: str, username: str, password: str, *, client: str | None = None,
              user_agent: str | None = None) -> LoginProgress:
        """Check a username and password; ``AuthError`` (always the same message) if wrong,
        ``RateLimitedError`` if the account or address is locked."""
        get_realm(realm)
        keys = (user_key(realm, username), address_key(client))
        self.throttle.check(*keys)
        user = self.users.verify_password(realm, username, password)
        if user is None:
            self._failed(realm, username, None, client, "password", keys)
            raise AuthError(BAD_LOGIN)
        if user.disabled:
            raise AuthError("this account is disabled; ask an administrator")
        step = next_step(user)
        session, token = self.sessions.create(user.id, realm, step, client=client, user_agent=user_agent)
        return self._arrived(LoginProgress(session, token, user), client)

    def pending(self, token: str | None, step: str) -> tuple[Session, User]:
        """The pending session owing ``step``; ``LoginRequiredError`` if there is none (start over)."""
        session = self.sessions.get(token)
        if session is None or session.stage != step:
            raise LoginRequiredError("your sign-in expired or is already complete; sign in again")
        user = self.users.by_id(session.user_id)
        if user is None or user.disabled:
            self.sessions.end(token, "disabled")
            raise LoginRequiredError("this account is disabled; ask an administrator")
        return session, user

    def verify_totp(self, token: str | None, code: str, *, client: str | None = None) -> LoginProgress:
        """The ``totp`` step: a current code whose time step was not used before."""
        session, user = self.pending(token, "totp")
        keys = (user_key(user.realm, user.username), address_key(client))
        self.throttle.check(*keys)
        if not self.users.verify_totp(user.id, code):
            self._failed(user.realm, user.username, user.id, client, "totp", keys)
            raise AuthError("wrong or already used code; wait for the next one")
        return self._advance(session, user, client)

    def change_password(self, token: str | None, new: str, repeat: str, *,
                        client: str | None = None) -> LoginProgress:
        """The ``password`` step: replace a one-time password."""
        session, user = self.pending(token, "password")
        if new != repeat:
            raise UsageError("the two passwords differ")
        user = self.users.set_password(user.id, new)
        self.events.emit("password_changed", realm=user.realm, username=user.username, user_id=user.id,
                         actor=f"user:{user.id}:{user.username}", client=client)
        return self._advance(session, user, client)

    def enrolment(self, token: str | None, *, account_label: str | None = None) -> Enrolment:
        """The ``enrol`` step's page: a new secret (kept sealed on the pending session until confirmed)."""
        session, user = self.pending(token, "enrol")
        return self.secret_for(session, user, account_label=account_label)

    def confirm_enrolment(self, token: str | None, code: str, *, client: str | None = None) -> LoginProgress:
        """The ``enrol`` step: a code from the new secret proves the app holds it; then it is the user's."""
        session, user = self.pending(token, "enrol")
        user = self.confirm_secret(session, user, code, client=client,
                                   missing=LoginRequiredError("open the enrolment page first"))
        return self._advance(session, user, client)

    # -- a TOTP secret being set up on a session (at sign-in, or later by choice: Auth.start_totp) ----------

    def secret_for(self, session: Session, user: User, *, account_label: str | None = None) -> Enrolment:
        """The secret being set up on ``session``: made the first time, kept sealed on the session after."""
        context = pending_totp_context(session.id)
        blob = self.sessions.pending_totp(session.id)
        if blob is None:
            secret = new_secret()
            self.sessions.set_pending_totp(session.id, self.users.seal_totp(secret, context))
        else:
            secret = self.users.open_totp(blob, context)
        uri = self.users.totp.provisioning_uri(secret, account_label or f"{user.username} ({user.realm})",
                                               self.issuer)
        return Enrolment(secret=secret_to_base32(secret), uri=uri, qr_svg=qr_svg(uri))

    def confirm_secret(self, session: Session, user: User, code: str, *, client: str | None,
                       missing: HavenError) -> User:
        """Check ``code`` against the secret pending on ``session``; if it matches, the secret becomes the
        user's (event ``totp_enrolled``). ``missing`` is raised when no secret is pending."""
        blob = self.sessions.pending_totp(session.id)
        if blob is None:
            raise missing
        secret = self.users.open_totp(blob, pending_totp_context(session.id))
        keys = (user_key(user.realm, user.username), address_key(client))
        self.throttle.check(*keys)
        step = self.users.totp.match_step(secret, code, self._clock().timestamp())
        if step is None:
            self._failed(user.realm, user.username, user.id, client, "totp_enrol", keys)
            raise AuthError("that code does not match the secret; check the app's clock and try the next "
                            "code")
        user = self.users.set_totp(user.id, secret, step)
        self.sessions.set_pending_totp(session.id, None)
        self.events.emit("totp_enrolled", realm=user.realm, username=user.username, user_id=user.id,
                         actor=f"user:{user.id}:{user.username}", client=client)
        return user

    # -- helpers --------------------------------------------------------------------------------------

    def _advance(self, session: Session, user: User, client: str | None) -> LoginProgress:
        step = next_step(user, after=session.stage)
        try:
            session, token = self.sessions.advance(session.id, step)
        except LookupError:
            raise LoginRequiredError("your sign-in was ended; sign in again") from None
        return self._arrived(LoginProgress(session, token, user), client)

    def _arrived(self, progress: LoginProgress, client: str | None) -> LoginProgress:
        if progress.done:
            user = progress.user
            self.throttle.reset(user_key(user.realm, user.username))
            self.users.record_login(user.id)
            self.events.emit("login_ok", realm=user.realm, username=user.username, user_id=user.id,
                             actor=f"user:{user.id}:{user.username}", client=client)
        return progress

    def _failed(self, realm: str, username: str, user_id: int | None, client: str | None, reason: str,
                keys: tuple[str, ...]) -> None:
        self.events.emit("login_failed", realm=realm, username=username[:128], user_id=user_id, client=client,
                         detail={"reason": reason})
        for lock in self.throttle.failure(*keys):
            self.events.emit("lockout", realm=realm, username=username[:128], user_id=user_id, client=client,
                             detail={"key": lock.key, "until": lock.until.isoformat()})
