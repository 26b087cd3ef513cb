"""Recovery-needs assessments, surveys and discussions."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from haven.auth.web import harden
from haven.errors import HavenError, InputError
from haven.portal import assessments, charts, discussions, surveys
from haven.portal.actors import Actor
from haven.portal.web import i18n
from haven.portal.web.pages_knowledge import _run
from haven.portal.web.site import PREFIX, member, page, router
from haven.portal.web.state import get_portal

# -- assessments -------------------------------------------------------------------------------------------


@router.get("/assess")
async def assess_home(request: Request, actor: Actor = Depends(member())) -> Response:
    def load(db: Any) -> dict[str, Any]:
        published = [i for i in assessments.instruments(db) if i.published]
        keys = sorted({i.key for i in published})
        return {
            "cases": assessments.my_cases(db, actor),
            "instruments": published,
            "aggregates": {k: assessments.aggregate(db, k) for k in keys},
        }

    return await page(request, "assess.html", age_bands=assessments.AGE_BANDS, **await _run(request, load))


@router.post("/assess/cases")
async def assess_new_case(
    request: Request, actor: Actor = Depends(member()), instrument: str = Form(""), age_band: str = Form("")
) -> Response:
    case = await _run(request, lambda db: assessments.open_case(db, actor, instrument, age_band))
    return harden(RedirectResponse(f"{PREFIX}/assess/cases/{case.id}", status_code=303))


async def _case_page(
    request: Request, actor: Actor, case_id: int, status: int = 200, error: HavenError | None = None
) -> Response:
    def load(db: Any) -> dict[str, Any]:
        case = assessments.own_case(db, actor, case_id)
        inst = assessments.current(db, case.instrument_key)
        points = assessments.trajectory(db, actor, case_id)
        d = inst.definition
        lang = i18n.current()
        titles = {dom["key"]: dom["title"].get(lang) or dom["title"]["en"] for dom in d["domains"]}
        span = d["scale"]["max"] - d["scale"]["min"]
        maxima = {
            dom["key"]: span * len(dom["items"]) + d["scale"]["min"] * len(dom["items"])
            for dom in d["domains"]
        }
        svg = (
            charts.trajectory([(p.week, p.scores) for p in points], titles, scale_max=maxima)
            if points
            else ""
        )
        return {
            "case": case,
            "instrument": inst,
            "points": points,
            "titles": titles,
            "chart": Markup(svg),
            "next_week": (points[-1].week + 4) if points else 0,
        }

    return await page(request, "assess_case.html", status=status, error=error, **await _run(request, load))


@router.get("/assess/cases/{case_id}")
async def assess_case(request: Request, case_id: int, actor: Actor = Depends(member())) -> Response:
    return await _case_page(request, actor, case_id)


@router.post("/assess/cases/{case_id}")
async def assess_record(request: Request, case_id: int, actor: Actor = Depends(member())) -> Response:
    form = await request.form()
    try:
        week = int(str(form.get("week", "0")) or 0)
        answers = {k[2:]: int(str(v)) for k, v in form.items() if k.startswith("a_") and str(v).strip()}
    except ValueError:
        return await _case_page(request, actor, case_id, 422, InputError("answers and week are numbers"))
    try:
        await _run(request, lambda db: assessments.record(db, actor, case_id, answers, week))
    except HavenError as exc:
        return await _case_page(request, actor, case_id, 422, exc)
    return harden(RedirectResponse(f"{PREFIX}/assess/cases/{case_id}", status_code=303))


# -- surveys -------------------------------------------------------------------------------------------------


@router.get("/surveys")
async def surveys_home(request: Request, actor: Actor = Depends(member())) -> Response:
    def load(db: Any) -> dict[str, Any]:
        rows = surveys.rounds(db)
        return {
            "rounds": [
                (r, surveys.get(db, r.survey_id), surveys.has_answered(db, r.id, actor.member_id))
                for r in rows
            ]
        }

    return await page(request, "surveys.html", **await _run(request, load))


@router.get("/surveys/rounds/{round_id}")
async def survey_form(request: Request, round_id: int, actor: Actor = Depends(member())) -> Response:
    def load(db: Any) -> dict[str, Any]:
        rnd = surveys.get_round(db, round_id)
        return {
            "round": rnd,
            "survey": surveys.get(db, rnd.survey_id),
            "answered": surveys.has_answered(db, round_id, actor.member_id),
        }

    return await page(request, "survey_form.html", text_for=surveys.text_for, **await _run(request, load))


@router.post("/surveys/rounds/{round_id}")
async def survey_answer(request: Request, round_id: int, actor: Actor = Depends(member())) -> Response:
    form = await request.form()

    def work(db: Any) -> None:
        survey = surveys.get(db, surveys.get_round(db, round_id).survey_id)
        answers: dict[str, Any] = {}
        for q in survey.questions:
            values = [str(v) for v in form.getlist("q_" + q["key"]) if str(v).strip()]
            if q["type"] == "multi":
                answers[q["key"]] = values
            elif values:
                answers[q["key"]] = values[0]
        surveys.respond(db, actor, round_id, answers, language=i18n.current())

    await _run(request, work)
    return harden(RedirectResponse(f"{PREFIX}/surveys/rounds/{round_id}/results", status_code=303))


@router.get("/surveys/rounds/{round_id}/results")
async def survey_results(
    request: Request, round_id: int, actor: Actor = Depends(member()), by: str = "country"
) -> Response:
    k = get_portal(request).settings.min_cell
    lang = i18n.current()

    def load(db: Any) -> dict[str, Any]:
        rnd = surveys.get_round(db, round_id)
        survey = surveys.get(db, rnd.survey_id)
        results = []
        for q in survey.questions:
            if q["type"] == "text":
                continue
            r = surveys.results(db, round_id, q["key"], by=by, k=k, language=lang)
            results.append((r, Markup(charts.bars(r.table, title=surveys.text_for(q["text"], lang)))))
        return {"round": rnd, "survey": survey, "results": results}

    return await page(
        request, "survey_results.html", by=by, k=k, text_for=surveys.text_for, **await _run(request, load)
    )


@router.get("/surveys/rounds/{round_id}/results.csv")
async def survey_csv(
    request: Request, round_id: int, question: str, actor: Actor = Depends(member()), by: str = "country"
) -> Response:
    k = get_portal(request).settings.min_cell
    result = await _run(request, lambda db: surveys.results(db, round_id, question, by=by, k=k))
    return harden(
        Response(
            surveys.to_csv(result),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="round-{round_id}-{question}-by-{by}.csv"'
            },
        )
    )


# -- discussions ---------------------------------------------------------------------------------------------


@router.get("/talk")
async def talk_home(request: Request, actor: Actor = Depends(member())) -> Response:
    return await page(request, "talk.html", topics=await _run(request, discussions.topics))


@router.post("/talk")
async def talk_new(
    request: Request, actor: Actor = Depends(member()), title: str = Form(""), body: str = Form("")
) -> Response:
    notifier = get_portal(request).notifier
    topic = await _run(
        request, lambda db: discussions.create_topic(db, actor, title, body, notifier=notifier)
    )
    return harden(RedirectResponse(f"{PREFIX}/talk/{topic.id}", status_code=303))


@router.get("/talk/{topic_id}")
async def talk_topic(request: Request, topic_id: int, actor: Actor = Depends(member())) -> Response:
    def load(db: Any) -> dict[str, Any]:
        return {
            "topic": discussions.get_topic(db, topic_id),
            "posts": discussions.posts(db, topic_id, include_hidden=actor.is_moderator),
        }

    return await page(request, "topic.html", is_moderator=actor.is_moderator, **await _run(request, load))


@router.post("/talk/{topic_id}")
async def talk_post(
    request: Request,
    topic_id: int,
    actor: Actor = Depends(member()),
    body: str = Form(""),
    follow: str = Form(""),
) -> Response:
    notifier = get_portal(request).notifier

    def work(db: Any) -> None:
        discussions.post(db, actor, topic_id, body, notifier=notifier)
        if follow == "on":
            discussions.follow(db, actor, topic_id)

    await _run(request, work)
    return harden(RedirectResponse(f"{PREFIX}/talk/{topic_id}", status_code=303))
