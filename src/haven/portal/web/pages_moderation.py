"""Moderators' pages: vetting, suspension, case-study approval, surveys and instruments, the action record.
Every decision goes through the core, which checks the role again and records it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from haven.auth.web import harden
from haven.errors import InputError
from haven.portal import assessments, audit, casestudies, discussions, members, surveys
from haven.portal.actors import Actor
from haven.portal.web.pages_knowledge import _run
from haven.portal.web.site import MODERATORS, PREFIX, member, page, router
from haven.portal.web.state import get_portal


def _back(path: str) -> Response:
    return harden(RedirectResponse(PREFIX + path, status_code=303))


@router.get("/moderate")
async def moderate_home(request: Request, actor: Actor = Depends(member(*MODERATORS))) -> Response:
    def load(db: Any) -> dict[str, Any]:
        return {
            "applications": members.queue(db, "applied"),
            "more_info": members.queue(db, "more_info"),
            "approved": members.queue(db, "approved"),
            "suspended": members.queue(db, "suspended"),
            "cases": casestudies.listing(db, status="submitted"),
        }

    return await page(request, "moderate.html", **await _run(request, load))


@router.post("/moderate/members/{member_id}")
async def moderate_member(
    request: Request,
    member_id: int,
    actor: Actor = Depends(member(*MODERATORS)),
    action: str = Form(""),
    note: str = Form(""),
) -> Response:
    """Approve, reject, ask for more, suspend or reinstate; the login is enabled only while approved."""
    portal = get_portal(request)

    def work(db: Any) -> int | None:
        m = members.moderate(db, actor, member_id, action, note, notifier=portal.notifier)
        return m.user_id if m.status in ("approved", "suspended", "rejected") else None

    user_id = await _run(request, work)
    user = portal.auth.users.by_id(user_id) if user_id is not None else None
    if user is not None:
        if action in ("approve", "reinstate"):
            portal.auth.enable_user("portal", user.username, actor=actor.label)
        elif not user.disabled:  # suspension ends every live session at once
            portal.auth.disable_user("portal", user.username, actor=actor.label)
    return _back("/moderate")


@router.post("/moderate/cases/{case_id}")
async def moderate_case(
    request: Request,
    case_id: int,
    actor: Actor = Depends(member(*MODERATORS)),
    action: str = Form(""),
    note: str = Form(""),
) -> Response:
    notifier = get_portal(request).notifier
    await _run(request, lambda db: casestudies.moderate(db, actor, case_id, action, note, notifier=notifier))
    return _back("/moderate")


@router.post("/moderate/comments/{comment_id}/hide")
async def moderate_comment(
    request: Request,
    comment_id: int,
    actor: Actor = Depends(member(*MODERATORS)),
    reason: str = Form(""),
    case_id: int = Form(0),
) -> Response:
    await _run(request, lambda db: casestudies.hide_comment(db, actor, comment_id, reason))
    return _back(f"/cases/{case_id}")


@router.post("/moderate/posts/{post_id}/hide")
async def moderate_post(
    request: Request,
    post_id: int,
    actor: Actor = Depends(member(*MODERATORS)),
    reason: str = Form(""),
    topic_id: int = Form(0),
) -> Response:
    await _run(request, lambda db: discussions.hide_post(db, actor, post_id, reason))
    return _back(f"/talk/{topic_id}")


@router.post("/moderate/topics/{topic_id}/lock")
async def moderate_lock(
    request: Request, topic_id: int, actor: Actor = Depends(member(*MODERATORS)), locked: str = Form("1")
) -> Response:
    await _run(request, lambda db: discussions.set_locked(db, actor, topic_id, locked == "1"))
    return _back(f"/talk/{topic_id}")


@router.get("/moderate/audit")
async def moderate_audit(request: Request, actor: Actor = Depends(member(*MODERATORS))) -> Response:
    return await page(
        request, "audit.html", entries=await _run(request, lambda db: audit.entries(db, limit=500))
    )


@router.get("/moderate/surveys")
async def moderate_surveys(request: Request, actor: Actor = Depends(member(*MODERATORS))) -> Response:
    def load(db: Any) -> dict[str, Any]:
        return {
            "rounds": [(r, surveys.get(db, r.survey_id)) for r in surveys.rounds(db)],
            "instruments": assessments.instruments(db),
            "surveys": _all_surveys(db),
        }

    return await page(
        request, "moderate_surveys.html", kinds=surveys.SURVEY_KINDS, **await _run(request, load)
    )


def _all_surveys(db: Any) -> list[Any]:
    from sqlalchemy import select

    from haven.portal.models import Survey

    return list(db.scalars(select(Survey).order_by(Survey.id.desc())))


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: not valid JSON ({exc.msg}, line {exc.lineno})", code="bad_json") from exc


@router.post("/moderate/surveys")
async def moderate_survey_create(
    request: Request,
    actor: Actor = Depends(member(*MODERATORS)),
    key: str = Form(""),
    kind: str = Form("practice"),
    title_en: str = Form(""),
    title_fr: str = Form(""),
    questions: str = Form(""),
) -> Response:
    title = {"en": title_en.strip(), **({"fr": title_fr.strip()} if title_fr.strip() else {})}
    await _run(
        request,
        lambda db: surveys.create(
            db, actor, key=key.strip(), kind=kind, title=title, questions=_json(questions, "questions")
        ),
    )
    return _back("/moderate/surveys")


@router.post("/moderate/surveys/{survey_id}/rounds")
async def moderate_round_open(
    request: Request, survey_id: int, actor: Actor = Depends(member(*MODERATORS)), name: str = Form("")
) -> Response:
    await _run(request, lambda db: surveys.open_round(db, actor, survey_id, name))
    return _back("/moderate/surveys")


@router.post("/moderate/rounds/{round_id}/close")
async def moderate_round_close(
    request: Request, round_id: int, actor: Actor = Depends(member(*MODERATORS))
) -> Response:
    await _run(request, lambda db: surveys.close_round(db, actor, round_id))
    return _back("/moderate/surveys")


@router.post("/moderate/instruments")
async def moderate_instrument_create(
    request: Request,
    actor: Actor = Depends(member(*MODERATORS)),
    key: str = Form(""),
    title: str = Form(""),
    definition: str = Form(""),
) -> Response:
    await _run(
        request, lambda db: assessments.create(db, actor, key.strip(), title, _json(definition, "definition"))
    )
    return _back("/moderate/surveys")


@router.post("/moderate/instruments/{instrument_id}/publish")
async def moderate_instrument_publish(
    request: Request, instrument_id: int, actor: Actor = Depends(member(*MODERATORS))
) -> Response:
    await _run(request, lambda db: assessments.publish(db, actor, instrument_id))
    return _back("/moderate/surveys")
