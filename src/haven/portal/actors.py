"""Who is acting. Every core call that changes shared state takes an ``Actor`` and checks its roles itself,
so a shell that forgets a check still cannot let a member moderate.

Roles are the ``portal`` realm's of ``haven.auth`` (member, moderator, admin); they are flat, as there:
a page names every role it admits.
"""

from __future__ import annotations

from dataclasses import dataclass

from haven.errors import PermissionDeniedError

MODERATORS = ("moderator", "admin")


@dataclass(frozen=True)
class Actor:
    """An approved member acting in the portal (``member_id``) with their roles from ``haven.auth``."""

    member_id: int
    roles: tuple[str, ...] = ("member",)

    @property
    def label(self) -> str:
        """How the audit record names the actor: an id, never a name (names are erased on leaving)."""
        return f"member:{self.member_id}"

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_moderator(self) -> bool:
        return self.has(*MODERATORS)

    def require(self, *roles: str) -> None:
        """Raise ``PermissionDeniedError`` unless the actor holds one of ``roles``."""
        if not self.has(*roles):
            raise PermissionDeniedError(f"this needs the {' or '.join(roles)} role")


SYSTEM = Actor(member_id=0, roles=("admin",))  # the command line and the demo set-up act as this
