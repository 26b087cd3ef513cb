"""The portal surface: its ``WebAuth`` (realm ``portal``, prefix ``/portal``), its template environment with
gettext, the dependency that admits approved members only, and the language middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from haven.auth.actor import Actor as AuthActor
from haven.auth.web import WebAuth
from haven.errors import PermissionDeniedError
from haven.portal import members
from haven.portal.actors import Actor
from haven.portal.deid import KIND_LABELS
from haven.portal.library import render_markdown
from haven.portal.models import Member
from haven.portal.text import N_
from haven.portal.web import i18n
from haven.portal.web.state import get_portal

HERE = Path(__file__).parent
PREFIX = "/portal"
ROLES = ("member", "moderator", "admin")
MODERATORS = ("moderator", "admin")

web = WebAuth(
    realm="portal",
    prefix=PREFIX,
    template_dirs=[HERE / "templates"],
    home=PREFIX + "/home",
    title="Recovery network",
)
_env = web.templates.env
_env.add_extension("jinja2.ext.i18n")
_env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]
# Labels for codes stored in the database; N_ marks them for pybabel, templates translate with _().
PROFESSION_LABELS = {
    "social_worker": N_("social worker"),
    "therapist": N_("therapist"),
    "police_family_liaison": N_("police family liaison officer"),
    "teacher": N_("teacher"),
    "health": N_("health professional"),
    "ngo": N_("NGO staff"),
    "researcher": N_("researcher"),
    "other": N_("other"),
}
KIND_NAMES = {
    "guide": N_("guide"),
    "guideline": N_("guideline"),
    "research_summary": N_("research summary"),
    "training": N_("training material"),
}
STATUS_NAMES = {
    "draft": N_("draft"),
    "submitted": N_("waiting for moderation"),
    "published": N_("published"),
    "returned": N_("returned to the author"),
    "rejected": N_("rejected"),
    "applied": N_("applied"),
    "more_info": N_("more information asked"),
    "approved": N_("approved"),
    "suspended": N_("suspended"),
    "left": N_("left"),
}
_env.globals.update(
    LANGUAGES=i18n.LANGUAGES,
    current_language=i18n.current,
    KIND_LABELS=KIND_LABELS,
    PREFIX=PREFIX,
    PROFESSION_LABELS=PROFESSION_LABELS,
    KIND_NAMES=KIND_NAMES,
    STATUS_NAMES=STATUS_NAMES,
)
_env.filters["markdown"] = lambda text: Markup(render_markdown(text or ""))


def highlight(text: str, findings: list[dict[str, Any]]) -> Markup:
    """``text`` with each finding wrapped in ``<mark>`` (escaped; findings are character offsets)."""
    out, pos = [], 0
    for f in sorted(findings, key=lambda f: f["start"]):
        if f["start"] < pos:
            continue
        out.append(escape(text[pos : f["start"]]))
        cls = "flag ok" if f.get("justification") else "flag"
        out.append(
            Markup('<mark class="%s" title="%s">%s</mark>')
            % (cls, KIND_LABELS.get(f["kind"], f["kind"]), text[f["start"] : f["end"]])
        )
        pos = f["end"]
    out.append(escape(text[pos:]))
    return Markup("").join(out)


_env.globals["highlight"] = highlight

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(web.csrf)])


def member(*roles: str) -> Callable[..., Awaitable[Actor]]:
    """A dependency: the signed-in portal user holding one of ``roles`` whose membership is *approved*."""
    require = web.require(*(roles or ROLES))

    async def dependency(request: Request, actor: AuthActor = Depends(require)) -> Actor:
        portal = get_portal(request)

        def lookup() -> Member | None:
            with portal.store.begin() as db:
                return members.by_user(db, actor.id)

        me = await run_in_threadpool(lookup)
        if me is None or me.status != "approved":
            raise PermissionDeniedError("your account is not an approved member of the recovery network")
        request.state.portal_member = me
        return Actor(member_id=me.id, roles=actor.roles)

    return dependency


async def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("me", getattr(request.state, "portal_member", None))
    return await web.page(request, template, status=status, **ctx)


class LanguageMiddleware:
    """Sets the interface language for requests under ``/portal`` (cookie, else ``Accept-Language``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            cookie = None
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == i18n.COOKIE:
                    cookie = value
            i18n.set_language(i18n.choose(cookie, headers.get("accept-language")))
        await self.app(scope, receive, send)
