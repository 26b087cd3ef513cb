"""Mounting the console on the service: ``mount_review(app, auth, service)``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from haven.auth import Auth
from haven.review.service import ReviewService


def mount_review(app: FastAPI, auth: Auth, service: ReviewService) -> None:
    """Add the console's pages under ``/review`` to ``app``, sharing its ``Auth`` (one per app)."""
    from haven.review.web import pages  # noqa: F401 - registers the routes
    from haven.review.web.site import HERE, PREFIX, router, web

    app.state.review = service
    app.include_router(router)
    app.mount(PREFIX + "/static", StaticFiles(directory=str(HERE / "static")), name="review-static")
    web.install(app, auth)
