"""What every route of the review web UI shares: the request's database session and signed-in
user, the parsed form, the CSRF check, query parsing that names the bad field, and errors that
are 4xx pages (or JSON for scripts) with a message.

Nothing here logs a request body or an item's text: the access log carries paths and filter
values only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request
from fastapi import Path as FastAPIPath
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from .auth import COOKIE, csrf_ok
from .mask import mask_numbers
from .models import TeamMember, User, WebSession
from .queue import CATEGORIES, ORDERS, STAGE_STATES, Filters
from .models import REASONS, STATES

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
MAX_FORM = 64 * 1024
PAGE_SIZE = 50
CATEGORY_NAMES = {"disrespectful": "不尊重", "unfriendly": "不友好", "impatient": "不耐烦", "impolite": "不客气"}
REASON_NAMES = {"innocent_sense": "无害含义", "quoting": "引用顾客或规则", "wrong_speaker": "说话人错误",
                "asr_error": "语音识别错误", "other": "其他"}
STATE_NAMES = {"pending": "待审", "second_review": "二审", "disputed": "有分歧", "appealed": "申诉中", "done": "已完成"}
SOURCE_NAMES = {"lexicon": "词库", "pinyin": "拼音/谐音", "pattern": "句式", "classifier": "语气模型"}
templates.env.globals.update(CATEGORIES=CATEGORIES, CATEGORY_NAMES=CATEGORY_NAMES, REASONS=REASONS,
                             REASON_NAMES=REASON_NAMES, STATE_NAMES=STATE_NAMES, SOURCE_NAMES=SOURCE_NAMES, STATES=STATES)


# Path ids: larger ones are no row of ours (and would overflow the database's integer).
ItemId = Annotated[int, FastAPIPath(ge=1, le=2**31 - 1)]


class WebError(Exception):
    """A request refused with a status and a message the person can act on."""

    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class NotSignedIn(Exception):
    pass


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or \
        request.headers.get("content-type", "").startswith("application/json")


async def form(request: Request) -> dict[str, str]:
    """The body of a POST as one value per field: a urlencoded form or a JSON object."""
    if request.method in ("GET", "HEAD"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM:
        raise WebError(413, f"request body over {MAX_FORM // 1024} KB")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if not body:
        return {}
    if kind == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise WebError(400, f"body: not JSON ({e})") from None
        if not isinstance(data, dict):
            raise WebError(400, "body: expected a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise WebError(400, "body: not UTF-8") from None
        return {k: v[-1] for k, v in parsed.items()}
    raise WebError(415, f"Content-Type {kind}: send a form (application/x-www-form-urlencoded) or JSON")


def db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as s:
        yield s


@dataclass
class Ctx:
    """The request's signed-in user and database session."""

    user: User
    row: WebSession
    db: Session
    teams: tuple[int, ...] | None  # None: every team (lead, admin)
    mask: bool

    @property
    def lead(self) -> bool:
        return self.user.role in ("lead", "admin")

    def require_lead(self) -> None:
        if not self.lead:
            raise WebError(403, "this page is for leads and admins")

    def scope(self, **fields) -> Filters:  # noqa: ANN003
        """Filters limited to what this user may see."""
        return Filters(team_ids=self.teams, **fields)

    def shown(self, text: str | None) -> str:
        return mask_numbers(text) if self.mask and text else (text or "")


def ctx(request: Request, data: dict = Depends(form), s: Session = Depends(db)) -> Ctx:
    found = request.app.state.auth.find(s, request.cookies.get(COOKIE))
    if found is None:
        raise NotSignedIn()
    user, row = found
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if not csrf_ok(row, request.headers.get("x-csrf-token") or data.get("csrf_token")):
            raise WebError(403, "CSRF token missing or wrong: reload the page and try again")
    teams = None
    if user.role == "reviewer":
        teams = tuple(s.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)).all())
    return Ctx(user, row, s, teams, request.app.state.mask)


# -- query parsing: every bad value is a 400 naming the field --------------------------------


def _choice(q: dict, name: str, options: tuple[str, ...] | list[str], default: str | None = None) -> str | None:
    value = q.get(name) or default
    if value is not None and value not in options:
        raise WebError(400, f"{name}: {value!r} is not one of {', '.join(options)}")
    return value


def _text(q: dict, name: str, limit: int = 200) -> str | None:
    value = (q.get(name) or "").strip()
    if len(value) > limit:
        raise WebError(400, f"{name}: longer than {limit} characters")
    return value or None


def _float(q: dict, name: str) -> float | None:
    value = (q.get(name) or "").strip()
    if not value:
        return None
    try:
        x = float(value)
    except ValueError:
        raise WebError(400, f"{name}: {value[:20]!r} is not a number") from None
    if not math.isfinite(x) or not 0 <= x <= 1:
        raise WebError(400, f"{name}: a score between 0 and 1")
    return x


def _date(q: dict, name: str) -> dt.date | None:
    value = (q.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise WebError(400, f"{name}: {value[:20]!r} is not a date (YYYY-MM-DD)") from None


def integer(value: str | None, name: str, default: int | None = None, low: int = 1, high: int = 10**9) -> int:
    if value in (None, ""):
        if default is None:
            raise WebError(400, f"{name}: missing")
        return default
    try:
        n = int(value)
    except ValueError:
        raise WebError(400, f"{name}: {value[:20]!r} is not a whole number") from None
    if not low <= n <= high:
        raise WebError(400, f"{name}: between {low} and {high}")
    return n


QUEUE_FIELDS = ("stage", "state", "category", "decision", "source", "rule", "agent", "channel", "date_from", "date_to",
                "score_min", "score_max", "sort")


@dataclass
class QueueQuery:
    """The queue's filters, order and stage as the URL gives them."""

    stage: str
    state: str | None
    fields: dict
    sort: str
    raw: dict

    def filters(self, c: Ctx, listing: bool = False) -> Filters:
        states = None
        if listing:
            states = STATES if self.state == "all" else (self.state,) if self.state else STAGE_STATES[self.stage]
        elif self.stage == "lead":
            states = ("disputed",)  # appeals are settled on the appeals page
        return c.scope(states=states, **self.fields)

    def qs(self, **override) -> str:  # noqa: ANN003
        values = {k: v for k, v in {**self.raw, **override}.items() if v not in (None, "") and k in QUEUE_FIELDS}
        return urlencode(values)


def queue_query(q: dict) -> QueueQuery:
    stage = _choice(q, "stage", tuple(STAGE_STATES), "first")
    state = _choice(q, "state", (*STATES, "all"))
    date_from, date_to = _date(q, "date_from"), _date(q, "date_to")
    fields = {
        "category": _choice(q, "category", CATEGORIES), "decision": _choice(q, "decision", ("review", "violation")),
        "source": _text(q, "source", 32), "rule_id": _text(q, "rule", 100), "agent_id": _text(q, "agent", 100),
        "channel": _text(q, "channel", 50), "score_min": _float(q, "score_min"), "score_max": _float(q, "score_max"),
        "date_from": dt.datetime.combine(date_from, dt.time()) if date_from else None,
        # the whole last day: date_to is inclusive in the form, exclusive in Filters
        "date_to": dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time()) if date_to else None,
    }
    sort = _choice(q, "sort", ORDERS, "oldest")
    raw = {k: (q.get(k) or "").strip() for k in QUEUE_FIELDS}
    return QueueQuery(stage, state, fields, sort, raw)


def queue_query_from(qs: str | None) -> QueueQuery:
    """The queue's query string carried by a form (where to go next after a decision)."""
    return queue_query({k: v[-1] for k, v in parse_qs(qs or "").items()})


def page(request: Request, c: Ctx | None, name: str, code: int = 200, **context) -> object:  # noqa: ANN003
    context.update(user=c.user if c else None, csrf=c.row.csrf if c else "", shown=c.shown if c else (lambda t: t or ""),
                   lead=c.lead if c else False)
    return templates.TemplateResponse(request, name, context, status_code=code)
