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
from .normalise import MARKERS, Normalised, normalise
from .pinyin import PinyinTable
from .scorer import MODES, check_mode, decide, evidence_score, tone_score
from .tone import MODEL_DIR, ToneModel
from .verdict import CallReport, Evidence, TurnViolation, Verdict

def _trim_marks(folded: str, a: int, b: int) -> tuple[int, int]:
    """A sentence unit without sentence marks at its ends (evidence should not start at a 。)."""
    while a < b - 1 and folded[a] in MARKERS:
        a += 1
    while b > a + 1 and folded[b - 1] in MARKERS:
        b -= 1
    return a, b


@lru_cache(maxsize=1)
def _pinyin_table() -> PinyinTable:
    # One character → syllable table per process, shared by every Detector (and lexicon reloads).
    return PinyinTable()


class Detector:
    """Finds 忌语 in agent speech.

    `Detector()` uses the bundled lexicon and tone model; `Detector(lexicons=[DIR, ...])` layers
    organisation packs over the lexicon (`include_default=False` to use only yours);
    `classifier=False` gives the lexicon path alone. `mode` is the default preset: "qa" (recall
    first, for review queues) or "realtime" (precision first, for blocking).
    """

    def __init__(
        self,
        lexicons: Sequence[str | Path] = (),
        *,
        mode: str = "qa",
        include_default: bool = True,
        classifier: bool = True,
        model_dir: str | Path | None = None,
        tone: ToneModel | None = None,
    ) -> None:
        self.mode = check_mode(mode)
        self.lexicon = Lexicon.load(list(lexicons), include_default=include_default)
        self.matcher = Matcher(self.lexicon, _pinyin_table())
        problems = compiled_problems(self.lexicon, self.matcher)
        if problems:  # the same checks as `jiyu lexicon check`: a broken pack never serves
            raise LexiconError(problems)
        # `tone`: an already-loaded model to share (a lexicon reload need not reload the model)
        self.tone = (tone or ToneModel.load(model_dir or MODEL_DIR)) if classifier else None

    @property
    def lexicon_version(self) -> str:
        return self.lexicon.version

    @property
    def model_version(self) -> str | None:
        return self.tone.version if self.tone else None

    def evidence(self, text: str, mode: str | None = None) -> list[Evidence]:
        """Every span found, before the mode's thresholds (classifier evidence is scored for `mode`)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        norm = normalise(text)
        innocent: list[tuple[int, int]] = []
        hits = self.matcher.find(norm, innocent=innocent)
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
        if self.tone is not None and norm.text:
            out += self._tone_evidence(norm, innocent, mode or self.mode)
        return out

    def _tone_evidence(self, norm: Normalised, innocent: list[tuple[int, int]], mode: str) -> list[Evidence]:
        """Classifier evidence, each spanning the sentence that drives it.

        What the lexicon judged innocent (allowlisted, vetoed, quoted) is cut out before the
        classifier sees the text, so it cannot bring those words back as evidence.
        """
        tone = self.tone
        units, per_sentence = tone.sentence_probs(norm.text, innocent)
        probs = per_sentence.max(axis=0)
        thresholds = tone.thresholds[mode]
        floor = MODES[mode].review
        scores = {c: tone_score(float(p), thresholds[c], mode) for c, p in zip(tone.categories, probs)}
        strong = [c for c, sc in scores.items() if sc >= floor]
        if not strong:
            return []
        out = []
        for c in strong:
            s, e = norm.span(*_trim_marks(norm.text, *units[int(per_sentence[:, tone.categories.index(c)].argmax())]))
            out.append(
                Evidence(
                    start=s, end=e, text=norm.original[s:e], category=c, source="classifier", rule_id=f"tone-{c}",
                    severity=2 if scores[c] >= MODES[mode].violation else 1, score=scores[c],
                )
            )
        return out

    def check(self, text: str, mode: str | None = None) -> Verdict:
        mode = check_mode(mode) if mode else self.mode
        return decide(self.evidence(text, mode), mode)

    def check_many(self, texts: Iterable[str], mode: str | None = None) -> list[Verdict]:
        mode = check_mode(mode) if mode else self.mode
        return [decide(self.evidence(t, mode), mode) for t in texts]

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
