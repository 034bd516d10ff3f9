"""`jiyu review export OUT_DIR`: what the reviewers decided, as files a lead can inspect and apply.

  OUT_DIR/review-corpus.jsonl   every decided item as a tone-corpus line (data/tone/ format):
                                confirmed → the confirmed (or corrected) category as its label;
                                rejected false alarm → no label, a hard negative. `jiyu train
                                --extra` takes it beside data/tone/.
  OUT_DIR/pack/                 an organisation lexicon pack proposal (review/proposal.py)
  OUT_DIR/report.md             before/after figures (review/feedback_report.py)

Only items whose review is over count (state done: first review without a second one, agreeing
reviewers, a lead's decision, or an appeal resolved); undone reviews do not. Nothing is applied:
export writes files only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .models import Appeal, Item

CORPUS_FILE = "review-corpus.jsonl"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    category: str
    source: str
    rule_id: str


@dataclass(frozen=True)
class Reviewed:
    """One item whose review is over, with the decisions behind it."""

    item_id: int
    key: str  # the item's import_key: stable across exports of the same store
    kind: str
    text: str
    channel: str | None
    outcome: str  # confirmed | rejected
    category: str | None  # the confirmed category (as corrected), None when rejected
    severity: int | None
    scored_labels: tuple[str, ...]
    evidence: tuple[Span, ...]
    reviewers: int  # distinct people whose decision stands (reviewers, lead, appeal resolver)
    reasons: tuple[str, ...]  # why rejected, as the reviewers said
    notes: tuple[str, ...]
    decided_at: dt.datetime

    @property
    def corpus_id(self) -> str:
        return f"rv-{self.key[:16]}"

    def describe(self) -> str:
        """One line for a pack README or a report: which item, what was decided, by how many."""
        what = f"confirmed as {self.category}" if self.outcome == "confirmed" else "rejected as a false alarm"
        why = f" ({', '.join(sorted(set(self.reasons)))})" if self.reasons else ""
        note = f"; note: {' / '.join(self.notes)}" if self.notes else ""
        return f"item {self.item_id}: {what}{why} by {self.reviewers} reviewer(s) on {self.decided_at:%Y-%m-%d}{note}"


def reviewed_items(session: Session, *, since: dt.datetime | None = None, min_reviewers: int = 1) -> list[Reviewed]:
    """Items whose review is over, decided at or after `since`, by at least `min_reviewers` people."""
    items = session.scalars(select(Item).where(Item.state == "done", Item.outcome.is_not(None)).order_by(Item.id)
                            .options(selectinload(Item.evidence), selectinload(Item.reviews))).all()
    appeals: dict[int, list[Appeal]] = {}
    for a in session.scalars(select(Appeal).where(Appeal.status != "open")):  # few; no IN list of every item id
        appeals.setdefault(a.item_id, []).append(a)
    out = []
    for item in items:
        reviews = [r for r in item.reviews if r.undone_at is None]
        resolved = appeals.get(item.id, [])
        people = {r.reviewer_id for r in reviews} | {a.resolved_by for a in resolved if a.resolved_by is not None}
        times = [r.created_at for r in reviews] + [a.resolved_at for a in resolved if a.resolved_at]
        if not times:  # done without a standing decision: nothing a person vouched for
            continue
        decided = max(times)
        if (since and decided < since) or len(people) < min_reviewers:
            continue
        rejected = item.outcome == "rejected"
        out.append(Reviewed(
            item_id=item.id, key=item.import_key, kind=item.kind, text=item.text, channel=item.channel,
            outcome=item.outcome, category=None if rejected else item.final_category or item.category,
            severity=None if rejected else item.final_severity or item.severity, scored_labels=tuple(item.labels or ()),
            evidence=tuple(Span(e.start, e.end, e.text, e.category, e.source, e.rule_id) for e in item.evidence),
            reviewers=len(people), reasons=tuple(r.reason for r in reviews if r.reason and r.decision == "reject") if rejected else (),
            notes=tuple(x for x in [*(r.note for r in reviews), *(a.resolution_note for a in resolved)] if x),
            decided_at=decided,
        ))
    return out


def corpus_line(r: Reviewed) -> dict:
    """The item as a data/tone line (the exact fields corpus.load requires); provenance in `kind`
    and `source`: review, the decision, how many reviewers, which item."""
    style = "chat" if r.kind == "utterance" or (r.channel or "").lower() == "chat" else "asr"
    return {
        "id": r.corpus_id, "text": r.text, "labels": [r.category] if r.outcome == "confirmed" else [],
        "industry": "-", "style": style, "hard_negative": r.outcome == "rejected", "kind": f"review-{r.outcome}",
        "source": f"review: {r.outcome} by {r.reviewers} reviewer(s), item {r.item_id}",
    }


def write_corpus(items: list[Reviewed], path: Path) -> Path:
    path.write_text("".join(json.dumps(corpus_line(r), ensure_ascii=False) + "\n" for r in items), encoding="utf-8")
    return path


def export(session: Session, out_dir: Path, *, since: dt.datetime | None = None, min_reviewers: int = 1,
           min_repeats: int = 3, model_dir: Path | None = None, lexicons: tuple[Path, ...] = (),
           log: Callable[[str], None] = lambda message: None) -> dict:
    """Write the three parts into `out_dir`; returns what was written (paths and counts)."""
    from .feedback_report import before_after
    from .proposal import propose

    out_dir.mkdir(parents=True, exist_ok=True)
    items = reviewed_items(session, since=since, min_reviewers=min_reviewers)
    corpus_path = write_corpus(items, out_dir / CORPUS_FILE)
    confirmed = sum(r.outcome == "confirmed" for r in items)
    log(f"{corpus_path}: {len(items)} reviewed items ({confirmed} confirmed, {len(items) - confirmed} rejected)")
    proposal = propose(items, out_dir / "pack", min_repeats=min_repeats, lexicons=lexicons, log=log)
    report = before_after(items, out_dir / "pack", out_dir / "report.md", model_dir=model_dir, lexicons=lexicons,
                          proposal=proposal, log=log)
    return {"items": len(items), "confirmed": confirmed, "corpus": str(corpus_path), "pack": str(out_dir / "pack"),
            "report": str(report), "proposal": proposal.summary()}
