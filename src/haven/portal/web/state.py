"""What every portal page needs: the store, the identity module, the notifier and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from haven.auth import Auth
from haven.portal.notify import Notifier
from haven.portal.store import PortalStore
from haven.portal.web.settings import PortalSettings


@dataclass
class PortalState:
    settings: PortalSettings
    store: PortalStore
    auth: Auth
    notifier: Notifier


def get_portal(request: Request) -> PortalState:
    return request.app.state.portal  # type: ignore[no-any-return]
