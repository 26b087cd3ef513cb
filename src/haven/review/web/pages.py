"""The console's pages: home (queues, my exposure, blur), the item page, decisions, reveal, the team's
exposure (leads), the dashboard with CSV and Prometheus (leads), the settings (admins)."""

from __future__ import annotations

import json

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from haven.auth.actor import Actor
from haven.auth.web import get_auth, harden
from haven.errors import PermissionDeniedError, UsageError
from haven.review import stats as stats_mod
from haven.review.queues import add_route, delete_route, list_queues, list_routes, save_queue
from haven.review.web.site import ADMINS, LEADS, PREFIX, REVIEWERS, get_review, page, router, web

STOP_TEXT = {
    "cap": "You have reached today's limit of items. Thank you — the queue stops here for today.",
    "break": "Time for a break. Step away from the screen for a few minutes before the next item.",
    "empty": "Nothing is waiting in your queues.",
}


def _go(url: str) -> Response:
    return harden(RedirectResponse(url, status_code=303))


def _image(data: bytes, media_type: str) -> Response:
    return harden(
        Response(
            data,
            media_type=media_type,
            headers={"Cache-Control": "no-store", "Content-Disposition": "inline"},
        )
    )


@router.get("")
async def home(
    request: Request, stop: str | None = None, actor: Actor = Depends(web.require(*REVIEWERS))
) -> Response:
    svc = get_review(request)
    queues = await run_in_threadpool(svc.queues, actor)
    today = await run_in_threadpool(svc.today, actor)
    cfg = await run_in_threadpool(svc.config)
    blur = await run_in_threadpool(svc.blur_of, actor)
    held = await run_in_threadpool(svc.reviews.held_by, actor.label)
    return await page(
        request,
        "home.html",
        queues=queues,
        today=today,
        cfg=cfg,
        blur=blur,
        held=held,
        stop=STOP_TEXT.get(stop or ""),
        stop_kind=stop,
        is_lead=actor.has_role(*LEADS),
        is_admin=actor.has_role(*ADMINS),
    )


@router.post("/next")
async def take_next(
    request: Request, queue: str = Form("", max_length=100), actor: Actor = Depends(web.require(*REVIEWERS))
) -> Response:
    got = await run_in_threadpool(get_review(request).next_item, actor, queue or None)
    if got.item is None:
        return _go(f"{PREFIX}?stop={got.reason}")
    return _go(f"{PREFIX}/items/{got.item.id}")


@router.post("/break")
async def take_break(request: Request, actor: Actor = Depends(web.require(*REVIEWERS))) -> Response:
    await run_in_threadpool(get_review(request).take_break, actor)
    return _go(PREFIX)


@router.post("/blur")
async def set_blur(
    request: Request, blur: int = Form(...), actor: Actor = Depends(web.require(*REVIEWERS))
) -> Response:
    await run_in_threadpool(get_review(request).set_blur, actor, blur)
    return _go(PREFIX)


@router.get("/items/{item_id}")
async def item(request: Request, item_id: int, actor: Actor = Depends(web.require(*REVIEWERS))) -> Response:
    view = await run_in_threadpool(get_review(request).view, actor, item_id)
    return await page(request, "item.html", v=view)


@router.get("/items/{item_id}/preview")
async def preview(
    request: Request, item_id: int, actor: Actor = Depends(web.require(*REVIEWERS))
) -> Response:
    got = await run_in_threadpool(get_review(request).preview, actor, item_id)
    return _image(got.data, got.media_type)


@router.post("/items/{item_id}/reveal")
async def reveal(
    request: Request,
    item_id: int,
    reason: str = Form(..., max_length=2000),
    actor: Actor = Depends(web.require(*REVIEWERS)),
) -> Response:
    await run_in_threadpool(get_review(request).reveal, actor, item_id, reason)
    return _go(f"{PREFIX}/items/{item_id}")


@router.get("/items/{item_id}/original")
async def original(
    request: Request, item_id: int, actor: Actor = Depends(web.require(*REVIEWERS))
) -> Response:
    got = await run_in_threadpool(get_review(request).original, actor, item_id)
    return _image(got.data, got.media_type)


@router.post("/items/{item_id}/comment")
async def comment(
    request: Request,
    item_id: int,
    text: str = Form(..., max_length=4000),
    actor: Actor = Depends(web.require(*REVIEWERS)),
) -> Response:
    await run_in_threadpool(get_review(request).comment, actor, item_id, text)
    return _go(f"{PREFIX}/items/{item_id}")


@router.post("/items/{item_id}/decide")
async def decide(
    request: Request,
    item_id: int,
    decision: str = Form(..., max_length=20),
    classification: str = Form("", max_length=4),
    note: str = Form("", max_length=4000),
    actor: Actor = Depends(web.require(*REVIEWERS)),
) -> Response:
    await run_in_threadpool(
        get_review(request).decide, actor, item_id, decision, classification=classification or None, note=note
    )
    return _go(f"{PREFIX}/decided/{item_id}")


@router.get("/decided/{item_id}")
async def decided(
    request: Request, item_id: int, actor: Actor = Depends(web.require(*REVIEWERS))
) -> Response:
    """What became of a decision: the decision, the report draft it made, its audit entries. For the one
    who decided and for leads."""
    svc = get_review(request)
    decisions = await run_in_threadpool(svc.decisions, item_id)
    if not decisions or not (actor.has_role(*LEADS) or any(d["actor"] == actor.label for d in decisions)):
        raise PermissionDeniedError("you did not decide on this item")
    last = decisions[-1]
    report = None
    if last["detail"].get("report"):
        report = await run_in_threadpool(svc.report, int(last["detail"]["report"]))
    targets = [f"review:{item_id}"] + (
        [f"vault:{last['detail']['vault_item']}"] if last["detail"].get("vault_item") else []
    )

    def entries() -> list:  # type: ignore[type-arg]
        out = []
        for t in targets:
            out.extend(svc.audit.entries(target=t))
        return sorted(out, key=lambda e: e.seq)

    audit = await run_in_threadpool(entries)
    return await page(request, "decided.html", item_id=item_id, decision=last, report=report, audit=audit)


@router.get("/team")
async def team(request: Request, actor: Actor = Depends(web.require(*LEADS))) -> Response:
    svc = get_review(request)
    rows = await run_in_threadpool(svc.team, 7)
    cfg = await run_in_threadpool(svc.config)
    return await page(request, "team.html", rows=rows, cfg=cfg)


def _stats(request: Request, days: int):  # type: ignore[no-untyped-def]
    svc = get_review(request)
    with svc.sessions() as s:
        return stats_mod.compute(s, svc.now(), days)


@router.get("/stats")
async def dashboard(
    request: Request, days: int = 30, actor: Actor = Depends(web.require(*LEADS))
) -> Response:
    days = max(1, min(days, 366))
    st = await run_in_threadpool(_stats, request, days)
    totals = st.decision_totals()
    charts = [
        stats_mod.svg_bars(st.daily(st.decisions, d), st.days, title=f"decisions: {d}")
        for d in sorted(totals)
    ]
    matches_daily = [sum(n for (day, _, _), n in st.matches.items() if day == d) for d in st.days]
    charts.insert(0, stats_mod.svg_bars(matches_daily, st.days, title="items sent to review"))
    return await page(request, "stats.html", st=st, totals=totals, charts=charts, days=days)


@router.get("/stats.csv")
async def stats_csv(
    request: Request, days: int = 30, actor: Actor = Depends(web.require(*LEADS))
) -> Response:
    st = await run_in_threadpool(_stats, request, max(1, min(days, 366)))
    return harden(
        PlainTextResponse(
            stats_mod.to_csv(st),
            media_type="text/csv",
            headers={"Content-Disposition": "attachment; filename=review-stats.csv"},
        )
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text: for a lead's or admin's session, or an API key with the ``review`` scope."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        key = await run_in_threadpool(get_auth(request).keys.authenticate, header[7:].strip())
        if not ("review" in key.scopes or "admin" in key.scopes):
            raise PermissionDeniedError("this key lacks the review scope")
    else:
        await web.require(*LEADS)(request)
    st = await run_in_threadpool(_stats, request, 30)
    return PlainTextResponse(stats_mod.to_prometheus(st), media_type="text/plain; version=0.0.4")


@router.post("/submit")
async def submit(request: Request, file: UploadFile = File(...), note: str = Form("", max_length=2000),
                 actor: Actor = Depends(web.require(*REVIEWERS))) -> Response:
    """Manual escalation: content found outside the matcher (a user report, a moderator's find) goes into
    the vault and a routed queue, ahead of known content."""
    from haven.service.routes.hashing import read_upload
    from haven.service.state import get_state

    data = await read_upload(file, get_state(request).settings)
    item_id = await run_in_threadpool(get_review(request).submit, actor, data, name=file.filename or "upload",
                                      media_type=file.content_type or "application/octet-stream", note=note)
    return _go(f"{PREFIX}?submitted={item_id}")


@router.get("/admin")
async def admin(request: Request, actor: Actor = Depends(web.require(*ADMINS))) -> Response:
    svc = get_review(request)

    def load():  # type: ignore[no-untyped-def]
        with svc.sessions() as s:
            return list_queues(s), list_routes(s)

    queues, routes = await run_in_threadpool(load)
    cfg = await run_in_threadpool(svc.config)
    return await page(
        request,
        "admin.html",
        queues=queues,
        routes=routes,
        cfg=cfg,
        reporter=json.dumps(cfg.reporter, indent=1),
    )


def _audited(request: Request, actor: Actor, event: str, detail: dict) -> None:  # type: ignore[type-arg]
    get_review(request).audit.record(event, actor.label, "review:config", detail)


@router.post("/admin/queues")
async def admin_queue(
    request: Request,
    name: str = Form(..., max_length=100),
    roles: str = Form("", max_length=200),
    users: str = Form("", max_length=2000),
    description: str = Form("", max_length=400),
    actor: Actor = Depends(web.require(*ADMINS)),
) -> Response:
    svc = get_review(request)

    def save() -> None:
        with svc.begin() as s:
            save_queue(
                s,
                name.strip(),
                roles=[r.strip() for r in roles.split(",") if r.strip()],
                users=users.split(","),
                description=description,
                now=svc.now(),
            )
        _audited(request, actor, "review.queue", {"queue": name, "roles": roles, "users": users})

    await run_in_threadpool(save)
    return _go(PREFIX + "/admin")


@router.post("/admin/routes")
async def admin_route(
    request: Request,
    queue: str = Form(..., max_length=100),
    when: str = Form(..., max_length=2000),
    position: str = Form("", max_length=6),
    actor: Actor = Depends(web.require(*ADMINS)),
) -> Response:
    svc = get_review(request)
    try:
        conditions = json.loads(when)
    except ValueError:
        raise UsageError('conditions: a JSON object such as {"bank": "ncmec", "min_severity": 3}') from None
    if not isinstance(conditions, dict):
        raise UsageError("conditions: a JSON object")

    def save() -> None:
        with svc.begin() as s:
            add_route(s, queue, conditions, position=int(position) if position.strip().isdigit() else None)
        _audited(request, actor, "review.route", {"queue": queue, "when": conditions})

    await run_in_threadpool(save)
    return _go(PREFIX + "/admin")


@router.post("/admin/routes/{route_id}/delete")
async def admin_route_delete(
    request: Request, route_id: int, actor: Actor = Depends(web.require(*ADMINS))
) -> Response:
    svc = get_review(request)

    def remove() -> None:
        with svc.begin() as s:
            delete_route(s, route_id)
        _audited(request, actor, "review.route_removed", {"route": route_id})

    await run_in_threadpool(remove)
    return _go(PREFIX + "/admin")


@router.post("/admin/settings")
async def admin_settings(request: Request, actor: Actor = Depends(web.require(*ADMINS))) -> Response:
    form = await request.form()
    changes: dict = {}  # type: ignore[type-arg]
    for key in (
        "blur_min",
        "blur_max",
        "blur_default",
        "daily_cap",
        "break_after",
        "lease_minutes",
        "idle_minutes",
        "skip_hours",
    ):
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            try:
                changes[key] = int(value)
            except ValueError:
                raise UsageError(f"{key}: a whole number") from None
    changes["confirm_actions"] = [a for a in ("quarantine", "report") if form.get(f"action_{a}")]
    reporter = form.get("reporter")
    if isinstance(reporter, str) and reporter.strip():
        try:
            changes["reporter"] = json.loads(reporter)
        except ValueError:
            raise UsageError("reporter: a JSON object") from None
    await run_in_threadpool(get_review(request).configure, actor, changes)
    return _go(PREFIX + "/admin")
