"""Result types: Evidence (one span), Verdict (one text), CallReport (one conversation).

Spans are [start, end) indices into the ORIGINAL text; `Evidence.text` is exactly
`original[start:end]`. `to_dict()` gives the JSON contract of DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DECISIONS = ("pass", "review", "violation")


@dataclass(frozen=True, slots=True)
class Evidence:
    start: int
    end: int
    text: str
    category: str
    source: str  # lexicon | pattern | pinyin (| classifier)
    rule_id: str
    severity: int
    score: float
    suggestion: str | None = None

    def to_dict(self) -> dict:
        d = {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "category": self.category,
            "source": self.source,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "score": self.score,
        }
        if self.suggestion:
            d["suggestion"] = self.suggestion
        return d


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str  # pass | review | violation
    score: float  # 0..1, how sure we are that the text breaks the standard
    labels: tuple[str, ...]  # categories, most severe first
    evidence: tuple[Evidence, ...]
    mode: str = "qa"

    @property
    def flagged(self) -> bool:
        """A review is flagged too: it goes to a person."""
        return self.decision != "pass"

    def to_dict(self) -> dict:
        return {
            "flagged": self.flagged,
            "decision": self.decision,
            "score": self.score,
            "labels": list(self.labels),
            "evidence": [e.to_dict() for e in self.evidence],
            "mode": self.mode,
        }


@dataclass(frozen=True, slots=True)
class TurnViolation:
    turn: int  # index into the input turns
    speaker: str
    start: float | None
    end: float | None
    verdict: Verdict
    deduction: float = 0.0  # points this turn cost under the score sheet
    text: str = ""  # the turn as said, so a report reads on its own

    def to_dict(self) -> dict:
        return {
            "turn": self.turn,
            "speaker": self.speaker,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "decision": self.verdict.decision,
            "score": self.verdict.score,
            "labels": list(self.verdict.labels),
            "evidence": [e.to_dict() for e in self.verdict.evidence],
            "deduction": self.deduction,
        }


@dataclass(frozen=True, slots=True)
class CallReport:
    conversation_id: str
    violations: tuple[TurnViolation, ...]
    score: float  # the score sheet's start minus deductions (capped), floored at 0
    deductions: float
    turns_judged: int
    passed: bool = True  # score at or above the pass mark and no fatal violation
    fatal: bool = False
    score_sheet: str = "default"
    extra: dict = field(default_factory=dict)  # input fields other than turns, copied through
    agent_speaker: str | None = None  # the speaker judged as the agent
    agent_inferred: bool = False  # True: no speaker name said agent; inferred from what they said
    agent_confidence: float | None = None  # with agent_inferred: share of the cues that agree
    agent_cues: tuple[str, ...] = ()  # with agent_inferred: what the agent said that gave them away
    skipped_turns: tuple[dict, ...] = ()  # turns not judged for want of a text: {"turn", "speaker", "error"}

    @property
    def flagged(self) -> bool:
        return bool(self.violations)

    def to_dict(self) -> dict:
        return {
            **self.extra,
            "conversation_id": self.conversation_id,
            "flagged": self.flagged,
            "violations": [v.to_dict() for v in self.violations],
            "score": self.score,
            "deductions": self.deductions,
            "passed": self.passed,
            "fatal": self.fatal,
            "score_sheet": self.score_sheet,
            "turns_judged": self.turns_judged,
            "agent_speaker": self.agent_speaker,
            "agent_inferred": self.agent_inferred,
            **({"agent_confidence": self.agent_confidence, "agent_cues": list(self.agent_cues)} if self.agent_inferred else {}),
            **({"skipped_turns": list(self.skipped_turns)} if self.skipped_turns else {}),
        }
