"""Password hashing with Argon2id (argon2-cffi), rehash-on-login, and one-time passwords.

Passwords are guessable, so unlike API keys they get a slow, memory-hard hash: a stolen ``password_hash``
column then costs an attacker ``argon2_memory_kib`` of memory and ``argon2_time_cost`` passes per guess.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from haven.auth.policy import AuthPolicy
from haven.errors import UsageError

# Letters and digits a person can read back without confusing them (no 0/o, 1/l/i).
_ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class PasswordHasher:
    """Hash and verify passwords with the policy's Argon2id parameters, a few at a time."""

    def __init__(self, policy: AuthPolicy | None = None) -> None:
        self.policy = policy or AuthPolicy()
        p = self.policy
        self._argon2 = _Argon2(time_cost=p.argon2_time_cost, memory_cost=p.argon2_memory_kib,
                               parallelism=p.argon2_parallelism)
        self._slots = threading.BoundedSemaphore(max(1, self.policy.max_concurrent_hashes))
        # Verified against when a username does not exist, so that answer takes as long as a wrong password.
        self._decoy = self._argon2.hash(secrets.token_urlsafe(16))

    def check_policy(self, password: str, *, username: str | None = None) -> None:
        """Raise ``UsageError`` if ``password`` is too short, too long, or the username itself."""
        p = self.policy
        if len(password) < p.password_min_length:
            raise UsageError(f"a password needs at least {p.password_min_length} characters "
                             "(a few words make a good one)")
        if len(password) > p.password_max_length:
            raise UsageError(f"a password may have at most {p.password_max_length} characters")
        if username and password.strip().lower() == username.strip().lower():
            raise UsageError("the password may not be the username")

    def hash(self, password: str) -> str:
        """The Argon2id hash string (parameters and salt included)."""
        with self._slots:
            return self._argon2.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; with ``stored`` None, takes as long and says False."""
        with self._slots:
            try:
                return self._argon2.verify(stored or self._decoy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored: str) -> bool:
        """True if ``stored`` was made with other parameters than the policy's (re-hash it after a login)."""
        try:
            return self._argon2.check_needs_rehash(stored)
        except InvalidHashError:
            return True


def one_time_password(groups: int = 4, size: int = 5) -> str:
    """A random password to hand to a person once (admin reset, first admin): ``abcde-fghjk-mnpqr-stuvw``,
    about 99 bits, to be replaced at the first sign-in."""
    return "-".join("".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(size)) for _ in range(groups))
