"""The library, search and case studies."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from haven.auth.web import harden
from haven.errors import HavenError, InputError
from haven.portal import casestudies, library, search
from haven.portal.actors import Actor
from haven.portal.casestudies import SECTION_TITLES, SECTIONS
from haven.portal.web.site import PREFIX, member, page, router
from haven.portal.web.state import get_portal

MAX_UPLOAD = library.MAX_PDF_BYTES


def _run(request: Request, fn: Any) -> Any:
    portal = get_portal(request)

    def work() -> Any:
        with portal.store.begin() as db:
            return fn(db)

    return run_in_threadpool(work)


# -- library ---------------------------------------------------------------------------------------------


@router.get("/library")
async def library_list(
    request: Request,
    actor: Actor = Depends(member()),
    kind: str = "",
    country: str = "",
    language: str = "",
    audience: str = "",
    tag: str = "",
) -> Response:
    rows = await _run(
        request,
        lambda db: library.listing(
            db,
            kind=kind or None,
            country=country.upper() or None,
            language=language or None,
            audience=audience or None,
            tag=tag or None,
        ),
    )
    return await page(
        request,
        "library.html",
        resources=rows,
        kinds=library.KINDS,
        audiences=library.AUDIENCES,
        filters={"kind": kind, "country": country, "language": language, "audience": audience, "tag": tag},
    )


@router.get("/library/new")
async def library_new(request: Request, actor: Actor = Depends(member())) -> Response:
    return await page(
        request, "resource_form.html", kinds=library.KINDS, audiences=library.AUDIENCES, form={}
    )


async def _pdf(upload: UploadFile | None) -> tuple[bytes | None, str | None]:
    if upload is None or not upload.filename:
        return None, None
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError("the PDF is larger than 20 MiB", path=upload.filename, code="too_large")
    return data, upload.filename


@router.post("/library/new")
async def library_create(
    request: Request,
    actor: Actor = Depends(member()),
    title: str = Form(""),
    kind: str = Form("guide"),
    country: str = Form("XX"),
    language: str = Form("en"),
    audience: str = Form("all"),
    tags: str = Form(""),
    markdown: str = Form(""),
    pdf: UploadFile | None = File(None),
) -> Response:
    form = {
        "title": title,
        "kind": kind,
        "country": country,
        "language": language,
        "audience": audience,
        "tags": tags,
        "markdown": markdown,
    }
    try:
        data, filename = await _pdf(pdf)
        res = await _run(
            request,
            lambda db: library.create(
                db,
                actor,
                title=title,
                kind=kind,
                country=country,
                language=language,
                audience=audience,
                tags=tags.split(","),
                markdown=markdown,
                pdf=data,
                filename=filename,
            ),
        )
    except HavenError as exc:
        return await page(
            request,
            "resource_form.html",
            status=422,
            error=exc,
            kinds=library.KINDS,
            audiences=library.AUDIENCES,
            form=form,
        )
    return harden(RedirectResponse(f"{PREFIX}/library/{res.id}", status_code=303))


@router.get("/library/{resource_id}")
async def resource_view(
    request: Request, resource_id: int, actor: Actor = Depends(member()), v: int | None = None
) -> Response:
    def load(db: Any) -> dict[str, Any]:
        return {
            "resource": library.get(db, resource_id),
            "version": library.version(db, resource_id, v),
            "versions": library.versions(db, resource_id),
        }

    return await page(request, "resource.html", **await _run(request, load))


@router.post("/library/{resource_id}/versions")
async def resource_version(
    request: Request,
    resource_id: int,
    actor: Actor = Depends(member()),
    markdown: str = Form(""),
    note: str = Form(""),
    pdf: UploadFile | None = File(None),
) -> Response:
    data, filename = await _pdf(pdf)
    await _run(
        request,
        lambda db: library.add_version(
            db, actor, resource_id, markdown=markdown, pdf=data, filename=filename, note=note
        ),
    )
    return harden(RedirectResponse(f"{PREFIX}/library/{resource_id}", status_code=303))


@router.get("/library/{resource_id}/file/{number}")
async def resource_file(
    request: Request, resource_id: int, number: int, actor: Actor = Depends(member())
) -> Response:
    row = await _run(request, lambda db: library.version(db, resource_id, number))
    if not row.file_bytes:
        raise InputError("this version has no file", code="no_file")
    return harden(
        Response(
            row.file_bytes,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="resource-{resource_id}-v{number}.pdf"'},
        )
    )


@router.get("/search")
async def search_page(
    request: Request, actor: Actor = Depends(member()), q: str = "", type: str = ""
) -> Response:
    hits = await _run(request, lambda db: search.search(db, q, doc_type=type or None)) if q.strip() else []
    return await page(request, "search.html", q=q, hits=hits, doc_type=type)


# -- case studies ----------------------------------------------------------------------------------------


@router.get("/cases")
async def cases_list(request: Request, actor: Actor = Depends(member())) -> Response:
    def load(db: Any) -> dict[str, Any]:
        return {
            "published": casestudies.listing(db),
            "mine": casestudies.listing(db, author_id=actor.member_id),
        }

    return await page(request, "cases.html", **await _run(request, load))


async def _edit_page(request: Request, *, case: Any, values: dict[str, Any], findings: list[dict[str, Any]],
                     status: int = 200, error: HavenError | None = None) -> Response:
    return await page(request, "case_edit.html", status=status, error=error, case=case, sections=SECTIONS,
                      titles=SECTION_TITLES, values=values, findings=findings)


def _typed(form: Any) -> dict[str, Any]:
    """What the author typed, to show again when saving failed."""
    return {**_sections(form), "title": form.get("title", "")}


@router.get("/cases/new")
async def case_new(request: Request, actor: Actor = Depends(member())) -> Response:
    return await _edit_page(request, case=None, values={}, findings=[])


def _sections(form: Any) -> dict[str, str]:
    return {s: str(form.get(s, "")) for s in SECTIONS}


def _justifications(form: Any) -> dict[str, str]:
    out = {}
    for name, key in form.multi_items():
        if name.startswith("jk_"):
            text = str(form.get("j_" + name[3:], "")).strip()
            if text:
                out[str(key)] = text
    return out


@router.post("/cases/new")
async def case_create(request: Request, actor: Actor = Depends(member())) -> Response:
    form = await request.form()
    try:
        cs = await _run(
            request,
            lambda db: casestudies.create(
                db,
                actor,
                title=str(form.get("title", "")),
                country=str(form.get("country", "")),
                language=str(form.get("language", "en")),
                sections=_sections(form),
            ),
        )
    except HavenError as exc:
        return await _edit_page(request, case=None, values=_typed(form), findings=[], status=422, error=exc)
    return harden(RedirectResponse(f"{PREFIX}/cases/{cs.id}/edit", status_code=303))


@router.get("/cases/{case_id}/edit")
async def case_edit(request: Request, case_id: int, actor: Actor = Depends(member())) -> Response:
    cs = await _run(request, lambda db: casestudies.visible(db, actor, case_id))
    values = {**cs.sections, "title": cs.title}
    return await _edit_page(request, case=cs, values=values, findings=cs.deid_findings or [])


@router.post("/cases/{case_id}/edit")
async def case_save(request: Request, case_id: int, actor: Actor = Depends(member())) -> Response:
    """Save the text; then ``action`` = check (show the findings) or submit (refused while any is open)."""
    form = await request.form()
    action = str(form.get("action", "check"))
    justifications = _justifications(form)

    def work(db: Any) -> tuple[Any, list[dict[str, Any]], HavenError | None]:
        cs = casestudies.update(
            db, actor, case_id, title=str(form.get("title", "")), sections=_sections(form)
        )
        if action == "submit":
            try:
                casestudies.submit(db, actor, case_id, justifications)
                return cs, [], None
            except casestudies.DeidentificationRequired as exc:
                return cs, list(cs.deid_findings), exc
        return cs, casestudies.check(db, actor, case_id, justifications), None

    try:
        cs, findings, stopped = await _run(request, work)
    except HavenError as exc:
        return await _edit_page(request, case=None, values=_typed(form), findings=[], status=422, error=exc)
    if cs.status == "submitted":
        return harden(RedirectResponse(f"{PREFIX}/cases/{case_id}", status_code=303))
    values = {**cs.sections, "title": cs.title}
    status = 409 if stopped else 200
    return await _edit_page(request, case=cs, values=values, findings=findings, status=status, error=stopped)


@router.get("/cases/{case_id}")
async def case_view(request: Request, case_id: int, actor: Actor = Depends(member())) -> Response:
    def load(db: Any) -> dict[str, Any]:
        cs = casestudies.visible(db, actor, case_id)
        return {"case": cs, "comments": casestudies.comments(db, case_id)}

    return await page(
        request, "case.html", sections=SECTIONS, titles=SECTION_TITLES, **await _run(request, load)
    )


@router.post("/cases/{case_id}/comments")
async def case_comment(
    request: Request, case_id: int, actor: Actor = Depends(member()), body: str = Form("")
) -> Response:
    await _run(request, lambda db: casestudies.add_comment(db, actor, case_id, body))
    return harden(RedirectResponse(f"{PREFIX}/cases/{case_id}#comments", status_code=303))
