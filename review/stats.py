"""What the dashboard and the coaching pages compute: agreement between reviewers (Cohen's κ) and
an agent's confirmed violations over time with their worst examples."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from .models import Item, Review, User
from .queue import CATEGORIES, Filters


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """κ of two raters' labels over the same items; None when undefined (no items, or both raters
    gave one and the same label to everything, so chance agreement is already 1)."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(left[k] * right[k] for k in left) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


@dataclass
class Agreement:
    items: int  # items with a first and a second review
    by_category: dict[str, tuple[float | None, int]]  # category → (κ, items)
    by_pair: list[tuple[str, str, float | None, int]]  # (reviewer, reviewer, κ, items)
    overall: float | None


def agreement(session: Session, filters: Filters | None = None) -> Agreement:
    """Each doubly reviewed item's two labels: `reject`, or the category confirmed (the
    correction, else the scored one). Per category κ is of the yes/no question "is it a confirmed
    <category>?"; per pair, of the full label."""
    where = (filters or Filters()).where()
    rows = session.execute(
        select(Review.item_id, Review.round, Review.reviewer_id, Review.decision, Review.category, Item.category)
        .join(Item, Item.id == Review.item_id)
        .where(Review.round.in_(("first", "second")), Review.undone_at.is_(None), *where)
        .order_by(Review.id)).all()
    per_item: dict[int, dict[str, tuple[int, str]]] = defaultdict(dict)
    for item_id, rnd, reviewer, decision, corrected, scored in rows:
        per_item[item_id][rnd] = (reviewer, "reject" if decision == "reject" else (corrected or scored or "?"))
    doubles = [(v["first"], v["second"]) for v in per_item.values() if "first" in v and "second" in v]
    names = dict(session.execute(select(User.id, User.username)).all())
    by_category = {}
    for c in CATEGORIES:
        pairs = [(a[1] == c, b[1] == c) for a, b in doubles]
        by_category[c] = (cohen_kappa(pairs), sum(x or y for x, y in pairs))
    pairs_by_reviewers: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for (ra, la), (rb, lb) in doubles:
        a, b = names.get(ra, str(ra)), names.get(rb, str(rb))
        key, labels = ((a, b), (la, lb)) if a <= b else ((b, a), (lb, la))
        pairs_by_reviewers[key].append(labels)
    by_pair = [(a, b, cohen_kappa(p), len(p)) for (a, b), p in sorted(pairs_by_reviewers.items())]
    return Agreement(len(doubles), by_category, by_pair, cohen_kappa([(a[1], b[1]) for a, b in doubles]))


def _week(t: dt.datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Coaching:
    agent_id: str
    total: int
    weeks: list[str]
    by_week: dict[str, dict[str, int]]  # category → week → confirmed violations
    worst: list[Item]


def confirmed(filters: Filters, agent_id: str) -> list:
    return [*filters.where(), Item.agent_id == agent_id, Item.state == "done", Item.outcome == "confirmed"]


def coaching(session: Session, agent_id: str, filters: Filters | None = None, worst: int = 10) -> Coaching:
    """An agent's confirmed violations per category and ISO week (of when it was said, else of
    the import), and the worst examples: most severe first, then highest score."""
    where = confirmed(filters or Filters(), agent_id)
    rows = session.execute(select(Item.final_category, Item.occurred_at, Item.created_at).where(*where)).all()
    by_week: dict[str, dict[str, int]] = {c: {} for c in CATEGORIES}
    weeks = set()
    for category, occurred, created in rows:
        w = _week(occurred or created)
        weeks.add(w)
        by_week.setdefault(category or "?", {})
        by_week[category or "?"][w] = by_week[category or "?"].get(w, 0) + 1
    examples = session.scalars(select(Item).options(selectinload(Item.evidence)).where(*where)
                               .order_by(Item.final_severity.desc(), Item.score.desc(), Item.id).limit(worst)).all()
    return Coaching(agent_id, len(rows), sorted(weeks), by_week, list(examples))


def agents(session: Session, filters: Filters | None = None) -> list[tuple[str, int, int]]:
    """Agents with items: (agent_id, confirmed violations, items)."""
    where = (filters or Filters()).where()
    confirmed_n = func.sum(case_confirmed())
    rows = session.execute(select(Item.agent_id, confirmed_n, func.count()).where(Item.agent_id.is_not(None), *where)
                           .group_by(Item.agent_id).order_by(confirmed_n.desc(), Item.agent_id)).all()
    return [(a, int(c or 0), n) for a, c, n in rows]


def case_confirmed():  # noqa: ANN201
    from sqlalchemy import case

    return case(((Item.state == "done") & (Item.outcome == "confirmed"), 1), else_=0)


def suggestion(item: Item) -> str | None:
    """The polite rewrite: the first suggestion of the confirmed category's evidence, else any."""
    category = item.final_category or item.category
    spans = sorted(item.evidence, key=lambda e: (e.category != category, -(e.severity or 0), e.start))
    return next((e.suggestion for e in spans if e.suggestion), None)
