"""The FastAPI application factory: ``create_app(settings)`` builds one worker's app.

``haven serve`` runs ``create_app_from_env`` through uvicorn's factory mode so every worker process
builds its own app (its own matcher and refresh thread) from the same environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from haven import __version__
from haven.auth.core import Auth
from haven.auth.web import WebAuth
from haven.secrets import KeyRing
from haven.service.decoding import DecodeBudget
from haven.service.errors import install_error_handlers
from haven.service.fastpath import FastMatchMiddleware
from haven.service.headers import SecurityHeadersMiddleware
from haven.service.limits import ByteBudget, RequestGate
from haven.service.metrics import MetricsMiddleware
from haven.service.records import RecordStore
from haven.service.settings import ServiceSettings
from haven.service.ssrf import FetchPolicy, FetchPool
from haven.service.state import ServiceState

log = logging.getLogger("haven.service")

DESCRIPTION = """Match images and hashes against Haven's hash banks.

Every route except `/healthz` and `/readyz` needs an API key (`haven keys create NAME --scope match`)
sent as `Authorization: Bearer <key>`. Errors are JSON: `{"code": "...", "message": "..."}`.
"""


def _make_backend(settings: ServiceSettings):  # type: ignore[no-untyped-def]
    try:
        from haven.service.backend import MatchBackend

        return MatchBackend(settings)
    except ImportError as exc:  # banks not in this build: hashing still works
        if not (exc.name or "").startswith(("haven.banks", "haven.matching")):
            raise
        log.warning("haven.banks is not available: bank and match routes answer 503")
        return None


def _make_runtime(settings: ServiceSettings, engine):  # type: ignore[no-untyped-def]
    """Rules, job queue and vault for this worker (the match routes run the rules after matching)."""
    from haven.actions.runtime import build_runtime

    return build_runtime(settings.base, engine, settings.runtime)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; migrations run here unless ``settings.migrate`` is False (the serve parent did them)."""
    settings = settings or ServiceSettings.from_env()
    url = settings.database_url
    if settings.migrate:
        from haven.store.db import upgrade_database

        upgrade_database(url)
    auth = Auth(url, policy=settings.auth, key_ring=lambda: KeyRing.load(settings.base))
    keys = auth.keys
    backend = _make_backend(settings)
    runtime = _make_runtime(settings, keys.engine) if backend is not None else None
    from haven.audit import AuditLog, security_events

    auth.events.subscribe(security_events(runtime.audit if runtime is not None else AuditLog(keys.engine)))
    state = ServiceState(
        settings=settings,
        auth=auth,
        keys=keys,
        records=RecordStore(keys.engine),
        backend=backend,
        fetch_pool=FetchPool(FetchPolicy(max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout,
                                         allow=FetchPolicy.parse_allow(settings.fetch_allow)),
                             settings.fetch_concurrency),
        body_budget=ByteBudget(settings.max_body_in_flight),
        decode_budget=DecodeBudget(settings.decode_memory),
        runtime=runtime,
    )
    worker = runtime.worker() if runtime is not None and settings.runtime.actions.embedded_worker else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if backend is not None:
            backend.start()
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if runtime is not None:
                runtime.close()
            if backend is not None:
                backend.stop()
            state.fetch_pool.close()
            auth.close()

    app = FastAPI(title="Haven", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.haven = state
    install_error_handlers(app)

    from haven.service.routes import banks, docs, hashing, health, hma, match, rules, ui

    for module in (health, hashing, match, banks, rules, hma, ui):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """A person who opens the service's address lands on the web UI."""
        return RedirectResponse("/ui", status_code=307)

    ui.mount_static(app)
    ui.web.install(app, auth)
    from haven.portal.web.app import mount_portal
    from haven.portal.web.settings import PortalSettings

    mount_portal(app, auth, PortalSettings(base=settings.base, auth=settings.auth, smtp=settings.smtp,
                                           min_cell=settings.portal_min_cell, migrate=False))
    if runtime is not None:
        from haven.review.web import mount_review

        mount_review(app, auth, review_service(runtime, backend))
    docs.mount(app)
    # Outermost last: metrics → security headers → request gate → lean match path → FastAPI.
    app.add_middleware(FastMatchMiddleware, fastapi_app=app)
    from haven.portal.web.site import web as portal_web
    from haven.review.web.site import web as review_web

    surfaces = {f"{surface.prefix}/": _signed_in(surface) for surface in (ui.web, portal_web, review_web)}
    app.add_middleware(RequestGate, authenticate=keys.authenticate, surfaces=surfaces,
                       upload_limit=settings.max_upload_bytes, timeout=settings.upload_timeout,
                       budget=state.body_budget)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware)
    return app


def review_service(runtime: Any, backend: Any) -> Any:
    """The review console over this worker's runtime: its audit log, review queue, vault, report drafts
    (one ``ReportService``, made on first use) and the banks (false-positive feedback)."""
    from haven.review import ReviewService

    reports: dict[str, Any] = {}

    def report_service() -> Any:
        if "service" not in reports:
            reports["service"] = runtime.report_service()
        return reports["service"]

    return ReviewService(runtime.engine, runtime.audit, runtime.reviews, vault=runtime.vault,
                         reports=report_service, banks=lambda: backend.store, clock=runtime.clock)


def _signed_in(surface: WebAuth) -> Callable[[dict[str, Any]], Awaitable[bool]]:
    """The request gate's question for one web surface: does this request carry its live sign-in?"""

    async def check(scope: dict[str, Any]) -> bool:
        return await surface.signed_in(Request(scope))

    return check


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(ServiceSettings.from_env())
