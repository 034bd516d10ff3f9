"""From evidence to a decision: one place that turns spans into pass / review / violation.

Each piece of evidence carries a score in 0..1 (how sure we are that it breaks the standard).
A verdict's score is the highest evidence score; the mode's thresholds turn it into a decision.
The tone classifier adds evidence with source "classifier" whose score is its calibrated
probability mapped onto the same scale (`tone_score`), so both kinds of evidence meet the same
thresholds: a severity-3 lexicon hit stays a violation whatever the classifier says, and the
classifier alone can raise a review or a violation.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lexicon import CATEGORIES
from .verdict import Evidence, Verdict

# A listed phrase said verbatim: severity 1 is context-dependent, 3 is an insult or threat.
SEVERITY_SCORE = {1: 0.55, 2: 0.85, 3: 0.95}
# A homophone or typed-pinyin match is weaker evidence than the characters themselves.
SOURCE_FACTOR = {"lexicon": 1.0, "pattern": 1.0, "pinyin": 0.8}


@dataclass(frozen=True, slots=True)
class Thresholds:
    review: float
    violation: float


MODES = {
    # recall first: anything plausible goes to a person
    "qa": Thresholds(review=0.4, violation=0.8),
    # precision first: a chat reply is blocked only on strong evidence
    "realtime": Thresholds(review=0.5, violation=0.85),
}


def evidence_score(severity: int, source: str) -> float:
    return round(SEVERITY_SCORE[severity] * SOURCE_FACTOR[source], 4)


def tone_score(p: float, thresholds: dict, mode: str) -> float:
    """A calibrated classifier probability on the mode's evidence scale.

    The dev-chosen thresholds of the category (review, violation) land exactly on the mode's
    review and violation scores; in between the mapping is linear, so a higher probability is
    always stronger evidence.
    """
    m = MODES[mode]
    r, v = thresholds["review"], thresholds["violation"]
    if p >= v:
        s = m.violation + (1 - m.violation) * (p - v) / max(1 - v, 1e-9)
    elif p >= r:
        s = m.review + (m.violation - m.review) * (p - r) / max(v - r, 1e-9)
    else:
        s = m.review * p / max(r, 1e-9)
    return round(min(s, 1.0), 4)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def decide(evidence: list[Evidence], mode: str) -> Verdict:
    t = MODES[mode]
    kept = [e for e in evidence if e.score >= t.review]
    if not kept:
        return Verdict("pass", max((e.score for e in evidence), default=0.0), (), (), mode)
    score = max(e.score for e in kept)
    decision = "violation" if score >= t.violation else "review"
    best: dict[str, tuple[int, float]] = {}
    for e in kept:
        best[e.category] = max(best.get(e.category, (0, 0.0)), (e.severity, e.score))
    labels = sorted(best, key=lambda c: (-best[c][0], -best[c][1], CATEGORIES.index(c)))
    return Verdict(decision, score, tuple(labels), tuple(kept), mode)
