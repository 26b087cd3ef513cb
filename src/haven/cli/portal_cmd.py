"""``haven portal serve|demo``: the recovery network on its own (``haven serve`` has it under ``/portal``)."""

from __future__ import annotations

import os

import typer

from haven.cli.common import emit_json, stdout

portal_app = typer.Typer(
    help="The recovery network: a closed portal for professionals who help children recover.",
    no_args_is_help=True,
)


def _open():  # type: ignore[no-untyped-def]
    from haven.auth import Auth
    from haven.portal.store import PortalStore
    from haven.portal.web.settings import PortalSettings
    from haven.secrets import KeyRing
    from haven.store.db import upgrade_database

    settings = PortalSettings.from_env()
    upgrade_database(settings.database_url)  # the shell migrates; the stores never do
    # Moderators sign in with TOTP, whose secrets are sealed with the master key: make the key file now.
    KeyRing.load(settings.base, create=True)
    auth = Auth(settings.database_url, policy=settings.auth, key_ring=lambda: KeyRing.load(settings.base))
    return settings, auth, PortalStore(settings.database_url, engine=auth.engine)


def print_demo_account(url: str) -> None:
    """Seed the demo network and print how to sign in as its moderator."""
    from haven.portal import demo

    _, auth, store = _open()
    try:
        account = demo.seed(store, auth)
    finally:
        auth.close()
    if account.one_time_password is None:
        stdout.print(
            f"recovery network {url}: demo moderator {account.username} exists; for a new one-time "
            f"password: haven users reset-password --realm portal {account.username}"
        )
        return
    stdout.print(f"recovery network {url}: demo moderator created. Sign in with")
    stdout.print(f"  e-mail: {account.username}")
    stdout.print(f"  one-time password: {account.one_time_password}")
    stdout.print(
        "then choose your own password and add the account to an authenticator app (moderators sign in "
        "with a 6-digit TOTP code)"
    )


@portal_app.command("demo")
def demo_command(json_out: bool = typer.Option(False, "--json", help="Print the account as JSON.")) -> None:
    """Create the demo moderator (one-time password printed once) and invented demo content."""
    if json_out:
        from haven.portal import demo

        _, auth, store = _open()
        try:
            account = demo.seed(store, auth)
        finally:
            auth.close()
        emit_json({"username": account.username, "one_time_password": account.one_time_password})
        return
    print_demo_account("/portal")


@portal_app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8100, "--port", help="TCP port."),
    demo: bool = typer.Option(False, "--demo", help="Seed the demo network and print its moderator account."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the portal as its own app (pages under /portal)."""
    import uvicorn

    settings, auth, _ = _open()
    auth.close()
    shown = f"[{host}]" if ":" in host else host
    if demo:
        print_demo_account(f"http://{shown}:{port}/portal")
    os.environ["HAVEN_SERVICE_MIGRATE"] = "0"
    stdout.print(f"Haven recovery network on http://{shown}:{port}/portal")
    uvicorn.run(
        "haven.portal.web.app:create_portal_app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.add_typer(portal_app, name="portal")
