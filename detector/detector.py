"""The Detector: lexicons compiled once, then `check`, `check_many`, `check_conversation`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .conversation import DEDUCTION, START_SCORE, parse_conversation, role_of
from .lexicon import Lexicon, LexiconError
from .lexicon_check import compiled_problems
from .matcher import Matcher
from .normalise import normalise
from .pinyin import PinyinTable
from .scorer import check_mode, decide, evidence_score
from .verdict import CallReport, Evidence, TurnViolation, Verdict


@lru_cache(maxsize=1)
def _pinyin_table() -> PinyinTable:
    # One character → syllable table per process, shared by every Detector (and lexicon reloads).
    return PinyinTable()


class Detector:
    """Finds 忌语 in agent speech.

    `Detector()` uses the bundled lexicon; `Detector(lexicons=[DIR, ...])` layers organisation
    packs over it (`include_default=False` to use only yours). `mode` is the default preset:
    "qa" (recall first, for review queues) or "realtime" (precision first, for blocking).
    """

    def __init__(
        self,
        lexicons: Sequence[str | Path] = (),
        *,
        mode: str = "qa",
        include_default: bool = True,
    ) -> None:
        self.mode = check_mode(mode)
        self.lexicon = Lexicon.load(list(lexicons), include_default=include_default)
        self.matcher = Matcher(self.lexicon, _pinyin_table())
        problems = compiled_problems(self.lexicon, self.matcher)
        if problems:  # the same checks as `jiyu lexicon check`: a broken pack never serves
            raise LexiconError(problems)
        self.model_version: str | None = None  # the tone classifier is not part of this build

    @property
    def lexicon_version(self) -> str:
        return self.lexicon.version

    def evidence(self, text: str) -> list[Evidence]:
        """Every span the lexicon path finds, before any mode threshold."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        norm = normalise(text)
        hits = self.matcher.find(norm)
        out = []
        for h in hits:
            rule = self.matcher.rules[h.rule].rule
            s, e = norm.span(h.start, h.end)
            out.append(
                Evidence(
                    start=s,
                    end=e,
                    text=text[s:e],
                    category=rule.category,
                    source=h.source,
                    rule_id=rule.id,
                    severity=rule.severity,
                    score=evidence_score(rule.severity, h.source),
                    suggestion=rule.suggestion,
                )
            )
        return out

    def check(self, text: str, mode: str | None = None) -> Verdict:
        return decide(self.evidence(text), check_mode(mode) if mode else self.mode)

    def check_many(self, texts: Iterable[str], mode: str | None = None) -> list[Verdict]:
        mode = check_mode(mode) if mode else self.mode
        return [decide(self.evidence(t), mode) for t in texts]

    def check_conversation(
        self, conversation: Any, roles: Iterable[str] = ("agent",), mode: str | None = None
    ) -> CallReport:
        """Judge the turns whose speaker maps to one of `roles` (agent by default)."""
        conv = parse_conversation(conversation)
        wanted = {role_of(r) for r in roles}
        judged = [(i, t) for i, t in enumerate(conv.turns) if role_of(t.speaker) in wanted]
        verdicts = self.check_many([t.text for _, t in judged], mode)
        violations = tuple(
            TurnViolation(i, t.speaker, t.start, t.end, v) for (i, t), v in zip(judged, verdicts) if v.flagged
        )
        deductions = sum(
            DEDUCTION[max(e.severity for e in v.verdict.evidence)]
            for v in violations
            if v.verdict.decision == "violation"
        )
        extra = {k: v for k, v in (conv.model_extra or {}).items()}
        return CallReport(
            conversation_id=str(conv.conversation_id),
            violations=violations,
            score=max(0.0, START_SCORE - deductions),
            deductions=deductions,
            turns_judged=len(judged),
            extra=extra,
        )
