"""Users: accounts with roles in a realm, Argon2id password hashes, sealed TOTP secrets, disable/enable.

This store changes user rows only; ``haven.auth.core.Auth`` wraps the account changes that must also end
sessions and publish security events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from haven.auth.clock import Clock, as_utc, utcnow
from haven.auth.models import UserRow
from haven.auth.passwords import PasswordHasher, one_time_password
from haven.auth.realms import get_realm
from haven.auth.totp import TotpParams
from haven.errors import ConflictError, NotFoundError, UsageError
from haven.secrets import KeyRing

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")


def normalize_username(username: str) -> str:
    """Lower-case and check a username: letters, digits and ``. _ @ + -``, at most 128 characters."""
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise UsageError(f"bad username {username!r}: use letters, digits and . _ @ + - "
                         "(starting with a letter or digit, at most 128 characters)")
    return name


def totp_context(user_id: int) -> bytes:
    """What a user's sealed TOTP secret is bound to: it opens for this user's row only."""
    return b"haven:auth:totp:user:%d" % user_id


def pending_totp_context(session_id: int) -> bytes:
    """What a TOTP secret still being enrolled is bound to: the sign-in session that shows it."""
    return b"haven:auth:totp:session:%d" % session_id


@dataclass(frozen=True)
class User:
    """An account as the rest of Haven sees it: never its password hash or TOTP secret."""

    id: int
    realm: str
    username: str
    roles: tuple[str, ...]
    must_change_password: bool
    totp_enrolled: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def needs_totp(self) -> bool:
        """True when a role of this user is privileged in its realm (TOTP is then mandatory)."""
        return get_realm(self.realm).needs_totp(self.roles)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "realm": self.realm, "username": self.username, "roles": list(self.roles),
                "must_change_password": self.must_change_password, "totp_enrolled": self.totp_enrolled,
                "totp_required": self.needs_totp, "disabled": self.disabled,
                "created_at": self.created_at.isoformat(),
                "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None}


def _to_user(row: UserRow) -> User:
    return User(id=row.id, realm=row.realm, username=row.username, roles=tuple(row.roles),
                must_change_password=bool(row.must_change_password),
                totp_enrolled=row.totp_secret is not None,
                disabled=row.disabled_at is not None, created_at=as_utc(row.created_at) or utcnow(),
                last_login_at=as_utc(row.last_login_at))


class UserStore:
    """Accounts in the Haven database."""

    def __init__(self, session: sessionmaker[OrmSession], hasher: PasswordHasher, *,
                 key_ring: Callable[[], KeyRing] | None = None, totp: TotpParams | None = None,
                 clock: Clock = utcnow) -> None:
        self._session = session
        self.hasher = hasher
        self._key_ring_factory = key_ring
        self._key_ring: KeyRing | None = None
        self.totp = totp or TotpParams()
        self._clock = clock

    @property
    def key_ring(self) -> KeyRing:
        """The master key ring that seals TOTP secrets, loaded the first time a secret is sealed or opened."""
        if self._key_ring is None:
            if self._key_ring_factory is None:
                raise UsageError("TOTP needs the master key ring (haven.secrets), and none was configured")
            self._key_ring = self._key_ring_factory()
        return self._key_ring

    # -- accounts -------------------------------------------------------------------------------------

    def add(self, realm: str, username: str, roles: list[str] | tuple[str, ...], *,
            password: str | None = None) -> tuple[User, str | None]:
        """Create an account. Without ``password`` a one-time password is made, returned (the only time it
        exists in clear) and must be changed at the first sign-in."""
        the_realm = get_realm(realm)
        name = normalize_username(username)
        checked = the_realm.check_roles(list(roles))
        once = None
        if password is None:
            password = once = one_time_password()
        else:
            self.hasher.check_policy(password, username=name)
        now = self._clock()
        row = UserRow(realm=realm, username=name, roles=list(checked),
                      password_hash=self.hasher.hash(password), must_change_password=once is not None,
                      totp_secret=None, totp_enrolled_at=None,
                      totp_last_step=None, disabled_at=None, created_at=now, password_changed_at=now,
                      last_login_at=None)
        try:
            with self._session.begin() as s:
                s.add(row)
                s.flush()
                user = _to_user(row)
        except DBIntegrityError:
            raise ConflictError(f"a user {name!r} already exists in realm {realm!r}") from None
        return user, once

    def get(self, realm: str, username: str) -> User:
        """The account; ``NotFoundError`` if there is none."""
        row = self._row(realm, username)
        if row is None:
            raise NotFoundError(f"no user {username!r} in realm {realm!r}")
        return _to_user(row)

    def find(self, realm: str, username: str) -> User | None:
        row = self._row(realm, username)
        return _to_user(row) if row is not None else None

    def by_id(self, user_id: int) -> User | None:
        with self._session() as s:
            row = s.get(UserRow, user_id)
            return _to_user(row) if row is not None else None

    def list(self, realm: str | None = None) -> list[User]:
        """Every account (of ``realm``), oldest first."""
        q = select(UserRow).order_by(UserRow.id)
        if realm is not None:
            q = q.where(UserRow.realm == realm)
        with self._session() as s:
            return [_to_user(r) for r in s.scalars(q)]

    def count(self, realm: str) -> int:
        return len(self.list(realm))

    def set_disabled(self, user_id: int, disabled: bool) -> User:
        with self._session.begin() as s:
            row = self._locked(s, user_id)
            if disabled and row.disabled_at is None:
                row.disabled_at = self._clock()
            elif not disabled:
                row.disabled_at = None
            return _to_user(row)

    def set_roles(self, user_id: int, roles: Sequence[str]) -> User:
        with self._session.begin() as s:
            row = self._locked(s, user_id)
            row.roles = list(get_realm(row.realm).check_roles(list(roles)))
            return _to_user(row)

    # -- passwords ------------------------------------------------------------------------------------

    def verify_password(self, realm: str, username: str, password: str) -> User | None:
        """The account if ``password`` is its password, else None (in the same time whether or not the
        account exists). A hash made with older parameters is replaced by one with the current ones."""
        try:
            name = normalize_username(username)
        except UsageError:
            name = None
        row = self._row(realm, name) if name else None
        if len(password) > self.hasher.policy.password_max_length:
            password = password[: self.hasher.policy.password_max_length + 1]  # bound the work; still wrong
        ok = self.hasher.verify(row.password_hash if row is not None else None, password)
        if not ok or row is None:
            return None
        if self.hasher.needs_rehash(row.password_hash):
            new_hash = self.hasher.hash(password)
            with self._session.begin() as s:
                # only if nobody changed the password meanwhile
                s.execute(update(UserRow)
                          .where(UserRow.id == row.id, UserRow.password_hash == row.password_hash)
                          .values(password_hash=new_hash))
        return _to_user(row)

    def set_password(self, user_id: int, password: str, *, one_time: bool = False) -> User:
        """Set a password (policy-checked unless ``one_time``; a one-time password must be changed at the
        next sign-in)."""
        with self._session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"no user with id {user_id}")
            name = row.username
        if not one_time:
            self.hasher.check_policy(password, username=name)
        new_hash = self.hasher.hash(password)
        with self._session.begin() as s:
            row = self._locked(s, user_id)
            if not one_time and self.hasher.verify(row.password_hash, password):
                raise UsageError("choose a password different from the current one")
            row.password_hash, row.must_change_password = new_hash, one_time
            row.password_changed_at = self._clock()
            return _to_user(row)

    def reset_password(self, user_id: int) -> str:
        """Replace the password by a new one-time password and return it."""
        once = one_time_password()
        self.set_password(user_id, once, one_time=True)
        return once

    def record_login(self, user_id: int) -> None:
        with self._session.begin() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(last_login_at=self._clock()))

    # -- TOTP -----------------------------------------------------------------------------------------

    def seal_totp(self, secret: bytes, context: bytes) -> bytes:
        return self.key_ring.seal(secret, context=context)

    def open_totp(self, blob: bytes, context: bytes) -> bytes:
        return self.key_ring.open(blob, context=context)

    def verify_totp(self, user_id: int, code: str) -> bool:
        """True if ``code`` is the user's current code and its time step was not used before. The step is
        recorded atomically, so the same code cannot succeed twice, even on two workers at once."""
        with self._session() as s:
            row = s.get(UserRow, user_id)
            if row is None or row.totp_secret is None:
                return False
            secret = self.open_totp(row.totp_secret, totp_context(user_id))
        step = self.totp.match_step(secret, code, self._clock().timestamp())
        return step is not None and self._claim_step(user_id, step)

    def _claim_step(self, user_id: int, step: int) -> bool:
        with self._session.begin() as s:
            done = cast(CursorResult[Any], s.execute(update(UserRow)
                             .where(UserRow.id == user_id,
                                    or_(UserRow.totp_last_step.is_(None), UserRow.totp_last_step < step))
                             .values(totp_last_step=step)))
            return bool(done.rowcount == 1)

    def set_totp(self, user_id: int, secret: bytes, step: int) -> User:
        """Store a confirmed secret (sealed) and the step of the code that confirmed it."""
        blob = self.seal_totp(secret, totp_context(user_id))
        with self._session.begin() as s:
            row = self._locked(s, user_id)
            row.totp_secret, row.totp_enrolled_at, row.totp_last_step = blob, self._clock(), step
            return _to_user(row)

    def delete(self, user_id: int) -> None:
        """Remove an account and, through the foreign key, its sessions (erasure of a person who leaves)."""
        with self._session.begin() as s:
            s.delete(self._locked(s, user_id))

    def clear_totp(self, user_id: int) -> User:
        with self._session.begin() as s:
            row = self._locked(s, user_id)
            row.totp_secret, row.totp_enrolled_at = None, None
            return _to_user(row)

    # -- helpers --------------------------------------------------------------------------------------

    def _row(self, realm: str, username: str) -> UserRow | None:
        with self._session() as s:
            return s.scalars(select(UserRow).where(UserRow.realm == realm,
                                                   UserRow.username == username.strip().lower())).first()

    @staticmethod
    def _locked(s: Any, user_id: int) -> UserRow:
        row = s.get(UserRow, user_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no user with id {user_id}")
        return cast(UserRow, row)
