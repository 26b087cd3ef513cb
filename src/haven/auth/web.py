"""FastAPI glue for the identity module: one ``WebAuth`` per web surface (the UI, the review console, the
recovery portal). It is the only file of ``haven.auth`` that imports FastAPI.

A surface makes one at import time and mounts it when its app is built::

    web = WebAuth(realm="staff", prefix="/review", template_dirs=[HERE / "templates"])
    router = APIRouter(prefix="/review", dependencies=[Depends(web.csrf)])

    @router.get("/queue")
    def queue(request: Request, actor: Actor = Depends(web.require("reviewer", "lead"))) -> Response:
        return web.page(request, "queue.html", items=...)

    web.install(app, auth)   # sign-in routes, error pages, app.state.haven_auth

What it gives the surface:

- ``require(*roles)``: a dependency returning the signed-in ``Actor`` of this surface's realm holding one of
  ``roles`` (any role when none are named). Without a live session the page redirects to the sign-in page;
  with the wrong role it answers 403. On POST/PUT/PATCH/DELETE it runs ``csrf`` too.
- ``csrf``: a dependency that refuses a state-changing request from another origin or without the session's
  token (``haven.auth.csrf``); put it on the surface's router so routes without ``require`` are covered.
- ``page(request, template, **ctx)``: renders a template with ``actor``, ``csrf_token`` and the
  ``csrf_field()`` macro in its context and security headers on the response (no framing, a strict CSP,
  ``Referrer-Policy: same-origin`` — which keeps the ``Origin`` header on same-origin posts — and
  ``Cache-Control: no-store``).
- Routes under the prefix: ``/login`` (username and password), ``/login/totp``, ``/login/password``
  (replace a one-time password), ``/login/enrol`` (TOTP secret and QR code), ``/logout``.
- Errors under the prefix become the surface's error page (``error_template``), and ``LoginRequiredError``
  a redirect to ``/login``; everything else keeps the app's own handlers (JSON for the API).

The session cookie is ``haven_<realm>`` (``__Host-haven_<realm>`` over https): HttpOnly, SameSite=Strict,
Secure over https, Path=/, no Max-Age (closing the browser forgets it; the server ends it anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from haven.auth import csrf as csrf_checks
from haven.auth.actor import Actor
from haven.auth.core import Auth
from haven.auth.login import LoginProgress
from haven.auth.realms import get_realm
from haven.auth.sessions import Session
from haven.errors import HavenError, LoginRequiredError, PermissionDeniedError, RateLimitedError

AUTH_TEMPLATES = Path(__file__).with_name("templates")
STEP_PATHS = {"totp": "/login/totp", "password": "/login/password", "enrol": "/login/enrol"}
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                                "base-uri 'none'; object-src 'none'"),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_UNSET = object()
R = TypeVar("R", bound=Response)


def get_auth(request: Request) -> Auth:
    """The app's ``Auth`` (set by ``WebAuth.install``)."""
    return request.app.state.haven_auth  # type: ignore[no-any-return]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@pass_context
def csrf_field(ctx: Any) -> Markup:
    """``{{ csrf_field() }}``: the hidden input every state-changing form carries."""
    return Markup('<input type="hidden" name="csrf_token" value="%s">') % (ctx.get("csrf_token") or "")


class WebAuth:
    """Sign-in, sessions, roles and CSRF for one surface (see the module docstring)."""

    def __init__(self, *, realm: str, prefix: str, template_dirs: Sequence[Path] = (),
                 layout: str = "base.html", error_template: str = "error.html", home: str | None = None,
                 title: str = "Haven") -> None:
        self.realm = get_realm(realm).name
        self.prefix = prefix.rstrip("/")
        self.home = home or self.prefix or "/"
        self.layout, self.error_template, self.title = layout, error_template, title
        self.templates = Jinja2Templates(directory=[*map(str, template_dirs), str(AUTH_TEMPLATES)],
                                         context_processors=[self._context])
        self.templates.env.globals["csrf_field"] = csrf_field
        self.router = self._routes()

    # -- mounting -------------------------------------------------------------------------------------

    def install(self, app: FastAPI, auth: Auth) -> None:
        """Mount the sign-in routes on ``app``, keep ``auth`` on ``app.state.haven_auth`` (one per app, shared
        by its surfaces) and render errors under the prefix as HTML pages."""
        current = getattr(app.state, "haven_auth", None)
        if current is not None and current is not auth:
            raise ValueError("this app already has another Auth; surfaces of one app share one")
        app.state.haven_auth = auth
        app.include_router(self.router)
        for exc_class in (HavenError, RequestValidationError):
            self._chain_handler(app, exc_class)

    def _chain_handler(self, app: FastAPI, exc_class: type[Exception]) -> None:
        previous: Any = app.exception_handlers.get(exc_class)

        async def handler(request: Request, exc: Exception) -> Response:
            if self.owns(request):
                return self.error_response(request, exc)
            if previous is not None:
                return cast(Response, await previous(request, exc))
            return JSONResponse({"code": "error", "message": str(exc)}, status_code=500)

        app.add_exception_handler(exc_class, handler)

    def owns(self, request: Request) -> bool:
        path = request.url.path
        return not self.prefix or path == self.prefix or path.startswith(self.prefix + "/")

    # -- cookies --------------------------------------------------------------------------------------

    def cookie_name(self, request: Request) -> str:
        # __Host- makes the browser refuse the cookie unless Secure, Path=/ and no Domain: a sibling
        # subdomain cannot plant one. Browsers accept that prefix over https only.
        base = f"haven_{self.realm}"
        return f"__Host-{base}" if request.url.scheme == "https" else base

    def login_cookie_name(self, request: Request) -> str:
        return self.cookie_name(request) + "_login"

    def _set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        response.set_cookie(name, value, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")

    def _token(self, request: Request) -> str | None:
        return request.cookies.get(self.cookie_name(request))

    async def _session(self, request: Request) -> Session | None:
        """This request's live session of this realm (any stage), looked up once per request."""
        cached = getattr(request.state, "haven_session", _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[return-value]
        session = await run_in_threadpool(get_auth(request).sessions.get, self._token(request))
        if session is not None and session.realm != self.realm:
            session = None
        request.state.haven_session = session
        return session

    async def signed_in(self, request: Request) -> bool:
        """Whether the request carries a live, fully signed-in session of this realm. The service's request
        gate asks this before it reads a large body (an upload), so a post without one costs nothing but
        its headers; the route still checks roles and CSRF."""
        if not self._token(request):  # no cookie: no database look-up, no thread
            return False
        session = await self._session(request)
        return session is not None and session.active

    # -- dependencies ---------------------------------------------------------------------------------

    async def csrf(self, request: Request) -> None:
        """Dependency: refuse a POST/PUT/PATCH/DELETE from another origin or without this session's token
        (before sign-in: the pre-session token of the login cookie)."""
        if request.method in csrf_checks.SAFE_METHODS or getattr(request.state, "haven_csrf_ok", False):
            return
        here = csrf_checks.request_origin(request.url.scheme, request.headers.get("host"))
        csrf_checks.check_origin(request.headers.get("origin"), request.headers.get("referer"), expected=here,
                                 trusted=get_auth(request).policy.trusted_origins)
        session = await self._session(request)
        expected: str | None
        if session is not None:
            expected = session.csrf_token
        else:
            expected = request.cookies.get(self.login_cookie_name(request))
        csrf_checks.check_token(await self._sent_token(request), expected)
        request.state.haven_csrf_ok = True

    @staticmethod
    async def _sent_token(request: Request) -> str | None:
        header = request.headers.get(csrf_checks.HEADER)
        if header:
            return header
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(csrf_checks.FIELD)  # FastAPI caches the parsed form
            return value if isinstance(value, str) else None
        return None

    def require(self, *roles: str) -> Callable[[Request], Awaitable[Actor]]:
        """A dependency: the signed-in actor holding one of ``roles`` (any role if none are named)."""
        realm = get_realm(self.realm)
        unknown = set(roles) - set(realm.roles)
        if unknown:
            raise ValueError(f"realm {realm.name} has no role(s) {sorted(unknown)}")

        async def dependency(request: Request) -> Actor:
            session = await self._session(request)
            if session is None or not session.active:
                raise LoginRequiredError("please sign in")
            await self.csrf(request)
            auth = get_auth(request)
            actor, _ = await run_in_threadpool(auth.authenticate, self._token(request), self.realm)
            request.state.haven_actor = actor
            if roles and not actor.has_role(*roles):
                raise PermissionDeniedError(f"this page needs the role {' or '.join(roles)}")
            return actor

        dependency.__name__ = "require_" + ("_or_".join(roles) or "user")
        return dependency

    # -- rendering ------------------------------------------------------------------------------------

    def _context(self, request: Request) -> dict[str, Any]:
        return {"actor": getattr(request.state, "haven_actor", None),
                "csrf_token": getattr(request.state, "haven_csrf_token", ""),
                "auth_layout": self.layout, "auth_prefix": self.prefix, "auth_home": self.home,
                "auth_title": self.title}

    async def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        """Render ``template`` with the actor, the CSRF token and security headers."""
        session = await self._session(request)
        new_cookie = None
        if session is not None:
            token = session.csrf_token
        else:  # before sign-in: the pre-session token, kept in a cookie the form's copy must match
            token = request.cookies.get(self.login_cookie_name(request)) or ""
            if len(token) < 32:
                token = new_cookie = csrf_checks.new_token()
        request.state.haven_csrf_token = token
        response = self.templates.TemplateResponse(request, template, ctx, status_code=status)
        if new_cookie:
            self._set_cookie(request, response, self.login_cookie_name(request), new_cookie)
        return harden(response)

    def error_response(self, request: Request, exc: Exception) -> Response:
        """A surface's answer to an error: the login page for ``LoginRequiredError``, else the error page."""
        if isinstance(exc, LoginRequiredError):
            return harden(RedirectResponse(self.prefix + "/login", status_code=303))
        if isinstance(exc, RequestValidationError):
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()))
            exc = HavenError(f"{where}: {first.get('msg', 'invalid form')}", code="invalid_request")
            status = 422
        else:
            from haven.service.errors import status_for  # the project's one table of statuses

            assert isinstance(exc, HavenError)
            status = status_for(exc)
        request.state.haven_csrf_token = getattr(request.state, "haven_csrf_token", "")
        response = self.templates.TemplateResponse(request, self.error_template, {"error": exc},
                                                   status_code=status)
        if isinstance(exc, RateLimitedError) and exc.retry_after:
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after)))
        return harden(response)

    # -- the sign-in routes ---------------------------------------------------------------------------

    def _after(self, request: Request, progress: LoginProgress) -> Response:
        target = self.home if progress.done else self.prefix + STEP_PATHS[progress.step]
        response = RedirectResponse(target, status_code=303)
        self._set_cookie(request, response, self.cookie_name(request), progress.token)
        if progress.done:
            response.delete_cookie(self.login_cookie_name(request), path="/")
        return harden(response)

    def _routes(self) -> APIRouter:
        router = APIRouter(prefix=self.prefix, include_in_schema=False)
        guard = [Depends(self.csrf)]

        @router.get("/login", response_class=HTMLResponse)
        async def login_page(request: Request) -> Response:
            session = await self._session(request)
            if session is not None and session.active:
                return RedirectResponse(self.home, status_code=303)
            return await self.page(request, "auth/login.html")

        @router.post("/login", dependencies=guard)
        async def login_submit(request: Request, username: str = Form(..., max_length=200),
                               password: str = Form(..., max_length=1024)) -> Response:
            auth = get_auth(request)
            try:
                progress = await run_in_threadpool(
                    auth.login.start, self.realm, username, password, client=client_address(request),
                    user_agent=request.headers.get("user-agent"))
            except RateLimitedError as exc:
                response = await self.page(request, "auth/login.html", status=429, error=exc,
                                           username=username)
                response.headers["Retry-After"] = str(max(1, int(exc.retry_after or 1)))
                return response
            except (PermissionDeniedError, LoginRequiredError):
                raise
            except HavenError as exc:
                return await self.page(request, "auth/login.html", status=401, error=exc, username=username)
            return self._after(request, progress)

        @router.get("/login/totp", response_class=HTMLResponse)
        async def totp_page(request: Request) -> Response:
            await run_in_threadpool(get_auth(request).login.pending, self._token(request), "totp")
            return await self.page(request, "auth/totp.html")

        @router.post("/login/totp", dependencies=guard)
        async def totp_submit(request: Request, code: str = Form(..., max_length=20)) -> Response:
            try:
                progress = await run_in_threadpool(get_auth(request).login.verify_totp, self._token(request),
                                                   code, client=client_address(request))
            except (LoginRequiredError, PermissionDeniedError):
                raise
            except HavenError as exc:
                return await self.page(request, "auth/totp.html", status=_status(exc), error=exc)
            return self._after(request, progress)

        @router.get("/login/password", response_class=HTMLResponse)
        async def password_page(request: Request) -> Response:
            await run_in_threadpool(get_auth(request).login.pending, self._token(request), "password")
            return await self.page(request, "auth/password.html",
                                   min_length=get_auth(request).policy.password_min_length)

        @router.post("/login/password", dependencies=guard)
        async def password_submit(request: Request, password: str = Form(..., max_length=1024),
                                  repeat: str = Form(..., max_length=1024)) -> Response:
            auth = get_auth(request)
            try:
                progress = await run_in_threadpool(auth.login.change_password, self._token(request), password,
                                                   repeat, client=client_address(request))
            except (LoginRequiredError, PermissionDeniedError):
                raise
            except HavenError as exc:
                return await self.page(request, "auth/password.html", status=_status(exc), error=exc,
                                       min_length=auth.policy.password_min_length)
            return self._after(request, progress)

        @router.get("/login/enrol", response_class=HTMLResponse)
        async def enrol_page(request: Request) -> Response:
            enrolment = await run_in_threadpool(get_auth(request).login.enrolment, self._token(request))
            return await self.page(request, "auth/enrol.html", enrolment=enrolment)

        @router.post("/login/enrol", dependencies=guard)
        async def enrol_submit(request: Request, code: str = Form(..., max_length=20)) -> Response:
            auth = get_auth(request)
            try:
                progress = await run_in_threadpool(auth.login.confirm_enrolment, self._token(request), code,
                                                   client=client_address(request))
            except (LoginRequiredError, PermissionDeniedError):
                raise
            except HavenError as exc:
                enrolment = await run_in_threadpool(auth.login.enrolment, self._token(request))
                return await self.page(request, "auth/enrol.html", status=_status(exc), error=exc,
                                       enrolment=enrolment)
            return self._after(request, progress)

        @router.post("/logout", dependencies=guard)
        async def logout(request: Request) -> Response:
            await run_in_threadpool(get_auth(request).logout, self._token(request),
                                    client=client_address(request))
            response = RedirectResponse(self.prefix + "/login", status_code=303)
            response.delete_cookie(self.cookie_name(request), path="/", secure=request.url.scheme == "https",
                                   httponly=True, samesite="strict")
            return harden(response)

        return router


def _status(exc: HavenError) -> int:
    from haven.service.errors import status_for

    return status_for(exc)


def harden(response: R) -> R:
    """Add the surface's security headers (no framing, strict CSP, same-origin referrer, no caching)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
