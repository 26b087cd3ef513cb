"""A running stand-alone portal on a free loopback port, with helpers to make members in each state and
sign them in. Mail goes to a ``MemoryNotifier``."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from service_live import FAST_AUTH, PASSWORD, ThreadedServer, UiClient, free_port

from haven.auth import Auth
from haven.auth.totp import TotpParams, new_secret
from haven.config import Settings
from haven.portal import members
from haven.portal.actors import Actor
from haven.portal.notify import MemoryNotifier
from haven.portal.store import PortalStore
from haven.portal.web.app import create_portal_app
from haven.portal.web.settings import PortalSettings
from haven.secrets import encode_key, new_key

__all__ = ["PASSWORD", "LivePortal", "PortalClient", "portal"]


class PortalClient(UiClient):
    def sign_in(self, username: str, password: str = PASSWORD, totp: bytes | None = None):  # type: ignore[no-untyped-def,override]
        r = self.submit("/portal/login", "/portal/login", {"username": username, "password": password})
        if totp is not None and r.status_code == 303 and r.headers["location"] == "/portal/login/totp":
            code = TotpParams().code(totp, time.time() + 30)
            r = self.submit("/portal/login/totp", "/portal/login/totp", {"code": code})
        return r


@dataclass
class LivePortal:
    url: str
    auth: Auth
    store: PortalStore
    mail: MemoryNotifier
    app: object

    def client(self) -> PortalClient:
        return PortalClient(self.url)

    def person(
        self,
        email: str,
        status: str = "approved",
        *roles: str,
        login_enabled: bool | None = None,
        totp: bool = False,
        country: str = "GB",
    ) -> tuple[Actor, bytes | None]:
        """A portal member in ``status`` with a login (enabled iff approved unless ``login_enabled`` says)."""
        roles = roles or ("member",)
        user, _ = self.auth.add_user("portal", email, list(roles), password=PASSWORD, actor="test")
        secret = None
        if totp or any(r in ("moderator", "admin") for r in roles):
            secret = new_secret()
            self.auth.users.set_totp(user.id, secret, step=0)
        if not (login_enabled if login_enabled is not None else status == "approved"):
            self.auth.disable_user("portal", email, actor="test")
        with self.store.begin() as db:
            m = members.apply(
                db,
                members.Application(
                    name=f"Name of {email}",
                    email=email,
                    organisation="Org",
                    profession="therapist",
                    country=country,
                    languages=("en",),
                    referee_name="Referee",
                    referee_email=f"ref.{email}",
                    statement="Statement.",
                ),
                user_id=user.id,
            )
            m.status = status
            db.flush()
            return Actor(m.id, tuple(roles)), secret


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    data = tmp_path_factory.mktemp("portal")
    settings = PortalSettings(base=Settings(data_dir=data, master_key=encode_key(new_key())), auth=FAST_AUTH)
    mail = MemoryNotifier()
    app = create_portal_app(settings, notifier=mail)
    state = app.state.portal
    port = free_port()
    with ThreadedServer(app, port):
        yield LivePortal(f"http://127.0.0.1:{port}", state.auth, state.store, mail, app)
