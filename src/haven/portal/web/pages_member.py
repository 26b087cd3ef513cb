"""A member's own pages: home, account settings, two-step sign-in, data export, leaving."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from haven.auth.web import client_address, get_auth, harden
from haven.errors import HavenError, InputError
from haven.portal import casestudies, discussions, members, surveys
from haven.portal.actors import Actor
from haven.portal.web import i18n
from haven.portal.web.site import PREFIX, member, page, router, web
from haven.portal.web.state import get_portal


@router.get("/home")
async def home(request: Request, actor: Actor = Depends(member())) -> Response:
    portal = get_portal(request)

    def load() -> dict[str, Any]:
        with portal.store.begin() as db:
            return {
                "latest": casestudies.listing(db)[:5],
                "rounds": surveys.rounds(db, status="open"),
                "topics": discussions.topics(db)[:5],
                "mine": casestudies.listing(db, author_id=actor.member_id),
                "queue": len(members.queue(db)) if actor.is_moderator else 0,
                "case_queue": len(casestudies.listing(db, status="submitted")) if actor.is_moderator else 0,
            }

    return await page(request, "home.html", actor_p=actor, **await run_in_threadpool(load))


@router.get("/account")
async def account(request: Request, actor: Actor = Depends(member())) -> Response:
    user = await run_in_threadpool(get_portal(request).auth.users.by_id, request.state.haven_actor.id)
    return await page(request, "account.html", totp_on=bool(user and user.totp_enrolled))


@router.post("/account")
async def account_save(
    request: Request,
    actor: Actor = Depends(member()),
    ui_language: str = Form("en"),
    notify_email: str = Form(""),
) -> Response:
    portal = get_portal(request)

    def save() -> None:
        with portal.store.begin() as db:
            me = members.get(db, actor.member_id)
            me.ui_language = ui_language if ui_language in i18n.LANGUAGES else "en"
            me.notify_email = notify_email == "on"

    await run_in_threadpool(save)
    response = RedirectResponse(PREFIX + "/account", status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        ui_language if ui_language in i18n.LANGUAGES else "en",
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
        max_age=365 * 86400,
    )
    return harden(response)


@router.get("/account/totp")
async def totp_page(request: Request, actor: Actor = Depends(member())) -> Response:
    enrolment = await run_in_threadpool(get_auth(request).start_totp, web._token(request), "portal")
    return await page(request, "totp_setup.html", enrolment=enrolment)


@router.post("/account/totp")
async def totp_confirm(
    request: Request, actor: Actor = Depends(member()), code: str = Form(..., max_length=20)
) -> Response:
    auth = get_auth(request)
    try:
        await run_in_threadpool(
            auth.confirm_totp, web._token(request), "portal", code, client=client_address(request)
        )
    except HavenError as exc:
        enrolment = await run_in_threadpool(auth.start_totp, web._token(request), "portal")
        return await page(request, "totp_setup.html", status=422, error=exc, enrolment=enrolment)
    return harden(RedirectResponse(PREFIX + "/account", status_code=303))


@router.get("/account/export")
async def export(request: Request, actor: Actor = Depends(member())) -> Response:
    portal = get_portal(request)

    def dump() -> str:
        with portal.store.begin() as db:
            return json.dumps(members.export_data(db, actor.member_id), indent=2, ensure_ascii=False)

    body = await run_in_threadpool(dump)
    return harden(
        Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="my-recovery-network-data.json"'},
        )
    )


@router.post("/account/leave")
async def leave(request: Request, actor: Actor = Depends(member()), confirm: str = Form("")) -> Response:
    """Leave the network: personal data erased, the login deleted, the session ended."""
    portal = get_portal(request)
    if confirm != "leave":
        raise InputError("type leave to confirm", code="not_confirmed")

    def go() -> None:
        with portal.store.begin() as db:
            user_id = members.leave(db, actor.member_id)
        user = portal.auth.users.by_id(user_id) if user_id is not None else None
        if user is not None:
            portal.auth.delete_user("portal", user.username, actor=f"member:{actor.member_id}")

    await run_in_threadpool(go)
    response = RedirectResponse(PREFIX + "?left=1", status_code=303)
    response.delete_cookie(web.cookie_name(request), path="/")
    return harden(response)
