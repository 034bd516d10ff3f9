"""The Detector: lexicons compiled once, then `check`, `check_many`, `check_conversation`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .cache import CacheInfo, VerdictCache
from .compiled import compile_lexicon
from .context import ContextModel
from .matcher import Hit
from .normalise import MARKERS, Normalised, fold, normalise
from .pinyin import PinyinTable
from .scorer import MODES, check_mode, decide, evidence_score, tone_score
from .tone import MODEL_DIR, ToneModel, is_short, sentence_units, short_bar, without
from .verdict import CallReport, Evidence, TurnViolation, Verdict

if TYPE_CHECKING:
    from .conversation import ConversationError
    from .scoresheet import ScoreSheet
    from .speakers import Roles

# Only short texts are cached: scripted replies are short, and the cache must stay small.
CACHE_MAX_CHARS = 200
# Texts whose sentences the classifier scores in one pass: past a few dozen the shared array
# work is paid off, and a big check_many stays in small memory.
BATCH = 64


def _trim_marks(folded: str, a: int, b: int) -> tuple[int, int]:
    """A sentence unit without sentence marks at its ends (evidence should not start at a 。)."""
    while a < b - 1 and folded[a] in MARKERS:
        a += 1
    while b > a + 1 and folded[b - 1] in MARKERS:
        b -= 1
    return a, b


def _largest_below(thresholds: dict, mode: str) -> float:
    """The largest p (to float precision) with tone_score(p) under the mode's review score."""
    floor = MODES[mode].review
    lo, hi = 0.0, 1.0
    if tone_score(hi, thresholds, mode) < floor:
        return hi
    for _ in range(100):  # tone_score is non-decreasing in p: bisect its step to the floor
        mid = (lo + hi) / 2
        if tone_score(mid, thresholds, mode) >= floor:
            hi = mid
        else:
            lo = mid
    return lo


class _Lexical(NamedTuple):
    """What the lexicon pass found in one text, in normalised coordinates, and its evidence."""

    norm: Normalised
    hits: list[Hit]  # kept (not innocent)
    innocent: list[tuple[int, int]]
    evidence: list[Evidence]


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

    `cache_size=N` keeps the verdicts of the last N distinct short texts (≤ CACHE_MAX_CHARS):
    chat agents send the same scripted replies all day, and a repeat then costs a dict lookup.
    The cache belongs to this Detector, so a lexicon reload (a new Detector) starts empty.
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
        cache_size: int = 0,
        context: bool | ContextModel = True,
    ) -> None:
        self.mode = check_mode(mode)
        # packs loaded, compiled and self-checked (LexiconError if broken); cached by content
        self.lexicon, self.matcher = compile_lexicon(list(lexicons), include_default, _pinyin_table())
        # `tone`: an already-loaded model to share (a lexicon reload need not reload the model)
        self.tone = (tone or ToneModel.load(model_dir or MODEL_DIR)) if classifier else None
        # whom an ambiguous phrase is aimed at (detector.context); False: the explicit frames alone
        self.context = (context if isinstance(context, ContextModel) else _context_model(model_dir)) if context else None
        # per mode and category, the largest probability whose evidence score is still under the
        # mode's review score: anything at or below it can never become classifier evidence
        self._below = {
            m: np.array([_largest_below(self.tone.thresholds[m][c], m) for c in self.tone.categories]) for m in MODES
        } if self.tone else {}
        self._cache = VerdictCache(cache_size) if cache_size > 0 else None  # verdicts are frozen: safe to share

    def cache_info(self) -> CacheInfo | None:
        return self._cache.info() if self._cache else None

    @property
    def lexicon_version(self) -> str:
        return self.lexicon.version

    @property
    def context_version(self) -> str | None:
        return self.context.version if self.context else None

    @property
    def model_version(self) -> str | None:
        return self.tone.version if self.tone else None

    def evidence(self, text: str, mode: str | None = None) -> list[Evidence]:
        """Every span found, before the mode's thresholds (classifier evidence is scored for `mode`)."""
        return self._evidence_many([text], check_mode(mode) if mode else self.mode)[0]

    def _evidence_many(self, texts: Sequence[str], mode: str) -> list[list[Evidence]]:
        """`evidence` of several texts: the lexicon one by one, the classifier over the sentences
        of up to BATCH texts at once (array work shared; memory bounded whatever the input)."""
        out = []
        for at in range(0, len(texts), BATCH):
            found = [self._lexical(t) for t in texts[at : at + BATCH]]
            if self.tone is None:
                out += [f.evidence for f in found]
            else:
                out += [f.evidence + t for f, t in zip(found, self._tone_evidence(found, mode))]
        return out

    def _lexical(self, text: str) -> _Lexical:
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        norm = normalise(text)
        innocent: list[tuple[int, int]] = []
        hits = self.matcher.find(norm, innocent=innocent)
        if hits and self.context is not None:
            hits = self._in_context(norm.text, hits, innocent)
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
        return _Lexical(norm, hits, innocent, out)

    def _in_context(self, text: str, hits: list[Hit], innocent: list[tuple[int, int]]) -> list[Hit]:
        """Hits minus those the context model judges aimed elsewhere (their spans become innocent)."""
        kept = []
        for h in hits:
            if h.source != "pattern" and self.context.innocent(text, h.start, h.end, self.matcher.rules[h.rule].rule.id):
                innocent.append((h.start, h.end))
            else:
                kept.append(h)
        return kept

    def _tone_evidence(self, found: list[_Lexical], mode: str) -> list[list[Evidence]]:
        """Classifier evidence per text, each spanning the sentence that drives it.

        What the lexicon judged innocent (allowlisted, vetoed, quoted) is cut out before the
        classifier sees the text, so it cannot bring those words back as evidence. The sentences
        of all the texts are scored in one call; one whose upper bound stays under every cut
        cannot matter and is skipped without segmenting (the verdict is the same).
        """
        units, lefts, sure = [], [], []
        for f in found:
            text = f.norm.text
            units.append(sentence_units(text) if text else [])
            for a, b in units[-1]:
                lefts.append(without(text, a, b, f.innocent))
                sure.append(any(h.start < b and a < h.end for h in f.hits))
        below = self._below[mode]
        probs = self.tone.units_proba(lefts, below, sure)
        over = (probs > below).any(axis=1).tolist()  # sentences over a cut anywhere: usually none
        out, at = [], 0
        for f, spans in zip(found, units):
            end = at + len(spans)
            out.append(self._tone_spans(f.norm, spans, probs[at:end], mode, bool(f.hits)) if any(over[at:end]) else [])
            at = end
        return out

    def _tone_spans(self, norm: Normalised, units: list[tuple[int, int]], per_sentence: np.ndarray, mode: str,
                    cued: bool) -> list[Evidence]:
        tone = self.tone
        probs = per_sentence.max(axis=0)
        thresholds = tone.thresholds[mode]
        if not cued and is_short(norm.text):
            thresholds = short_bar(thresholds)
        floor = MODES[mode].review
        scores = {c: tone_score(float(p), thresholds[c], mode) for c, p in zip(tone.categories, probs)}
        strong = [c for c, sc in scores.items() if sc >= floor]
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
        return self.check_many([text], mode)[0]

    def check_many(self, texts: Iterable[str], mode: str | None = None) -> list[Verdict]:
        """Verdicts in input order; texts in the cache cost a lookup, the rest are judged together."""
        mode = check_mode(mode) if mode else self.mode
        texts = list(texts)
        if self._cache is None:
            return [decide(evidence, mode) for evidence in self._evidence_many(texts, mode)]
        verdicts: list[Verdict | None] = [None] * len(texts)
        cacheable = [type(t) is str and len(t) <= CACHE_MAX_CHARS for t in texts]
        for i, t in enumerate(texts):
            if cacheable[i]:
                verdicts[i] = self._cache.get((t, mode))
        todo = [i for i, v in enumerate(verdicts) if v is None]
        for i, evidence in zip(todo, self._evidence_many([texts[i] for i in todo], mode)):
            verdicts[i] = decide(evidence, mode)
            if cacheable[i]:
                self._cache.put((texts[i], mode), verdicts[i])
        return verdicts

    def check_conversation(
        self,
        conversation: Any,
        roles: Iterable[str] = ("agent",),
        mode: str | None = None,
        score_sheet: ScoreSheet | None = None,
        agent_speakers: Iterable[str] = (),
        infer_agent: bool = True,
    ) -> CallReport:
        """Judge the turns whose speaker maps to one of `roles` (agent by default) and score the call.

        A phrase the agent repeats from the customer's previous turn (您说我们是骗子？) is the
        customer's word, not the agent's violation: that evidence is dropped.
        """
        from .conversation import ConversationError

        report = self.check_conversations([conversation], roles, mode, score_sheet, agent_speakers, infer_agent)[0]
        if isinstance(report, ConversationError):
            raise report
        return report

    def check_conversations(
        self,
        conversations: Sequence[Any],
        roles: Iterable[str] = ("agent",),
        mode: str | None = None,
        score_sheet: ScoreSheet | None = None,
        agent_speakers: Iterable[str] = (),
        infer_agent: bool = True,
    ) -> list[CallReport | ConversationError]:
        """`check_conversation` for several calls, their agent turns judged together (faster in
        batches); a conversation that is not valid gets its ConversationError in its place."""
        # pydantic: imported for calls only
        from .conversation import ConversationError, parse_conversation, role_of, without_textless_turns
        from .speakers import Roles, assign_roles

        mode = check_mode(mode) if mode else self.mode
        sheet = score_sheet or _default_sheet()
        extra_agents = {a.strip().casefold() for a in agent_speakers}
        wanted = {role_of(r) for r in roles}
        calls: list[tuple[dict, Roles, list[int], list[dict]] | ConversationError] = []
        for conversation in conversations:
            try:
                conversation, skipped = without_textless_turns(conversation, wanted, extra_agents)
                conv = parse_conversation(conversation)
                if "agent" in wanted:
                    found = assign_roles(conv["turns"], extra_agents, infer_agent)
                else:
                    found = Roles([role_of(t["speaker"], extra_agents) for t in conv["turns"]], None, False, None, ())
            except ConversationError as e:
                calls.append(e)
                continue
            calls.append((conv, found, [i for i, role in enumerate(found.turn_roles) if role in wanted], skipped))
        texts = [c[0]["turns"][i]["text"] for c in calls if not isinstance(c, ConversationError) for i in c[2]]
        evidence = iter(self._evidence_many(texts, mode))
        return [c if isinstance(c, ConversationError) else _report(*c, evidence, mode, sheet) for c in calls]


def _context_model(model_dir: str | Path | None) -> ContextModel:
    """The context model trained with the tone model in `model_dir` (`jiyu train` writes both), else the shipped one."""
    mine = Path(model_dir) / "context.json" if model_dir else None
    return ContextModel.load(mine) if mine and mine.exists() else ContextModel.load()


def _report(conv: dict, found: Roles, agent_turns: list[int], skipped: list[dict], evidence: Iterator, mode: str,
            sheet: ScoreSheet) -> CallReport:
    """The call's report from its agent turns' evidence (taken, in turn order, from `evidence`)."""
    turns, turn_roles = conv["turns"], found.turn_roles
    by_turn = {i: next(evidence) for i in agent_turns}
    violations, deductions, fatal = [], 0.0, False
    last_customer = ""
    for i, (turn, role) in enumerate(zip(turns, turn_roles)):
        if i in by_turn:
            verdict = decide(_not_repeated(by_turn[i], last_customer), mode)
            if verdict.flagged:
                cost = sheet.turn_deduction(verdict)
                deductions += cost
                fatal = fatal or sheet.is_fatal(verdict)
                violations.append(TurnViolation(i, turn["speaker"], turn.get("start"), turn.get("end"), verdict, cost, turn["text"]))
        if role == "customer":
            last_customer = turn["text"]
    deductions = min(deductions, sheet.cap_per_call)
    score = max(0.0, sheet.start - deductions)
    return CallReport(
        conversation_id=str(conv["conversation_id"]),
        violations=tuple(violations),
        score=score,
        deductions=deductions,
        turns_judged=len(agent_turns),
        passed=score >= sheet.pass_mark and not fatal,
        fatal=fatal,
        score_sheet=sheet.name,
        extra={k: v for k, v in conv.items() if k not in ("conversation_id", "turns")},
        agent_speaker=found.agent_speaker,
        agent_inferred=found.inferred,
        agent_confidence=found.confidence,
        agent_cues=found.cues,
        skipped_turns=tuple(skipped),
    )


@lru_cache(maxsize=1)
def _default_sheet() -> ScoreSheet:
    from .scoresheet import ScoreSheet  # PyYAML and a pydantic model: only when calls are scored

    return ScoreSheet.load()


def _not_repeated(evidence: list[Evidence], customer_text: str) -> list[Evidence]:
    """Evidence minus phrases the customer said first (and classifier spans that contain them)."""
    if not customer_text or not any(e.source != "classifier" for e in evidence):
        return evidence
    said = fold(customer_text)
    repeated = [e for e in evidence if e.source != "classifier" and (f := fold(e.text)) and f in said]
    if not repeated:
        return evidence
    return [
        e for e in evidence
        if e not in repeated and not (e.source == "classifier" and any(e.start <= r.start and r.end <= e.end for r in repeated))
    ]
