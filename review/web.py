"""The review workbench's web application (`jiyu review serve`): FastAPI, Jinja2 templates and a
little plain JavaScript, every asset served from the package (works offline).

create_app(engine) builds it; the routes live in views_queue.py (queue, item, decisions) and
views_lead.py (dashboard, appeals, coaching, teaching set, audit).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import views_lead, views_queue
from .auth import COOKIE, LOGIN_COOKIE, RateLimit, Sessions, check_password, find_user, load_secret
from .db import sessions
from .models import AuditEntry
from .webcore import HERE, NotSignedIn, WebError, ctx, db, form, page, wants_json

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(engine: Engine, *, mask: bool = False, second_share: float = 0.0, secure_cookies: bool = False,
               session_hours: float = 12, rate_limit: RateLimit | None = None, secret: str | None = None) -> FastAPI:
    app = FastAPI(title="jiyu review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    app.state.sessions = sessions(engine)
    app.state.auth = Sessions(secret or load_secret(engine), dt.timedelta(hours=session_hours))
    app.state.mask = mask
    app.state.second_share = second_share
    app.state.secure = secure_cookies
    app.state.limit = rate_limit or RateLimit()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")  # pages show live state and texts
        return response

    @app.exception_handler(WebError)
    async def web_error(request: Request, e: WebError) -> Response:
        return error(request, e.status, e.message, e.headers)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        if request.method in ("GET", "HEAD") and not wants_json(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return error(request, 401, "not signed in (or the session expired): sign in again")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        message = {404: "no such page", 405: "method not allowed here"}.get(e.status_code, str(e.detail))
        return error(request, e.status_code, message, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("path", "query", "body"))
        return error(request, 400 if first.get("loc", ("",))[0] != "path" else 404, f"{where}: {first.get('msg', 'invalid')}")

    @app.get("/login")
    def login_page(request: Request, next: str = "/queue") -> Response:  # noqa: A002
        token, cookie = app.state.auth.login_token()
        response = page(request, None, "login.html", token=token, next=_local(next), message=None)
        response.set_cookie(LOGIN_COOKIE, cookie, httponly=True, samesite="lax", secure=app.state.secure, path="/login")
        return response

    @app.post("/login")
    def login(request: Request, data: dict = Depends(form), s: Session = Depends(db)) -> Response:
        username, password = data.get("username", "").strip()[:100], data.get("password", "")
        target = _local(data.get("next"))
        if not app.state.auth.login_token_ok(request.cookies.get(LOGIN_COOKIE), data.get("csrf_token")):
            raise WebError(400, "the sign-in form expired or came from elsewhere: reload it and sign in again")
        ip = request.client.host if request.client else "-"
        if wait := app.state.limit.retry_after(username, ip):
            raise WebError(429, f"too many failed sign-ins: try again in {wait} s", {"Retry-After": str(wait)})
        user = find_user(s, username) if username else None
        if not check_password(user, password):
            app.state.limit.failed(username, ip)
            token, cookie = app.state.auth.login_token()
            response = page(request, None, "login.html", 401, token=token, next=target, message="用户名或密码错误 (wrong user name or password)")
            response.set_cookie(LOGIN_COOKIE, cookie, httponly=True, samesite="lax", secure=app.state.secure, path="/login")
            return response
        app.state.limit.succeeded(username)
        s.add(AuditEntry(user_id=user.id, action="login", entity="users", entity_id=user.id, before=None, after={"ip": ip}))
        cookie = app.state.auth.start(s, user)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=app.state.secure, path="/",
                            max_age=int(session_hours * 3600))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout")
    def logout(request: Request, c=Depends(ctx)) -> Response:  # noqa: ANN001
        app.state.auth.end(c.db, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/")
    def home() -> Response:
        return RedirectResponse("/queue", status_code=303)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    views_queue.add_routes(app)
    views_lead.add_routes(app)
    return app


def _local(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    target = target or "/queue"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    """A 4xx as JSON for scripts (Accept or Content-Type JSON), else as a page."""
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    response = page(request, None, "error.html", status, status=status, message=message)
    response.headers.update(headers or {})
    return response
