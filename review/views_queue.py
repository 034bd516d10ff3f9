"""The queue, the item page and the decisions on it.

A decision is one request: it records the decision, claims the next item of the same queue (same
stage, filters and order) and answers where to go next. `j` (skip) claims the next before it
releases this one, so it never comes straight back.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import selectinload

from . import notes
from .models import REASONS, Item, Review, TeachingExample, User, utcnow
from .queue import CATEGORIES, CLAIM_TIMEOUT, STAGE_STATES, Order, ReviewError, claim_next, claimable, decide, release, undo
from .webcore import ItemId, PAGE_SIZE, Ctx, form, QueueQuery, WebError, ctx, integer, page, queue_query, queue_query_from, wants_json

# Uncertainty order: distance to the qa mode's review and violation thresholds (detector.scorer
# MODES; jiyu scan judges in qa mode unless told otherwise).
THRESHOLDS = (0.4, 0.8)
STAGE_OF = {"pending": "first", "second_review": "second", "disputed": "lead"}


def order(q: QueueQuery) -> Order:
    return Order(q.sort, THRESHOLDS if q.sort == "uncertainty" else ())


def state_counts(c: Ctx, q: QueueQuery) -> dict[str, int]:
    where = c.scope(**q.fields).where()
    rows = c.db.execute(select(Item.state, func.count()).where(*where).group_by(Item.state)).all()
    return dict(rows)


def visible(c: Ctx, item_id: int) -> Item:
    item = c.db.get(Item, item_id)
    if item is None or (c.teams is not None and item.team_id not in c.teams):
        raise WebError(404, f"item {item_id}: no such item (or not one of your teams')")
    return item


def segments(text: str, evidence: list) -> list[tuple[str, list[int]]]:
    """The text cut where the set of evidence spans covering it changes: (chunk, span indexes)."""
    cover: list[list[int]] = [[] for _ in text]
    for k, e in enumerate(evidence):
        for i in range(max(0, e.start), min(len(text), e.end)):
            cover[i].append(k)
    out: list[tuple[str, list[int]]] = []
    for ch, ks in zip(text, cover, strict=True):
        if out and out[-1][1] == ks:
            out[-1] = (out[-1][0] + ch, ks)
        else:
            out.append((ch, ks))
    return out


def context_turns(item: Item, around: int = 3) -> list[dict]:
    conv = item.conversation
    if conv is None or not conv.turns or item.turn_index is None:
        return []
    agent = (conv.report or {}).get("agent_speaker") or item.speaker or "agent"
    lo, hi = max(0, item.turn_index - around), min(len(conv.turns), item.turn_index + around + 1)
    return [{"index": i, "speaker": str(t.get("speaker", "?")), "start": t.get("start"), "end": t.get("end"),
             "text": str(t.get("text") or ""), "agent": t.get("speaker") == agent, "flagged": i == item.turn_index}
            for i, t in enumerate(conv.turns[lo:hi], start=lo)]


def claim_item(c: Ctx, item: Item) -> bool:
    """Claim this item (clicked in the list) if it is free and this user may take it now."""
    stage = STAGE_OF.get(item.state)
    if stage is None or (stage == "lead" and not c.lead):
        return False
    now = utcnow()
    mine = claimable(c.user.id, c.scope(), stage, now).where(Item.id == item.id).scalar_subquery()
    won = c.db.execute(update(Item).where(and_(Item.id == item.id, Item.id.in_(select(mine))))
                       .values(claimed_by=c.user.id, claim_expires=now + CLAIM_TIMEOUT)).rowcount
    c.db.commit()
    return bool(won)


def held(c: Ctx, q: QueueQuery, exclude: int | None) -> int | None:
    """An item of this queue the user already holds (claimed before an undo took them back, or
    before a reload): it comes first, else it would sit claimed until the timeout."""
    sel = select(Item.id).where(Item.claimed_by == c.user.id, Item.claim_expires > utcnow(),
                                Item.state.in_(STAGE_STATES[q.stage]), *q.filters(c).where())
    if exclude is not None:
        sel = sel.where(Item.id != exclude)
    return c.db.scalar(sel.order_by(*order(q).clauses()).limit(1))


def next_url(c: Ctx, q: QueueQuery, exclude: int | None = None) -> str:
    """The user's next item of this queue (one they hold, else a new claim); its page, or the
    queue when nothing is left."""
    if q.stage == "lead" and not c.lead:
        raise WebError(403, "the lead queue (disputes) is for leads")
    item_id = held(c, q, exclude)
    if item_id is None:
        item = claim_next(c.db, c.user.id, q.filters(c), stage=q.stage, order=order(q))
        item_id = item.id if item else None
    return f"/items/{item_id}?{q.qs()}" if item_id else f"/queue?{q.qs()}&empty=1"


def reply(request: Request, url: str, **extra) -> Response:  # noqa: ANN003
    if wants_json(request):
        return JSONResponse({"ok": True, "next": url, **extra})
    return RedirectResponse(url, status_code=303)


def add_routes(app: FastAPI) -> None:
    @app.get("/queue")
    def queue_page(request: Request, c: Ctx = Depends(ctx)) -> Response:
        q = queue_query(dict(request.query_params))
        if q.stage == "lead" and not c.lead:
            raise WebError(403, "the lead queue (disputes) is for leads")
        n = integer(request.query_params.get("page"), "page", 1, 1, 100_000)
        filters = q.filters(c, listing=True)
        rows = c.db.execute(select(Item.id, Item.text, Item.score, Item.decision, Item.category, Item.agent_id, Item.channel,
                                   Item.occurred_at, Item.state, Item.outcome, Item.claimed_by, Item.claim_expires)
                            .where(*filters.where()).order_by(*order(q).clauses())
                            .offset((n - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
        return page(request, c, "queue.html", q=q, rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page_no=n,
                    counts=state_counts(c, q), now=utcnow(), empty=request.query_params.get("empty"))

    @app.post("/queue/claim")
    def start(request: Request, c: Ctx = Depends(ctx)) -> Response:
        return reply(request, next_url(c, queue_query(dict(request.query_params))))

    @app.get("/items/{item_id}")
    def item_page(request: Request, item_id: ItemId, c: Ctx = Depends(ctx)) -> Response:
        q = queue_query(dict(request.query_params))
        item = c.db.scalars(select(Item).options(selectinload(Item.evidence), selectinload(Item.conversation))
                            .where(Item.id == item_id)).first()
        if item is None:
            raise WebError(404, f"item {item_id}: no such item")
        visible(c, item_id)
        now = utcnow()
        mine = item.claimed_by == c.user.id and item.state in STAGE_OF
        # Blind second review: the earlier decisions show once the item is settled (or to a lead on a dispute).
        history = []
        if item.state == "done" or (c.lead and item.state in ("disputed", "appealed")):
            history = c.db.execute(select(Review, User.username).join(User, User.id == Review.reviewer_id)
                                   .where(Review.item_id == item.id).order_by(Review.id)).all()
        taught = c.db.scalar(select(TeachingExample.id).where(TeachingExample.item_id == item.id))
        text = c.shown(item.text)
        return page(request, c, "item.html", item=item, q=q, mine=mine, history=history, taught=taught,
                    segments=segments(text, item.evidence), turns=context_turns(item),
                    notes={e.rule_id: notes.note(e.rule_id) for e in item.evidence},
                    free=item.claimed_by is None or (item.claim_expires is not None and item.claim_expires < now),
                    stage_of=STAGE_OF.get(item.state))

    @app.post("/items/{item_id}/claim")
    def claim(request: Request, item_id: ItemId, c: Ctx = Depends(ctx)) -> Response:
        item = visible(c, item_id)
        if not claim_item(c, item):
            raise WebError(409, f"item {item_id}: not free for you to review (someone holds it, or you reviewed it before)")
        return reply(request, f"/items/{item_id}?{queue_query(dict(request.query_params)).qs()}")

    @app.post("/items/{item_id}/decide")
    def decide_item(request: Request, item_id: ItemId, c: Ctx = Depends(ctx), data: dict = Depends(form)) -> Response:
        visible(c, item_id)
        decision = data.get("decision", "")
        if decision not in ("confirm", "reject"):
            raise WebError(400, "decision: confirm or reject")
        category = data.get("category") or None
        if category is not None and category not in CATEGORIES:
            raise WebError(400, f"category: one of {', '.join(CATEGORIES)}")
        severity = integer(data.get("severity"), "severity", 0, 0, 3) or None
        reason = data.get("reason") or None
        if decision == "reject" and reason not in REASONS:
            raise WebError(400, f"reason: a rejection needs one of {', '.join(REASONS)}")
        if decision == "confirm":
            reason = None
        note = (data.get("note") or "").strip()[:2000] or None
        try:
            review = decide(c.db, item_id, c.user.id, decision, category=category if decision == "confirm" else None,
                            severity=severity if decision == "confirm" else None, reason=reason, note=note,
                            second_share=request.app.state.second_share)
        except ReviewError as e:
            raise WebError(409, str(e)) from None
        q = queue_query_from(data.get("queue"))
        state = c.db.scalar(select(Item.state).where(Item.id == item_id))
        return reply(request, next_url(c, q), review_id=review.id, state=state)

    @app.post("/items/{item_id}/skip")
    def skip(request: Request, item_id: ItemId, c: Ctx = Depends(ctx), data: dict = Depends(form)) -> Response:
        visible(c, item_id)
        url = next_url(c, queue_query_from(data.get("queue")), exclude=item_id)
        release(c.db, item_id, c.user.id)
        return reply(request, url)

    @app.post("/undo")
    def undo_last(request: Request, c: Ctx = Depends(ctx), data: dict = Depends(form)) -> Response:
        try:
            item = undo(c.db, c.user.id)
        except ReviewError as e:
            raise WebError(409, str(e)) from None
        if item is None:
            raise WebError(409, "nothing to undo")
        q = queue_query_from(data.get("queue"))
        return reply(request, f"/items/{item.id}?{q.qs()}", item=item.id)

