"""Realms: separate populations of people who sign in, each with the roles it knows.

A *realm* is the population a user belongs to. Platform staff (who review matches, run the service and
its UI) and recovery-network members (social workers, therapists … on the portal) are different people
with different duties and different vetting, so they are different realms: a username is unique only
within its realm, a session is bound to its realm, and a surface admits only sessions of its own realm.
A portal member therefore never holds a staff session, even with the same username and a role called
``admin`` in both (``portal`` admin and ``staff`` admin are different accounts).

Each realm names its roles and the *privileged* ones, which must sign in with TOTP. Roles are flat
(no role implies another): a surface says which roles may use a page, e.g. ``require("lead", "admin")``.
Realms are data, not surface code: the review console and the web UI use ``staff``, the recovery portal
``portal``; a new population is one ``register_realm`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from haven.errors import UsageError


@dataclass(frozen=True)
class Realm:
    """A population of users: its name, the roles it knows, and those that require TOTP."""

    name: str
    roles: tuple[str, ...]
    privileged: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not set(self.privileged) <= set(self.roles):
            raise ValueError(f"realm {self.name}: privileged roles must be among its roles")

    def check_roles(self, roles: list[str] | tuple[str, ...] | set[str]) -> tuple[str, ...]:
        """The roles in this realm's order; ``UsageError`` on an empty list or a role it does not know."""
        if not roles:
            raise UsageError(f"give at least one role ({', '.join(self.roles)})")
        unknown = sorted(set(roles) - set(self.roles))
        if unknown:
            raise UsageError(f"unknown role(s) {', '.join(unknown)} in realm {self.name!r}; "
                             f"choose from {', '.join(self.roles)}")
        return tuple(r for r in self.roles if r in roles)

    def needs_totp(self, roles: tuple[str, ...] | list[str]) -> bool:
        return any(r in self.privileged for r in roles)


STAFF = Realm("staff", roles=("reviewer", "lead", "admin"), privileged=("lead", "admin"),
              description="platform staff: the web UI and the review console")
PORTAL = Realm("portal", roles=("member", "moderator", "admin"), privileged=("moderator", "admin"),
               description="recovery-network professionals: the portal")

_REALMS: dict[str, Realm] = {}


def register_realm(realm: Realm) -> Realm:
    """Add a realm; refuses a second realm of the same name."""
    if realm.name in _REALMS:
        raise ValueError(f"realm {realm.name!r} is already registered")
    _REALMS[realm.name] = realm
    return realm


def get_realm(name: str) -> Realm:
    """The realm called ``name``; ``UsageError`` if there is none."""
    try:
        return _REALMS[name]
    except KeyError:
        raise UsageError(f"unknown realm {name!r}; choose from {', '.join(_REALMS)}") from None


def realms() -> list[Realm]:
    return list(_REALMS.values())


register_realm(STAFF)
register_realm(PORTAL)
