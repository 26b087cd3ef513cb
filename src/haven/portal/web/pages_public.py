"""What anyone may see: the landing page, the application form, the language switch. Nothing else."""

from __future__ import annotations

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from haven.errors import ConflictError, HavenError
from haven.portal import members
from haven.portal.members import PROFESSIONS
from haven.portal.web import i18n
from haven.portal.web.site import PREFIX, page, router
from haven.portal.web.state import get_portal


@router.get("")
async def landing(request: Request) -> Response:
    return await page(request, "landing.html")


@router.get("/language/{code}")
async def language(request: Request, code: str, next: str = PREFIX) -> Response:
    target = next if next.startswith(PREFIX) and "//" not in next else PREFIX
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            code,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
            max_age=365 * 86400,
        )
    return response


@router.get("/apply")
async def apply_form(request: Request) -> Response:
    return await page(request, "apply.html", professions=PROFESSIONS, form={})


@router.post("/apply")
async def apply_submit(
    request: Request,
    name: str = Form(""),
    email: str = Form(""),
    organisation: str = Form(""),
    profession: str = Form(""),
    country: str = Form(""),
    languages: str = Form(""),
    referee_name: str = Form(""),
    referee_email: str = Form(""),
    statement: str = Form(""),
    password: str = Form(""),
    repeat: str = Form(""),
) -> Response:
    """File an application: a portal member (``applied``) and a login that stays disabled until approval."""
    portal = get_portal(request)
    form = {
        "name": name,
        "email": email,
        "organisation": organisation,
        "profession": profession,
        "country": country,
        "languages": languages,
        "referee_name": referee_name,
        "referee_email": referee_email,
        "statement": statement,
    }
    application = members.Application(
        name=name,
        email=email,
        organisation=organisation,
        profession=profession,
        country=country,
        languages=tuple(languages.replace(";", ",").split(",")),
        referee_name=referee_name,
        referee_email=referee_email,
        statement=statement,
    )

    def file() -> None:
        app = application.validated()
        if password != repeat:
            raise ConflictError("the two passwords differ", code="password_mismatch")
        portal.auth.users.hasher.check_policy(password, username=app.email)
        with portal.store.begin() as db:
            if members.by_email(db, app.email) is not None:
                raise ConflictError(
                    "an application with this e-mail address exists already", code="email_taken"
                )
        user, _ = portal.auth.add_user(
            "portal", app.email, ["member"], password=password, actor="portal:application"
        )
        portal.auth.disable_user(
            "portal", app.email, actor="portal:application"
        )  # until a moderator approves
        try:
            with portal.store.begin() as db:
                members.apply(db, app, user_id=user.id)
        except HavenError:
            portal.auth.delete_user("portal", app.email, actor="portal:application")
            raise

    try:
        await run_in_threadpool(file)
    except HavenError as exc:
        return await page(
            request,
            "apply.html",
            status=422 if exc.code != "email_taken" else 409,
            error=exc,
            professions=PROFESSIONS,
            form=form,
        )
    return await page(request, "applied.html")
