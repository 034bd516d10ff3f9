"""The review queue: filters, atomic claims, decisions, undo, appeals and counts.

A claim gives one reviewer an item for `timeout`; two reviewers never hold the same item. On
PostgreSQL the next item is picked with `SELECT ... FOR UPDATE SKIP LOCKED`; SQLite has no row
locks, so a candidate is taken with a conditional `UPDATE ... WHERE claimed_by IS NULL OR
claim_expires < now` and its rowcount says whether this reviewer won it. Every state change is
one transaction with its audit row, and is itself conditional (the item still claimed by this
reviewer, in the state it was read in), so a decision racing an expired claim cannot be lost
silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from .models import (APPEAL_STATUSES, DECISIONS, REASONS, Appeal, AuditEntry, Evidence, Item, Review, utcnow)

CLAIM_TIMEOUT = dt.timedelta(minutes=10)
# The four category ids of the scan output's contract (DESIGN.md): corrections must be one of them.
CATEGORIES = ("disrespectful", "unfriendly", "impatient", "impolite")
SEVERITIES = (1, 2, 3)
STAGE_STATES = {"first": ("pending",), "second": ("second_review",), "lead": ("disputed", "appealed")}
ORDERS = ("oldest", "score", "uncertainty")


class ReviewError(Exception):
    """A request the store refuses (bad value, item not claimed by this reviewer, ...)."""


@dataclass(frozen=True)
class Filters:
    """What a queue shows. Empty fields do not filter; dates compare with Item.occurred_at."""

    category: str | None = None
    decision: str | None = None  # as scored: review | violation
    source: str | None = None  # an evidence source: lexicon, pinyin, classifier, ...
    rule_id: str | None = None
    agent_id: str | None = None
    channel: str | None = None
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None  # exclusive
    score_min: float | None = None
    score_max: float | None = None
    team_ids: tuple[int, ...] | None = None  # None: every team; else only items of these teams
    states: tuple[str, ...] | None = None

    def where(self) -> list:
        """The conditions on Item (EXISTS on the evidence table for category, source and rule)."""
        c: list = []
        ev = [getattr(Evidence, name) == value for name, value in
              (("category", self.category), ("source", self.source), ("rule_id", self.rule_id)) if value]
        if ev:
            c.append(exists().where(Evidence.item_id == Item.id, *ev))
        for name in ("decision", "agent_id", "channel"):
            if getattr(self, name):
                c.append(getattr(Item, name) == getattr(self, name))
        if self.date_from:
            c.append(Item.occurred_at >= self.date_from)
        if self.date_to:
            c.append(Item.occurred_at < self.date_to)
        if self.score_min is not None:
            c.append(Item.score >= self.score_min)
        if self.score_max is not None:
            c.append(Item.score <= self.score_max)
        if self.team_ids is not None:
            c.append(Item.team_id.in_(self.team_ids))
        if self.states:
            c.append(Item.state.in_(self.states))
        return c


@dataclass(frozen=True)
class Order:
    """Queue order: oldest first, highest score first, or nearest a threshold first (uncertainty:
    review time goes where the detector is least sure). `thresholds` are the mode's review and
    violation thresholds, which the caller takes from the engine."""

    by: str = "oldest"
    thresholds: tuple[float, ...] = field(default=())

    def clauses(self) -> list:
        if self.by == "score":
            return [Item.score.desc(), Item.id]
        if self.by == "uncertainty" and self.thresholds:
            distance = None
            for t in self.thresholds:
                d = func.abs(Item.score - t)
                distance = d if distance is None else case((d < distance, d), else_=distance)
            return [distance, Item.id]
        return [Item.id]


def claimable(reviewer_id: int, filters: Filters | None, stage: str, now: dt.datetime) -> Select:
    if stage not in STAGE_STATES:
        raise ReviewError(f"stage {stage!r}: one of {', '.join(STAGE_STATES)}")
    q = select(Item.id).where(Item.state.in_(STAGE_STATES[stage]), _free(now), *(filters or Filters()).where())
    if stage == "second":  # blind and independent: never the first reviewer
        q = q.where(~exists().where(Review.item_id == Item.id, Review.reviewer_id == reviewer_id, Review.undone_at.is_(None)))
    return q


def _free(now: dt.datetime):  # noqa: ANN202
    return or_(Item.claimed_by.is_(None), Item.claim_expires < now)


def claim_next(session: Session, reviewer_id: int, filters: Filters | None = None, *, stage: str = "first",
               order: Order = Order(), timeout: dt.timedelta = CLAIM_TIMEOUT, now: dt.datetime | None = None) -> Item | None:
    """Claim the next item of the queue for `reviewer_id` and commit; None when nothing is left."""
    now = now or utcnow()
    q = claimable(reviewer_id, filters, stage, now).order_by(*order.clauses())
    claim = {"claimed_by": reviewer_id, "claim_expires": now + timeout}
    if session.get_bind().dialect.name == "postgresql":
        item_id = session.execute(q.limit(1).with_for_update(skip_locked=True, of=Item)).scalar()
        if item_id is not None:
            session.execute(update(Item).where(Item.id == item_id).values(**claim))
        session.commit()
        return None if item_id is None else session.get(Item, item_id, populate_existing=True)
    while True:
        candidates = session.execute(q.limit(8)).scalars().all()
        if not candidates:
            session.commit()
            return None
        for item_id in candidates:  # another reviewer may win a candidate between our SELECT and UPDATE
            won = session.execute(update(Item).where(Item.id == item_id, _free(now)).values(**claim)).rowcount
            if won:
                session.commit()
                return session.get(Item, item_id, populate_existing=True)


def release(session: Session, item_id: int, reviewer_id: int) -> bool:
    """Give a claimed item back to the queue (the reviewer skipped it)."""
    done = session.execute(update(Item).where(Item.id == item_id, Item.claimed_by == reviewer_id)
                           .values(claimed_by=None, claim_expires=None)).rowcount
    session.commit()
    return bool(done)


def _sampled(item_id: int, share: float) -> bool:
    """Deterministic: the same item is always in or out of the second-review sample."""
    return int(hashlib.sha256(f"second:{item_id}".encode()).hexdigest()[:8], 16) < share * 2**32


def _snapshot(item: Item) -> dict:
    return {"state": item.state, "outcome": item.outcome, "final_category": item.final_category,
            "final_severity": item.final_severity}


def _outcome(item: Item, review: Review) -> dict:
    if review.decision == "reject":
        return {"outcome": "rejected", "final_category": None, "final_severity": None}
    return {"outcome": "confirmed", "final_category": review.category or item.category,
            "final_severity": review.severity or item.severity}


def _agree(a: Review, b: Review, item: Item) -> bool:
    if a.decision != b.decision:
        return False
    return a.decision == "reject" or (a.category or item.category) == (b.category or item.category)


def _check(decision: str, category: str | None, severity: int | None, reason: str | None) -> None:
    if decision not in DECISIONS:
        raise ReviewError(f"decision {decision!r}: one of {', '.join(DECISIONS)}")
    if category is not None and category not in CATEGORIES:
        raise ReviewError(f"category {category!r}: one of {', '.join(CATEGORIES)}")
    if severity is not None and severity not in SEVERITIES:
        raise ReviewError(f"severity {severity!r}: one of 1, 2, 3")
    if decision == "reject" and reason not in REASONS:
        raise ReviewError(f"reason {reason!r}: a rejection needs one of {', '.join(REASONS)}")
    if decision == "confirm" and reason is not None:
        raise ReviewError("reason: only a rejection has one (use the note)")


def decide(session: Session, item_id: int, reviewer_id: int, decision: str, *, category: str | None = None,
           severity: int | None = None, reason: str | None = None, note: str | None = None,
           second_share: float = 0.0, now: dt.datetime | None = None) -> Review:
    """Record `reviewer_id`'s decision on an item they have claimed, move the item on and commit.

    pending → done, or second_review for a `second_share` sample (blind: the outcome stays unset);
    second_review → done when both agree (decision, and category when confirmed), else disputed;
    disputed → done with the lead's decision. Appeals go through resolve_appeal.
    """
    _check(decision, category, severity, reason)
    now = now or utcnow()
    item = session.get(Item, item_id, populate_existing=True)
    if item is None:
        raise ReviewError(f"item {item_id}: no such item")
    if item.claimed_by != reviewer_id:
        raise ReviewError(f"item {item_id}: not claimed by this reviewer (the claim expired and was taken, or never made)")
    rounds = {"pending": "first", "second_review": "second", "disputed": "lead"}
    if item.state not in rounds:
        raise ReviewError(f"item {item_id}: state {item.state}, nothing to decide here")
    review = Review(item_id=item_id, reviewer_id=reviewer_id, round=rounds[item.state], decision=decision,
                    category=category, severity=severity, reason=reason, note=note, created_at=now)
    before = _snapshot(item)
    if review.round == "first" and _sampled(item_id, second_share):
        after = {**before, "state": "second_review"}
    elif review.round == "second":
        first = next(r for r in reversed(item.reviews) if r.round == "first" and r.undone_at is None)
        after = {**before, **_outcome(item, review), "state": "done"} if _agree(first, review, item) else {**before, "state": "disputed"}
    else:
        after = {**before, **_outcome(item, review), "state": "done"}
    _move(session, item, reviewer_id, before, after, now)
    session.add(review)
    session.flush()
    session.add(AuditEntry(at=now, user_id=reviewer_id, action="decide", entity="items", entity_id=item_id,
                           before=before, after={**after, "review_id": review.id, "round": review.round,
                                                 "decision": decision, "category": category, "severity": severity,
                                                 "reason": reason, "note": note}))
    session.commit()
    return review


def _move(session: Session, item: Item, reviewer_id: int, before: dict, after: dict, now: dt.datetime,
          claim: bool = False) -> None:
    """The conditional UPDATE: only if the item is still as read (and, unless `claim`, claimed by
    this reviewer). Raises (and rolls back) when another request changed it first."""
    cond = [Item.id == item.id, Item.state == before["state"]]
    cond.append(_free(now) if claim else Item.claimed_by == reviewer_id)
    values = {k: after[k] for k in ("state", "outcome", "final_category", "final_severity")}
    values.update(claimed_by=reviewer_id if claim else None, claim_expires=now + CLAIM_TIMEOUT if claim else None,
                  updated_at=now)
    if session.execute(update(Item).where(and_(*cond)).values(**values)).rowcount != 1:
        session.rollback()
        raise ReviewError(f"item {item.id}: changed by someone else meanwhile; reload it")
    session.expire(item)


def undo(session: Session, reviewer_id: int, now: dt.datetime | None = None) -> Item | None:
    """Undo the reviewer's latest decision, if nobody has acted on the item since: the item returns
    to its state before it, claimed again by the reviewer. None when there is nothing to undo."""
    now = now or utcnow()
    review = session.scalars(select(Review).where(Review.reviewer_id == reviewer_id, Review.undone_at.is_(None))
                             .order_by(Review.id.desc()).limit(1)).first()
    if review is None:
        return None
    later = session.scalar(select(func.count()).select_from(Review).where(Review.item_id == review.item_id, Review.id > review.id))
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "items", AuditEntry.entity_id == review.item_id,
                                                     AuditEntry.action == "decide").order_by(AuditEntry.id.desc()).limit(1)).first()
    if later or entry is None or entry.after.get("review_id") != review.id:
        raise ReviewError(f"item {review.item_id}: decided again since; undo is only for the latest decision")
    item = session.get(Item, review.item_id, populate_existing=True)
    current = _snapshot(item)
    _move(session, item, reviewer_id, current, entry.before, now, claim=True)
    session.execute(update(Review).where(Review.id == review.id).values(undone_at=now))
    session.add(AuditEntry(at=now, user_id=reviewer_id, action="undo", entity="items", entity_id=item.id,
                           before=current, after={**entry.before, "review_id": review.id}))
    session.commit()
    return session.get(Item, item.id, populate_existing=True)


def file_appeal(session: Session, item_id: int, reason: str, *, agent_id: str | None = None,
                filed_by: int | None = None, now: dt.datetime | None = None) -> Appeal:
    """An agent appeals a confirmed violation: the item goes to a lead."""
    now = now or utcnow()
    item = session.get(Item, item_id, populate_existing=True)
    if item is None or item.state != "done" or item.outcome != "confirmed":
        raise ReviewError(f"item {item_id}: only a confirmed violation can be appealed")
    if not reason.strip():
        raise ReviewError("reason: say why the agent appeals")
    before = _snapshot(item)
    n = session.execute(update(Item).where(Item.id == item_id, Item.state == "done")
                        .values(state="appealed", claimed_by=None, claim_expires=None, updated_at=now)).rowcount
    if n != 1:
        session.rollback()
        raise ReviewError(f"item {item_id}: changed by someone else meanwhile; reload it")
    appeal = Appeal(item_id=item_id, agent_id=agent_id or item.agent_id, filed_by=filed_by, reason=reason, filed_at=now)
    session.add(appeal)
    session.flush()
    session.add(AuditEntry(at=now, user_id=filed_by, action="appeal", entity="items", entity_id=item_id,
                           before=before, after={**before, "state": "appealed", "appeal_id": appeal.id}))
    session.commit()
    return appeal


def resolve_appeal(session: Session, appeal_id: int, lead_id: int, status: str, note: str | None = None,
                   now: dt.datetime | None = None) -> Appeal:
    """A lead upholds the violation (it stays confirmed) or overturns it (rejected)."""
    if status not in APPEAL_STATUSES[1:]:
        raise ReviewError(f"status {status!r}: upheld or overturned")
    now = now or utcnow()
    appeal = session.get(Appeal, appeal_id, populate_existing=True)
    if appeal is None or appeal.status != "open":
        raise ReviewError(f"appeal {appeal_id}: no open appeal")
    item = session.get(Item, appeal.item_id, populate_existing=True)
    before = _snapshot(item)
    after = {**before, "state": "done"}
    if status == "overturned":
        after.update(outcome="rejected", final_category=None, final_severity=None)
    if session.execute(update(Item).where(Item.id == item.id, Item.state == "appealed")
                       .values(**after, claimed_by=None, claim_expires=None, updated_at=now)).rowcount != 1:
        session.rollback()
        raise ReviewError(f"item {item.id}: changed by someone else meanwhile; reload it")
    session.execute(update(Appeal).where(Appeal.id == appeal_id)
                    .values(status=status, resolved_by=lead_id, resolved_at=now, resolution_note=note))
    session.add(AuditEntry(at=now, user_id=lead_id, action=f"appeal_{status}", entity="items", entity_id=item.id,
                           before=before, after={**after, "appeal_id": appeal_id}))
    session.commit()
    return session.get(Appeal, appeal_id, populate_existing=True)


def counts(session: Session, filters: Filters | None = None) -> dict:
    """Items per state, per outcome and per scored category (for the queue and `jiyu review stats`)."""
    where = (filters or Filters()).where()

    def by(column) -> dict:  # noqa: ANN001
        rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
        return {key if key is not None else "-": n for key, n in sorted(rows, key=lambda r: (r[0] is None, str(r[0])))}

    total = session.scalar(select(func.count()).select_from(Item).where(*where))
    return {"items": total, "state": by(Item.state), "outcome": by(Item.outcome), "category": by(Item.category),
            "decision": by(Item.decision)}
