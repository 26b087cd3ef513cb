"""The console's surface: its ``WebAuth`` (realm ``staff``, prefix ``/review``), router and the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request

from haven.auth.web import WebAuth
from haven.review.config import CLASSIFICATIONS
from haven.review.service import ReviewService

HERE = Path(__file__).parent
PREFIX = "/review"
REVIEWERS = ("reviewer", "lead", "admin")
LEADS = ("lead", "admin")
ADMINS = ("admin",)

web = WebAuth(realm="staff", prefix=PREFIX, template_dirs=[HERE / "templates"], home=PREFIX,
              title="Haven review")
web.templates.env.globals.update(PREFIX=PREFIX, CLASSIFICATIONS=CLASSIFICATIONS)
router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(web.csrf)])


def get_review(request: Request) -> ReviewService:
    return request.app.state.review  # type: ignore[no-any-return]


async def page(request: Request, template: str, status: int = 200, **ctx: Any) -> Any:
    return await web.page(request, template, status=status, **ctx)
