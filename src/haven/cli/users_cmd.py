"""``haven users add|list|disable|enable|reset-password|reset-totp``: accounts for the web surfaces.

Exit codes: 0 done; 2 a bad argument or an unknown user; 3 anything else (e.g. the user already exists).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from haven.cli.common import emit_json, settings, stderr, stdout

if TYPE_CHECKING:
    from haven.auth.core import Auth

users_app = typer.Typer(help="Manage the people who sign in to Haven's web pages (users, roles, passwords, "
                             "TOTP).", no_args_is_help=True)

REALM_HELP = ("Population: staff (web UI, review console: reviewer, lead, admin) or portal (member, "
              "moderator, admin).")


def _auth() -> Auth:
    from haven.auth.core import Auth
    from haven.secrets import KeyRing
    from haven.service.settings import auth_policy_from_env
    from haven.store.db import upgrade_database

    config = settings()
    upgrade_database(config.resolved_database_url)  # the CLI is the shell: it migrates
    return Auth(config.resolved_database_url, policy=auth_policy_from_env(),
                key_ring=lambda: KeyRing.load(config))


def _show_once(label: str, password: str, json_out: bool, user: dict[str, object]) -> None:
    if json_out:
        emit_json({**user, "one_time_password": password})
        return
    stdout.print(label)
    stdout.print(f"one-time password: {password}")
    stderr.print("hand it over now: it is not kept, and it must be changed at the first sign-in")


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Sign-in name: letters, digits, . _ @ + - (case-insensitive)."),
    role: list[str] = typer.Option(..., "--role", "-r", help="A role of the realm; repeat for several."),
    realm: str = typer.Option("staff", "--realm", help=REALM_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from standard input instead of making a "
                                             "one-time password."),
    json_out: bool = typer.Option(False, "--json", help="Print the user (and one-time password) as JSON."),
) -> None:
    """Create a user. Prints a one-time password, changed at the first sign-in; privileged roles (lead,
    admin, moderator) set up TOTP at that sign-in too."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    auth = _auth()
    try:
        user, once = auth.add_user(realm, username, role, password=password)
    finally:
        auth.close()
    made = f"created user {user.username!r} in realm {user.realm} with role(s) {', '.join(user.roles)}"
    if once is not None:
        _show_once(made, once, json_out, user.to_dict())
    elif json_out:
        emit_json(user.to_dict())
    else:
        stdout.print(made)


@users_app.command("list")
def users_list(
    realm: str = typer.Option(None, "--realm", help="Only this realm (default: all)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per user per line."),
) -> None:
    """List users (never their passwords or TOTP secrets)."""
    auth = _auth()
    try:
        if realm is not None:
            from haven.auth.realms import get_realm

            get_realm(realm)
        users = auth.users.list(realm)
    finally:
        auth.close()
    if json_out:
        for u in users:
            emit_json(u.to_dict())
        return
    table = Table("id", "realm", "username", "roles", "TOTP", "state", "created", "last sign-in", box=None,
                  pad_edge=False)
    for u in users:
        totp = "yes" if u.totp_enrolled else ("required, not set up" if u.needs_totp else "no")
        state = "disabled" if u.disabled else ("must change password" if u.must_change_password else "active")
        table.add_row(str(u.id), u.realm, u.username, ",".join(u.roles), totp, state,
                      u.created_at.strftime("%Y-%m-%d %H:%M"),
                      u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "")
    stdout.print(table)


def _account_change(action: str, username: str, realm: str, json_out: bool) -> None:
    auth = _auth()
    try:
        user = getattr(auth, action)(realm, username)
    finally:
        auth.close()
    if json_out:
        emit_json(user.to_dict())
    else:
        done = {"disable_user": "disabled (its sessions ended)", "enable_user": "enabled (and unlocked)",
                "reset_totp": "has no TOTP secret now (its sessions ended); it sets one up at the next "
                              "sign-in if its role needs one"}[action]
        stdout.print(f"user {user.username!r} ({user.realm}) {done}")


@users_app.command("disable")
def users_disable(username: str = typer.Argument(...),
                  realm: str = typer.Option("staff", "--realm", help=REALM_HELP),
                  json_out: bool = typer.Option(False, "--json", help="Print the user as JSON.")) -> None:
    """Disable a user: no sign-in, and every session of theirs ends now."""
    _account_change("disable_user", username, realm, json_out)


@users_app.command("enable")
def users_enable(username: str = typer.Argument(...),
                 realm: str = typer.Option("staff", "--realm", help=REALM_HELP),
                 json_out: bool = typer.Option(False, "--json", help="Print the user as JSON.")) -> None:
    """Enable a user again (also lifts a lockout after failed sign-ins)."""
    _account_change("enable_user", username, realm, json_out)


@users_app.command("reset-totp")
def users_reset_totp(username: str = typer.Argument(...),
                     realm: str = typer.Option("staff", "--realm", help=REALM_HELP),
                     json_out: bool = typer.Option(False, "--json", help="Print the user as JSON.")) -> None:
    """Clear a user's TOTP secret (a lost phone) and end their sessions."""
    _account_change("reset_totp", username, realm, json_out)


@users_app.command("reset-password")
def users_reset_password(username: str = typer.Argument(...),
                         realm: str = typer.Option("staff", "--realm", help=REALM_HELP),
                         json_out: bool = typer.Option(False, "--json",
                                                       help="Print the user and password as JSON.")) -> None:
    """Give a user a new one-time password, end their sessions and lift a lockout."""
    auth = _auth()
    try:
        user, once = auth.reset_password(realm, username)
    finally:
        auth.close()
    _show_once(f"user {user.username!r} ({user.realm}): password reset, sessions ended", once, json_out,
               user.to_dict())


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
