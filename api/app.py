"""The jiyu HTTP API (FastAPI): check replies before they are sent, judge conversations.

`create_app()` reads settings from the environment (api/settings.py); `jiyu serve` runs it
under uvicorn. The detector is built in a background thread at start-up (`/readyz` says when
it is ready) and replaced atomically by `/v1/admin/reload`: a request takes one reference to the
detector when it starts and finishes on it, whatever is swapped in meanwhile, and its response
names the lexicon and model versions that judged it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from detector import Detector, LexiconError, jsonout
from detector.conversation import ConversationError, parse_conversation
from detector.verdict import Verdict

from .admission import CLIENT_LEFT, Admission, BodyTimeout, BodyTooLarge, ClientLeft
from .auth import KeyGate, bearer, key_ok
from .batching import CheckBatcher, DeadlinePassed
from .docs import add_docs
from .reload import POLL, State, compile_elsewhere, wait_for_workers
from .metrics import Metrics
from .schemas import (
    CheckRequest,
    CheckResponse,
    ConversationRequest,
    ConversationResponse,
    ErrorOut,
    LexiconInfo,
    ReloadResponse,
)
from .settings import Settings

log = logging.getLogger("jiyu.api")
MASK = "＊"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Work above this size leaves the event loop so that one big batch cannot stall small requests.
INLINE_CHARS = 2_000
ERRORS = {s: {"model": ErrorOut} for s in (400, 401, 403, 408, 413, 415, 422, 429, 503)}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        self.status, self.message, self.field = status, message, field


def _json(obj: Any, status: int = 200, headers: dict | None = None) -> Response:
    """Straight to bytes: the hot path skips a second validation of what we just built."""
    return Response(jsonout.dumps(obj), status_code=status, headers=headers, media_type="application/json")


def masked(text: str, verdict: Verdict) -> str:
    if not verdict.evidence:
        return text
    chars = list(text)
    for e in verdict.evidence:
        chars[e.start : e.end] = MASK * (e.end - e.start)
    return "".join(chars)


def verdict_out(text: str, v: Verdict) -> dict:
    out = v.to_dict()
    out["masked"] = masked(text, v)
    return out


def build_detector(settings: Settings, reuse: Detector | None = None) -> Detector:
    """A new detector over the configured packs; the tone model is reused when there is one."""
    return Detector(
        list(settings.lexicons), mode=settings.mode, classifier=settings.classifier,
        model_dir=settings.model_dir, tone=reuse.tone if reuse is not None else None,
        context=reuse.context if reuse is not None and reuse.context is not None else True,
        cache_size=settings.cache_size,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    metrics = Metrics(lambda: app.state.detector)  # `app` is bound below, before any scrape
    if os.environ.get("JIYU_LOG_LEVEL") and not logging.getLogger().handlers:
        logging.basicConfig(level=os.environ["JIYU_LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s")

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        state = app.state.reload_state = State(os.environ.get("JIYU_STATE_DIR"))

        def load() -> None:
            try:
                generation = state.generation()["generation"]  # a worker restarted after reloads starts current
                d = build_detector(settings)
                _warm(d)
                app.state.detector, app.state.generation = d, generation
                state.report(generation, d.lexicon_version)
                _freeze_heap()
                log.info("ready: lexicon %s, model %s", app.state.detector.lexicon_version, app.state.detector.model_version)
            except Exception as e:  # noqa: BLE001 — reported by /readyz, never silently
                app.state.load_error = f"{type(e).__name__}: {e}"
                log.error("detector failed to load: %s", app.state.load_error)

        threading.Thread(target=load, name="jiyu-load", daemon=True).start()
        watcher = asyncio.create_task(follow_reloads(state))
        try:
            yield
        finally:
            watcher.cancel()
            state.leave()
            executor.shutdown(wait=False, cancel_futures=True)

    async def follow_reloads(state: State) -> None:
        """Switch to each new generation a reload publishes (this worker's or another's)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(POLL)
            old = app.state.detector
            if old is None:
                continue
            published = state.generation()
            if published["generation"] <= app.state.generation:
                continue
            try:  # from the disk cache the reload's child filled: a load, not a rebuild
                new = await loop.run_in_executor(executor, build_detector, settings, old)
            except LexiconError as e:  # the packs changed again since they were checked: keep serving
                log.error("reload generation %d refused here: %s", published["generation"], e)
                app.state.generation = published["generation"]
                state.report(published["generation"], old.lexicon_version, str(e)[:500])
                continue
            app.state.detector, app.state.generation = new, published["generation"]  # one reference swap
            _freeze_heap()
            state.report(published["generation"], new.lexicon_version)
            log.info("reloaded lexicon %s -> %s (generation %d)", old.lexicon_version, new.lexicon_version, published["generation"])

    app = FastAPI(
        title="jiyu 忌语 API",
        version="1",
        description="Finds forbidden service language (忌语) in Chinese customer-service replies and conversations.",
        lifespan=lifespan,
        docs_url=None,  # add_docs serves it from the package: FastAPI's loads Swagger UI from a CDN
        redoc_url=None,
    )
    add_docs(app)
    app.state.detector = None
    app.state.generation = 0
    app.state.load_error = None
    app.state.reload_lock = asyncio.Lock()
    app.state.settings = settings
    app.state.metrics = metrics
    # Added innermost first: RequestContext (request id, metrics, log line) sees every answer,
    # the key gate refuses before admission counts a request, admission sheds before any body.
    app.add_middleware(Admission, max_in_flight=settings.max_in_flight, max_body=settings.max_body_bytes,
                       request_timeout=settings.request_timeout, body_timeout=settings.body_timeout)
    app.add_middleware(KeyGate, api_keys=settings.api_keys, admin_keys=settings.admin_keys, public=settings.public_paths)
    app.add_middleware(RequestContext, metrics=metrics)
    batcher = CheckBatcher()
    # Large requests are judged off the event loop, a bounded number at a time (the default
    # pool's 40 threads would let a few clients take every core while the loop starves).
    executor = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="jiyu-detect")

    # -- errors: every client mistake is a 4xx that names the field ---------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _error(request, exc.status, exc.message, exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # bytes that are not UTF-8
            return _error(request, 400, "body is not valid UTF-8 JSON: it could not be decoded", "body")
        return _error(request, exc.status_code, str(exc.detail), None)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> Response:
        return _error(request, 413, f"body: over the limit of {settings.max_body_bytes} bytes", "body")

    @app.exception_handler(BodyTimeout)
    async def _slow_body(request: Request, exc: BodyTimeout) -> Response:
        return _error(request, 408, f"body: not received within {settings.body_timeout:g} s", "body")

    @app.exception_handler(ClientLeft)
    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, exc: Exception) -> Response:
        # nobody is left to read an answer: a log line, and 499 in the metrics, not a 500
        log.info("%s client closed the connection before the answer", getattr(request.state, "request_id", "-"))
        return Response(status_code=CLIENT_LEFT)

    @app.exception_handler(DeadlinePassed)
    async def _late(request: Request, exc: DeadlinePassed) -> Response:
        return _error(request, 503, f"deadline passed before the check could start ({exc}); retry shortly", None, retry_after=1)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _invalid(request, exc.errors())

    def _invalid(request: Request, errors: list[dict]) -> Response:
        first = errors[0]
        loc = [x for x in first["loc"] if x != "body"]
        field = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".") or "body"
        if first["type"] == "json_invalid":
            return _error(request, 400, f"body is not valid UTF-8 JSON: {first.get('ctx', {}).get('error', first['msg'])}", "body")
        if first["type"] == "missing" and field == "body":
            return _error(request, 422, "body: a JSON object is required", "body")
        msg = first["msg"].removeprefix("Value error, ")
        return _error(request, 422, f"{field}: {msg}", field)

    # -- auth -------------------------------------------------------------------------------

    def require_admin(request: Request) -> None:
        if not settings.admin_keys:
            raise ApiError(403, "admin endpoints are disabled: set JIYU_ADMIN_KEYS", "Authorization")
        if not key_ok(bearer(request.scope), settings.admin_keys):
            raise ApiError(401, "Authorization: a valid 'Bearer <admin key>' is required", "Authorization")

    def current(request: Request) -> Detector:
        d = request.app.state.detector
        if d is None:
            raise ApiError(503, app.state.load_error or "not ready: lexicons and model are loading", None)
        return d

    def check_text(field: str, text: str) -> None:
        if len(text) > settings.max_text_chars:
            raise ApiError(413, f"{field}: {len(text)} characters, over the limit of {settings.max_text_chars}", field)

    def require_json(request: Request) -> None:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            # a form or text/plain body is what a web page can send without asking: refused
            raise ApiError(415, f"Content-Type: application/json is required, got {content_type or 'none'!r}", "Content-Type")

    def check_budget(field: str, texts: list[str]) -> None:
        total = sum(map(len, texts))
        if total > settings.max_request_chars:
            raise ApiError(413, f"{field}: {total} characters in all, over the per-request budget of {settings.max_request_chars}"
                                " (split the request)", field)

    async def judge(request: Request, fn, *args):  # noqa: ANN001, ANN202
        """`fn(*args)` on a detection thread, unless the deadline passed or the client left first."""
        deadline = request.scope["state"].get("deadline")
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlinePassed("waited past the request's deadline")
        return await asyncio.get_running_loop().run_in_executor(executor, _unless_late, deadline, fn, *args)

    # -- endpoints --------------------------------------------------------------------------

    # The hot path reads and validates its body itself (pydantic-core straight from bytes):
    # FastAPI's parameter machinery costs more per request than checking a reply does.
    # `openapi_extra` documents the same CheckRequest body.
    check_body = {"required": True, "content": {"application/json": {"schema": CheckRequest.model_json_schema()}}}

    @app.post("/v1/check", response_model=CheckResponse, responses=ERRORS, openapi_extra={"requestBody": check_body},
              summary="Check one reply or a batch before it is sent")
    async def check(request: Request) -> Any:
        require_json(request)
        raw = await _body(request)
        if not raw.strip():
            raise ApiError(422, "body: a JSON object is required", "body")
        try:
            body = CheckRequest.model_validate_json(raw)
        except ValidationError as e:
            return _invalid(request, e.errors())
        d = current(request)
        if body.texts is not None:
            if len(body.texts) > settings.max_batch:
                raise ApiError(413, f"texts: {len(body.texts)} items, over the limit of {settings.max_batch}", "texts")
            texts = body.texts
            for i, t in enumerate(texts):
                check_text(f"texts[{i}]", t)
        else:
            texts = [body.text]
            check_text("text", body.text)
        check_budget("texts", texts)
        mode = body.mode or settings.mode
        if sum(map(len, texts)) <= INLINE_CHARS:
            verdicts = await batcher.check(d, texts, mode, request.scope["state"].get("deadline"))
        else:
            verdicts = await judge(request, d.check_many, texts, mode)
        metrics.decisions(verdicts)
        _log_texts(request, texts)
        return _json({
            "results": [verdict_out(t, v) for t, v in zip(texts, verdicts)],
            "lexicon_version": d.lexicon_version,
            "model_version": d.model_version,
            "context_version": d.context_version,
            "request_id": request.scope["state"]["request_id"],
        })

    conversation_body = {"required": True, "content": {"application/json": {"schema": ConversationRequest.model_json_schema()}}}

    # The body is checked by the same validator `jiyu scan` uses (detector.conversation), so the
    # API and the batch scorer accept and refuse the same calls with the same messages;
    # ConversationRequest documents it.
    @app.post("/v1/conversations", response_model=ConversationResponse, responses=ERRORS,
              openapi_extra={"requestBody": conversation_body}, summary="Judge the agent turns of one conversation")
    async def conversations(request: Request) -> Any:
        require_json(request)
        raw = await _body(request)
        try:
            data = jsonout.loads(raw)
        except ValueError as e:
            raise ApiError(400, f"body is not valid UTF-8 JSON: {e}", "body") from None
        if not isinstance(data, dict):
            raise ApiError(422, "body: a JSON object is required", "body")
        roles, mode = data.pop("roles", ["agent"]), data.pop("mode", None)
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise ApiError(422, "roles: a non-empty list of strings is required", "roles")
        if mode is not None and mode not in ("realtime", "qa"):
            raise ApiError(422, "mode: 'realtime' or 'qa'", "mode")
        d = current(request)
        try:
            parse_conversation(data)
        except ConversationError as e:
            raise ApiError(422, str(e), str(e).split(":")[0]) from None
        turns = data["turns"]
        if len(turns) > settings.max_turns:
            raise ApiError(413, f"turns: {len(turns)} items, over the limit of {settings.max_turns}", "turns")
        for i, t in enumerate(turns):
            check_text(f"turns[{i}].text", t["text"])
        check_budget("turns", [t["text"] for t in turns])
        try:
            report = await judge(request, d.check_conversation, data, roles, mode or settings.mode)
        except ConversationError as e:
            raise ApiError(422, str(e), str(e).split(":")[0]) from None
        metrics.decisions([v.verdict for v in report.violations])
        _log_texts(request, [t["text"] for t in turns])
        return _json({
            **report.to_dict(),
            "lexicon_version": d.lexicon_version,
            "model_version": d.model_version,
            "context_version": d.context_version,
            "request_id": request.state.request_id,
        })

    @app.get("/v1/lexicon", response_model=LexiconInfo, responses=ERRORS,
             summary="Versions and size of the lexicon in force")
    async def lexicon(request: Request) -> Any:
        d = current(request)
        lex = d.lexicon
        return {
            "lexicon_version": lex.version, "model_version": d.model_version, "context_version": d.context_version,
            "packs": [p.meta.name for p in lex.packs], "rules": len(lex.rules), "patterns": len(lex.patterns),
            "allowlist": len(lex.allow), "categories": lex.counts(), "worker": os.getpid(),
            "generation": app.state.generation,
        }

    @app.post("/v1/admin/reload", response_model=ReloadResponse, responses=ERRORS, dependencies=[Depends(require_admin)],
              summary="Re-read the lexicon packs and swap them in without a restart")
    async def reload(request: Request) -> Any:
        state: State = app.state.reload_state
        async with app.state.reload_lock:
            old = current(request)
            version, problems = await compile_elsewhere(settings.lexicons)
            if problems:
                shown = "; ".join(problems[:10])
                raise ApiError(422, f"lexicon refused ({len(problems)} problems), still serving {old.lexicon_version}: {shown}", "lexicon")
            generation = state.publish(version)
            workers = await wait_for_workers(state, generation, settings.reload_timeout)
        switched = all(w["generation"] >= generation and w["lexicon_version"] == version for w in workers.values())
        log.info("reload generation %d: lexicon %s -> %s, all workers switched: %s", generation, old.lexicon_version, version, switched)
        return {"lexicon_version": version, "previous_lexicon_version": old.lexicon_version,
                "model_version": old.model_version, "generation": generation,
                "workers": {str(pid): w["lexicon_version"] for pid, w in sorted(workers.items())},
                "all_workers_switched": switched, "request_id": request.state.request_id}

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", summary="The process is up (HEAD too)")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.head("/readyz", include_in_schema=False)
    @app.get("/readyz", responses={503: {"model": ErrorOut}}, summary="Lexicons and model are loaded (HEAD too)")
    async def readyz(request: Request) -> Any:
        d = current(request)
        return {"ready": True, "lexicon_version": d.lexicon_version, "model_version": d.model_version}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def prometheus() -> PlainTextResponse:
        body, content_type = metrics.render()
        return PlainTextResponse(body, media_type=content_type)

    def _log_texts(request: Request, texts: list[str]) -> None:
        if settings.log_text:
            log.info("request %s texts %r", request.state.request_id, texts)

    return app


async def _body(request: Request) -> bytes:
    """The request body, read straight from the ASGI messages (Starlette's Request.body goes
    through an async generator: on a 30-character reply that bookkeeping is ~3% of a request)."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    request._body = body = b"".join(chunks)  # where Starlette keeps it, should anything read it again
    return body


def _freeze_heap() -> None:
    # The detector's ~300,000 objects live as long as the process. Frozen, they are out of the
    # cyclic collector's sight: a full collection under load took ~60 ms (a p99 spike), now ~1 ms.
    # Unfrozen first, so that a reload lets the replaced detector's cycles be collected.
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    # A request's objects are freed by reference counting, not by the collector; at the default
    # threshold (700) it still ran ~185 times a second under load (about 2% of the CPU). Cycles
    # left behind now wait for 20,000 allocations instead.
    gc.set_threshold(20_000, 10, 10)


def _warm(d: Detector) -> None:
    """Everything a first request would otherwise pay for (fold table, jieba's word table, the
    classifier, the conversation validator's imports), before /readyz says ready."""
    d.check_many(["您好，请问有什么可以帮您？", "这个问题我已经说了很多遍了，你自己看说明书吧"])
    d.check_conversation({"conversation_id": "warm-up", "turns": [
        {"speaker": "customer", "text": "我的快递怎么还没到"}, {"speaker": "agent", "text": "您好，我帮您查一下"}]})


def _unless_late(deadline: float | None, fn, *args):  # noqa: ANN001, ANN202
    """On the detection thread: the request may have waited for a thread past its deadline."""
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlinePassed("waited for a detection thread past the request's deadline")
    return fn(*args)


def _error(request: Request, status: int, message: str, field: str | None, retry_after: int | None = None) -> Response:
    rid = getattr(request.state, "request_id", None) or uuid.uuid4().hex[:16]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": str(retry_after)} if retry_after else None
    return _json({"error": message, "field": field, "request_id": rid}, status, headers)


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in and out), timing, metrics, one log line."""

    def __init__(self, app, metrics: Metrics):  # noqa: ANN001
        self.app, self.metrics = app, metrics
        self.worker = str(os.getpid()).encode()  # X-Jiyu-Worker: which worker answered (reloads, debugging)

    async def __call__(self, scope, receive, send):  # noqa: ANN001, ANN204
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message):  # noqa: ANN001, ANN202
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode()), (b"x-jiyu-worker", self.worker)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.request(scope["path"], scope["method"], status, elapsed)
            log.info("%s %s %s %d %.2fms", rid, scope["method"], scope["path"], status, elapsed * 1e3)
