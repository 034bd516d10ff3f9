"""Beyond the queue: the agreement dashboard, appeals, coaching per agent (with HTML and CSV
exports), the teaching set and the audit log (with a CSV export)."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import stats
from .mask import anonymise
from .models import Appeal, AuditEntry, Item, Review, TeachingExample, User, utcnow
from .queue import ReviewError, file_appeal, resolve_appeal
from .views_queue import reply, visible
from .webcore import ItemId, HERE, PAGE_SIZE, Ctx, WebError, _text, ctx, form, integer, page, templates

BOM = "\ufeff"  # Excel opens a UTF-8 CSV as UTF-8 only with it


def csv_response(rows: list[list], filename: str) -> Response:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return Response(BOM + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


def add_routes(app: FastAPI) -> None:
    @app.get("/dashboard")
    def dashboard(request: Request, c: Ctx = Depends(ctx)) -> Response:
        c.require_lead()
        states = dict(c.db.execute(select(Item.state, func.count()).group_by(Item.state)).all())
        today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        by_reviewer = c.db.execute(select(User.username, func.count()).join(Review, Review.reviewer_id == User.id)
                                   .where(Review.created_at >= today, Review.undone_at.is_(None))
                                   .group_by(User.username).order_by(func.count().desc())).all()
        open_appeals = c.db.scalar(select(func.count()).select_from(Appeal).where(Appeal.status == "open"))
        return page(request, c, "dashboard.html", agreement=stats.agreement(c.db), states=states, by_reviewer=by_reviewer,
                    open_appeals=open_appeals, second_share=request.app.state.second_share)

    # -- appeals ------------------------------------------------------------------------------

    @app.get("/appeals")
    def appeals(request: Request, c: Ctx = Depends(ctx)) -> Response:
        status = request.query_params.get("status") or "open"
        if status not in ("open", "upheld", "overturned", "all"):
            raise WebError(400, "status: open, upheld, overturned or all")
        q = select(Appeal, Item).join(Item, Item.id == Appeal.item_id).order_by(Appeal.id.desc()).limit(200)
        if status != "all":
            q = q.where(Appeal.status == status)
        if c.teams is not None:
            q = q.where(Item.team_id.in_(c.teams))
        return page(request, c, "appeals.html", rows=c.db.execute(q).all(), status=status)

    @app.post("/items/{item_id}/appeal")
    def appeal(request: Request, item_id: ItemId, c: Ctx = Depends(ctx), data: dict = Depends(form)) -> Response:
        visible(c, item_id)
        reason = (data.get("reason") or "").strip()[:2000]
        try:
            file_appeal(c.db, item_id, reason, filed_by=c.user.id)
        except ReviewError as e:
            raise WebError(409 if reason else 400, str(e)) from None
        return reply(request, "/appeals")

    @app.post("/appeals/{appeal_id}/resolve")
    def resolve(request: Request, appeal_id: ItemId, c: Ctx = Depends(ctx), data: dict = Depends(form)) -> Response:
        c.require_lead()
        status = data.get("status", "")
        if status not in ("upheld", "overturned"):
            raise WebError(400, "status: upheld or overturned")
        try:
            resolve_appeal(c.db, appeal_id, c.user.id, status, (data.get("note") or "").strip()[:2000] or None)
        except ReviewError as e:
            raise WebError(409, str(e)) from None
        return reply(request, "/appeals")

    # -- coaching -----------------------------------------------------------------------------

    @app.get("/coaching")
    def coaching_index(request: Request, c: Ctx = Depends(ctx)) -> Response:
        return page(request, c, "coaching_index.html", agents=stats.agents(c.db, c.scope())[:500])

    def coaching_of(c: Ctx, agent_id: str) -> stats.Coaching:
        if len(agent_id) > 100:
            raise WebError(400, "agent: longer than 100 characters")
        report = stats.coaching(c.db, agent_id, c.scope())
        if not report.total and not c.db.scalar(select(func.count()).select_from(Item).where(Item.agent_id == agent_id,
                                                                                        *c.scope().where())):
            raise WebError(404, f"agent {agent_id}: no items of this agent (in your teams)")
        return report

    @app.get("/coaching/{agent_id}")
    def coaching(request: Request, agent_id: str, c: Ctx = Depends(ctx)) -> Response:
        report = coaching_of(c, agent_id)
        return page(request, c, "coaching.html", r=report, suggestion=stats.suggestion)

    @app.get("/coaching/{agent_id}/export.html")
    def coaching_html(request: Request, agent_id: str, c: Ctx = Depends(ctx)) -> Response:
        report = coaching_of(c, agent_id)
        style = (HERE / "static" / "app.css").read_text(encoding="utf-8")  # inline: the file stands alone
        html = templates.get_template("coaching_export.html").render(r=report, suggestion=stats.suggestion, shown=c.shown,
                                                                     style=style, generated=utcnow())
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(f'coaching-{agent_id}.html')}",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    @app.get("/coaching/{agent_id}/export.csv")
    def coaching_csv(request: Request, agent_id: str, c: Ctx = Depends(ctx)) -> Response:
        report = coaching_of(c, agent_id)
        rows = [["section", "agent_id", "category", "week", "count", "item_id", "severity", "score", "text", "suggestion"]]
        for category, weeks in report.by_week.items():
            for week, n in sorted(weeks.items()):
                rows.append(["by_week", agent_id, category, week, n, "", "", "", "", ""])
        for it in report.worst:
            rows.append(["example", agent_id, it.final_category, "", "", it.id, it.final_severity, it.score,
                         c.shown(it.text), stats.suggestion(it) or ""])
        return csv_response(rows, f"coaching-{agent_id}.csv")

    # -- teaching set -------------------------------------------------------------------------

    @app.get("/teaching")
    def teaching(request: Request, c: Ctx = Depends(ctx)) -> Response:
        rows = c.db.scalars(select(TeachingExample).order_by(TeachingExample.category, TeachingExample.id)).all()
        return page(request, c, "teaching.html", rows=rows)

    @app.post("/items/{item_id}/teach")
    def teach(request: Request, item_id: ItemId, c: Ctx = Depends(ctx), data: dict = Depends(form)) -> Response:
        c.require_lead()
        item = c.db.scalars(select(Item).options(selectinload(Item.evidence)).where(Item.id == item_id)).first()
        if item is None or item.state != "done" or item.outcome != "confirmed":
            raise WebError(409, f"item {item_id}: only a confirmed violation goes into the teaching set")
        example = TeachingExample(item_id=item.id, text=anonymise(item.text), category=item.final_category,
                                  suggestion=stats.suggestion(item), note=(data.get("note") or "").strip()[:2000] or None,
                                  added_by=c.user.id)
        c.db.add(example)
        try:
            c.db.flush()
        except IntegrityError:
            c.db.rollback()
            raise WebError(409, f"item {item_id}: already in the teaching set") from None
        c.db.add(AuditEntry(user_id=c.user.id, action="teach", entity="teaching_examples", entity_id=example.id,
                            before=None, after={"item_id": item.id, "category": example.category}))
        c.db.commit()
        return reply(request, "/teaching")

    # -- audit ----------------------------------------------------------------------------------

    def audit_rows(request: Request, c: Ctx, limit: int | None, offset: int = 0) -> list:
        c.require_lead()
        q = request.query_params
        sel = select(AuditEntry, User.username).outerjoin(User, User.id == AuditEntry.user_id).order_by(AuditEntry.id.desc())
        if who := _text(dict(q), "user", 100):
            sel = sel.where(User.username == who)
        if action := _text(dict(q), "action", 50):
            sel = sel.where(AuditEntry.action == action)
        if q.get("item"):
            sel = sel.where(AuditEntry.entity == "items", AuditEntry.entity_id == integer(q.get("item"), "item"))
        if limit is not None:
            sel = sel.offset(offset).limit(limit)
        return c.db.execute(sel).all()

    @app.get("/audit")
    def audit(request: Request, c: Ctx = Depends(ctx)) -> Response:
        n = integer(request.query_params.get("page"), "page", 1, 1, 100_000)
        rows = audit_rows(request, c, PAGE_SIZE + 1, (n - 1) * PAGE_SIZE)
        return page(request, c, "audit.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page_no=n,
                    params=dict(request.query_params), dumps=lambda d: "" if d is None else json.dumps(d, ensure_ascii=False, sort_keys=True))

    @app.get("/audit.csv")
    def audit_csv(request: Request, c: Ctx = Depends(ctx)) -> Response:
        rows = [["id", "at", "user", "action", "entity", "entity_id", "before", "after"]]
        for e, name in audit_rows(request, c, None):
            rows.append([e.id, e.at.isoformat(timespec="seconds"), name or "", e.action, e.entity, e.entity_id,
                         json.dumps(e.before, ensure_ascii=False, sort_keys=True) if e.before is not None else "",
                         json.dumps(e.after, ensure_ascii=False, sort_keys=True) if e.after is not None else ""])
        return csv_response(rows, "jiyu-review-audit.csv")

    @app.get("/logout")
    def logout_get() -> Response:  # a link followed by habit: the form on every page posts with the token
        return RedirectResponse("/queue", status_code=303)
