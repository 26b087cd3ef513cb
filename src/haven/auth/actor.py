"""The actor: who is making a request — a signed-in user or an API key — as pages and the audit see it.

Pages and decisions receive an ``Actor``, never a raw key, cookie or password hash. ``actor.label``
(``user:3:alice`` / ``key:5:ci-bot``) is what goes into change logs and the audit.
"""

from __future__ import annotations

from dataclasses import dataclass

from haven.auth.keys import ApiKey
from haven.auth.users import User


@dataclass(frozen=True)
class Actor:
    kind: str  # "user" or "key"
    id: int
    name: str
    realm: str | None = None  # users only
    roles: tuple[str, ...] = ()  # users only
    scopes: tuple[str, ...] = ()  # keys only

    @classmethod
    def for_user(cls, user: User) -> Actor:
        return cls(kind="user", id=user.id, name=user.username, realm=user.realm, roles=user.roles)

    @classmethod
    def for_key(cls, key: ApiKey) -> Actor:
        return cls(kind="key", id=key.id, name=key.name, scopes=key.scopes)

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}:{self.name}"

    def has_role(self, *roles: str) -> bool:
        """True for a user holding any of ``roles`` (roles are flat: ``admin`` does not imply ``lead``)."""
        return self.kind == "user" and any(r in self.roles for r in roles)

    def allows(self, scope: str) -> bool:
        """True for a key holding ``scope`` (``admin`` holds every scope)."""
        return self.kind == "key" and (scope in self.scopes or "admin" in self.scopes)
