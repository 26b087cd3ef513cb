"""The portal as its own app (``haven portal serve``) or mounted under ``/portal`` of ``haven serve``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from haven import __version__
from haven.auth import Auth
from haven.portal.notify import Notifier, SmtpNotifier
from haven.portal.store import PortalStore
from haven.portal.web.settings import PortalSettings
from haven.portal.web.state import PortalState


def mount_portal(
    app: FastAPI, auth: Auth, settings: PortalSettings, *, notifier: Notifier | None = None
) -> PortalState:
    """Add the portal's pages under ``/portal`` to ``app``, sharing its ``Auth`` (one per app)."""
    from haven.portal.web import pages_knowledge, pages_member, pages_moderation, pages_public, pages_work  # noqa: F401
    from haven.portal.web.site import HERE, PREFIX, LanguageMiddleware, router, web

    state = PortalState(
        settings=settings,
        store=PortalStore(settings.database_url, engine=auth.engine),
        auth=auth,
        notifier=notifier or SmtpNotifier(settings.smtp),
    )
    app.state.portal = state
    app.include_router(router)
    app.mount(PREFIX + "/static", StaticFiles(directory=str(HERE / "static")), name="portal-static")
    web.install(app, auth)
    app.add_middleware(LanguageMiddleware)
    return state


def create_portal_app(settings: PortalSettings | None = None, *, notifier: Notifier | None = None) -> FastAPI:
    """The stand-alone portal: ``/`` leads to ``/portal``."""
    settings = settings or PortalSettings.from_env()
    if settings.migrate:
        from haven.store.db import upgrade_database

        upgrade_database(settings.database_url)
    from haven.secrets import KeyRing

    auth = Auth(
        settings.database_url,
        policy=settings.auth,
        key_ring=lambda: KeyRing.load(settings.base),
    )
    from haven.audit import AuditLog, security_events

    auth.events.subscribe(security_events(AuditLog(auth.engine)))  # sign-ins and account changes, audited

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            auth.close()

    app = FastAPI(
        title="Haven recovery network",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    mount_portal(app, auth, settings, notifier=notifier)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/portal", status_code=303)

    return app


def create_portal_app_from_env() -> FastAPI:
    return create_portal_app(PortalSettings.from_env())
