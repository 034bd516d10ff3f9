"""The organisation lexicon pack that review decisions propose (`jiyu review export`'s OUT_DIR/pack/).

Rejected lexicon hits (sources lexicon, pinyin, pattern) become the narrowest form that stops them:
  1. an allowlist phrase (it suppresses the hit only where the whole phrase is said): the hit
     widened to the words it cuts (jieba; 问别人去|年 → 问别人去年), then by one more word on either
     side, shortest first — the shortest phrase still carries the innocent sense to the next
     text that says it;
  2. failing that, a context veto on the hit's rule (the nearest word of two or more characters
     before or after it, within the rule's window): the pack restates the rule with the veto
     added, which replaces the earlier rule of the same id.
A form is kept only when, with the pack loaded, the false alarm is gone and no lexicon hit is
lost on a known violation (confirmed review items, labelled lines of the tone corpus's train
split); otherwise the next form is tried. Rejections for a wrong speaker are the speaker
attribution's to fix, not the lexicon's: they are listed, not turned into entries.

Confirmed classifier-only finds whose phrase (the evidence sentence, compared folded) recurs in
`min_repeats` items become candidate phrase rules with the reviewers' category, unless the rule
would flag a rejected item or an unlabelled line of the train split.

The pack must pass `jiyu lexicon check`; its README.md lists every entry with the review decisions
behind it, and what was not turned into an entry and why.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from detector.evaluate import LEXICON_SOURCES
from detector.extra import text_key
from detector.matcher import phrase_key
from detector.normalise import fold

from .export import Reviewed

PREFIX = {"disrespectful": "disr", "unfriendly": "unfr", "impatient": "impa", "impolite": "impo"}
SENTENCE_ENDS = set("。！？!?；;\n")
NOT_LEXICAL = {"wrong_speaker": "the speaker was wrong: speaker attribution (--agent-speakers, agent inference) is at fault, not the lexicon"}


@dataclass(frozen=True)
class Form:
    """One way to stop a false alarm: an allowlist phrase, or a veto word on a rule's side."""

    kind: str  # allow | veto
    text: str
    rule_id: str
    side: str | None = None  # veto: before | after

    def describe(self) -> str:
        if self.kind == "allow":
            return f"allowlist {self.text}"
        return f"{self.rule_id}: unless_{self.side} {self.text}"


@dataclass
class Target:
    """One rejected lexicon hit, and the forms that might stop it, narrowest first."""

    item: Reviewed
    rule_id: str
    start: int
    end: int
    forms: list[Form]
    choice: int = 0
    tried: list[str] = field(default_factory=list)  # why earlier forms were not kept

    @property
    def form(self) -> Form | None:
        return self.forms[self.choice] if self.choice < len(self.forms) else None

    @property
    def hit(self) -> str:
        return self.item.text[self.start:self.end]


@dataclass
class Candidate:
    """A recurring confirmed classifier-only find, proposed as a phrase rule."""

    id: str
    phrase: str
    category: str
    severity: int
    items: list[Reviewed]
    dropped: str | None = None  # why it is not in the pack


@dataclass
class Proposal:
    targets: list[Target] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    listed: list[tuple[Reviewed, str]] = field(default_factory=list)  # rejected items with no entry, and why

    def kept(self) -> list[Target]:
        return [t for t in self.targets if t.form is not None]

    def summary(self) -> dict:
        kept = self.kept()
        return {"allowlist": len({phrase_key(t.form.text) for t in kept if t.form.kind == "allow"}),
                "vetoes": len({(t.form.rule_id, t.form.side, t.form.text) for t in kept if t.form.kind == "veto"}),
                "candidates": sum(c.dropped is None for c in self.candidates),
                "false_alarms_unresolved": len(self.targets) - len(kept), "listed_only": len(self.listed)}


# -- forms -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _jieba():  # noqa: ANN202 — jieba's plain dictionary (no lexicon words: the innocent word is what we want)
    from detector.segment import tokenizer

    return tokenizer([])


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return list(_jieba().tokenize(text))


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def forms_for(text: str, start: int, end: int, rule_id: str, window: int | None) -> list[Form]:
    """Allowlist phrases (widened hit, shortest first), then vetoes (nearest word first); `window`
    None: the rule takes no vetoes (a pattern)."""
    toks = _tokens(text)
    inside = [i for i, (_, a, b) in enumerate(toks) if a < end and start < b]
    if not inside:
        return []
    lo, hi = inside[0], inside[-1]

    def neighbour(i: int, step: int) -> int | None:
        """The next word token from i in direction step, not across a sentence end."""
        i += step
        while 0 <= i < len(toks):
            if any(ch in SENTENCE_ENDS for ch in toks[i][0]):
                return None
            if _is_word(toks[i][0]):
                return i
            i += step
        return None

    # a one-character neighbour (用, 的) says little about the sense and would make a broad phrase
    before, after = ((i if i is not None and len(toks[i][0].strip()) >= 2 else None) for i in (neighbour(lo, -1), neighbour(hi, 1)))
    spans = [(lo, hi)] + [(a, b) for a, b in ((lo, after), (before, hi), (before, after)) if a is not None and b is not None]
    hit_key = phrase_key(text[start:end])
    allows, seen = [], set()
    for a, b in spans:
        phrase = text[toks[a][1]:toks[b][2]].strip()
        key = phrase_key(phrase)
        if key and key != hit_key and key not in seen and not (set(key) & {"。", "!", "?"}):
            seen.add(key)
            allows.append(Form("allow", phrase, rule_id))
    allows.sort(key=lambda f: len(phrase_key(f.text)))
    vetoes = []
    if window is not None:
        for side, i, step in (("before", lo, -1), ("after", hi, 1)):
            j, gap = i + step, 0
            while 0 <= j < len(toks) and not any(ch in SENTENCE_ENDS for ch in toks[j][0]):
                word = toks[j][0]
                if len(fold(word)) >= 2 and _is_word(word):
                    vetoes.append((gap, Form("veto", word, rule_id, side)))
                    break
                gap += len(fold(word))
                if gap > window:
                    break
                j += step
    return allows + [f for _, f in sorted(vetoes, key=lambda gv: gv[0])]


# -- the pack files --------------------------------------------------------------------------


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=4096)


def _quote(text: str, limit: int = 60) -> str:
    return "「" + (text if len(text) <= limit else text[: limit - 1] + "…") + "」"


def _write(pack: Path, proposal: Proposal, lexicon, name: str) -> None:  # noqa: ANN001 — detector.lexicon.Lexicon
    """pack.yaml, allow.yaml, vetoes.yaml, candidates.yaml (the last three only when not empty)."""
    pack.mkdir(parents=True, exist_ok=True)
    for old in pack.glob("*.yaml"):
        old.unlink()
    (pack / "pack.yaml").write_text(_yaml({"name": name, "description": "proposed by jiyu review export from review"
                                           " decisions; see README.md before deploying it"}), encoding="utf-8")
    allow: dict[str, list[Target]] = {}
    vetoes: dict[str, dict[tuple[str, str], list[Target]]] = {}
    for t in proposal.kept():
        if t.form.kind == "allow":
            allow.setdefault(phrase_key(t.form.text), []).append(t)
        else:
            vetoes.setdefault(t.rule_id, {}).setdefault((t.form.side, t.form.text), []).append(t)
    if allow:
        entries = [{"phrase": ts[0].form.text,
                    "note": f"review feedback: false alarm of {', '.join(sorted({t.rule_id for t in ts}))} in "
                            + "; ".join(f"{_quote(t.item.text)} (item {t.item.item_id})" for t in ts)}
                   for ts in allow.values()]
        (pack / "allow.yaml").write_text(_yaml({"allow": entries}), encoding="utf-8")
    if vetoes:
        entries = []
        for rule_id, words in vetoes.items():
            rule = lexicon.rules[rule_id][0].model_dump(exclude_defaults=True)
            for key in ("variants", "initials", "unless_before", "unless_after"):
                if key in rule:
                    rule[key] = list(rule[key])
            for (side, word), ts in words.items():
                listed = rule.setdefault(f"unless_{side}", [])
                if word not in listed:
                    listed.append(word)
            items = sorted({t.item.item_id for ts in words.values() for t in ts})
            rule["note"] = (rule.get("note", "") + f"；review feedback: vetoes added from items {', '.join(map(str, items))}").lstrip("；")
            entries.append(rule)
        (pack / "vetoes.yaml").write_text(_yaml({"entries": entries}), encoding="utf-8")
    kept = [c for c in proposal.candidates if c.dropped is None]
    if kept:
        entries = [{"id": c.id, "phrase": c.phrase, "category": c.category, "severity": c.severity, "source": "review",
                    "note": f"review feedback: confirmed as {c.category} in {len(c.items)} items "
                            f"({', '.join(str(r.item_id) for r in c.items)}), found by the classifier alone"} for c in kept]
        (pack / "candidates.yaml").write_text(_yaml({"entries": entries}), encoding="utf-8")


def _readme(pack: Path, proposal: Proposal, min_repeats: int) -> None:
    lines = ["# Lexicon pack proposed from review decisions", "",
             "Written by `jiyu review export`. Nothing here is in force until someone deploys it:",
             f"check it with `jiyu lexicon check {pack}`, read the before/after figures in ../report.md,",
             "then load it (`jiyu scan --lexicon DIR`, `JIYU_LEXICONS`, or `POST /v1/admin/reload`).", ""]
    kept = proposal.kept()
    lines += ["## Allowlist entries (allow.yaml) and context vetoes (vetoes.yaml)", "",
              "Each stops a lexicon hit that reviewers rejected as a false alarm, in the narrowest form that did"
              " (an allowlist phrase before a veto); forms tried first and not kept are named.", ""]
    if kept:
        lines += ["| entry | rule | hit | text | decision | not kept |", "|---|---|---|---|---|---|"]
        for t in kept:
            lines.append(f"| {t.form.describe()} | {t.rule_id} | {t.hit} | {_quote(t.item.text)} | {t.item.describe()} |"
                         f" {'; '.join(t.tried) or '-'} |")
    else:
        lines.append("(none)")
    lines += ["", f"## Candidate phrases (candidates.yaml): confirmed classifier-only finds said in {min_repeats}+ items", ""]
    if any(c.dropped is None for c in proposal.candidates):
        lines += ["| id | phrase | category | severity | decisions |", "|---|---|---|---|---|"]
        for c in proposal.candidates:
            if c.dropped is None:
                lines.append(f"| {c.id} | {c.phrase} | {c.category} | {c.severity} | {'<br>'.join(r.describe() for r in c.items)} |")
    else:
        lines.append("(none)")
    rest = [(t.item, f"hit {t.hit!r} of {t.rule_id}: no form stopped it without a cost ({'; '.join(t.tried)})")
            for t in proposal.targets if t.form is None]
    rest += [(c.items[0], f"candidate {c.phrase!r} not proposed: {c.dropped}") for c in proposal.candidates if c.dropped]
    rest += proposal.listed
    lines += ["", "## Decisions with no entry here", ""]
    lines += [f"- {_quote(r.text)} — {r.describe()}: {why}" for r, why in rest] or ["(none)"]
    (pack / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- choosing --------------------------------------------------------------------------------


def _targets(items: list[Reviewed], base, lexicon, proposal: Proposal) -> None:  # noqa: ANN001
    for r in items:
        if r.outcome != "rejected":
            continue
        if not any(e.source in LEXICON_SOURCES for e in r.evidence):
            proposal.listed.append((r, "found by the classifier alone: a hard negative in review-corpus.jsonl for"
                                       " `jiyu train --extra`, no lexicon change"))
            continue
        if r.reasons and all(x in NOT_LEXICAL for x in r.reasons):
            proposal.listed.append((r, NOT_LEXICAL[r.reasons[0]]))
            continue
        hits = [e for e in base.evidence(r.text) if e.source in LEXICON_SOURCES]
        if not hits:
            proposal.listed.append((r, "the current lexicon no longer flags it"))
            continue
        for e in {(e.rule_id, e.start, e.end): e for e in hits}.values():
            phrase_rule = lexicon.rules.get(e.rule_id)
            forms = forms_for(r.text, e.start, e.end, e.rule_id, phrase_rule[0].window if phrase_rule else None)
            proposal.targets.append(Target(r, e.rule_id, e.start, e.end, forms,
                                           tried=[] if forms else ["no word around the hit to build a form from"]))


def _candidates(items: list[Reviewed], min_repeats: int, proposal: Proposal) -> None:
    groups: dict[str, list[tuple[Reviewed, str]]] = {}
    for r in items:
        if r.outcome != "confirmed" or not r.evidence or any(e.source != "classifier" for e in r.evidence):
            continue
        span = next((e for e in r.evidence if e.category == r.category), r.evidence[0])
        phrase = span.text.strip().rstrip("，,。.！!？?；;～~ ")
        if text_key(phrase):
            groups.setdefault(text_key(phrase), []).append((r, phrase))
    for key, found in groups.items():
        if len(found) < min_repeats:
            continue
        rs = [r for r, _ in found]
        category = Counter(r.category for r in rs).most_common(1)[0][0]
        severity = Counter(r.severity for r in rs if r.severity in (1, 2, 3)).most_common(1)
        rid = f"{PREFIX[category]}-rv-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        proposal.candidates.append(Candidate(rid, Counter(p for _, p in found).most_common(1)[0][0], category,
                                             severity[0][0] if severity else 1, rs))


class _Guard:
    """Known violations (a form must not cost a lexicon hit on them) and known innocent lines (a
    candidate rule must not flag them)."""

    def __init__(self, items: list[Reviewed], base) -> None:  # noqa: ANN001
        from detector import corpus

        rows, splits = corpus.load(), corpus.read_splits()
        train = [r for r in rows if splits.get(r.id) == "train"]
        self.violations = [r.text for r in items if r.outcome == "confirmed"] + [r.text for r in train if r.labels]
        self.innocent = [r.text for r in items if r.outcome == "rejected"] + [r.text for r in train if not r.labels]
        self.base = [self._hits(base, t) for t in self.violations]

    @staticmethod
    def _hits(detector, text: str) -> set[tuple[str, int, int]]:  # noqa: ANN001
        return {(e.rule_id, e.start, e.end) for e in detector.evidence(text) if e.source in LEXICON_SOURCES}

    def lost(self, detector) -> list[tuple[str, str]]:  # noqa: ANN001
        """(text, rule id) of every known-violation hit the pack removes."""
        out = []
        for text, before in zip(self.violations, self.base):
            if before:
                out += [(text, rule) for rule, _, _ in before - self._hits(detector, text)]
        return out

    def flagged(self, detector, rule_ids: set[str]) -> dict[str, list[str]]:  # noqa: ANN001
        out: dict[str, list[str]] = {}
        for text in self.innocent:
            for e in detector.evidence(text):
                if e.rule_id in rule_ids:
                    out.setdefault(e.rule_id, []).append(text)
        return out


def _blame(form: Form, text: str, rule: str) -> bool:
    if form.kind == "allow":
        return phrase_key(form.text) in fold(text)
    return form.rule_id == rule and fold(form.text) in fold(text)


def propose(items: list[Reviewed], pack: Path, *, min_repeats: int = 3, lexicons: tuple[Path, ...] = (),
            log: Callable[[str], None] = lambda message: None) -> Proposal:
    """Choose the entries (rounds: write the pack, check it, load it, move each failing target on
    to its next form) and write the pack and its README."""
    from detector import Detector
    from detector.lexicon_check import check_lexicon

    base = Detector(list(lexicons), classifier=False)
    proposal = Proposal()
    _targets(items, base, base.lexicon, proposal)
    _candidates(items, min_repeats, proposal)
    guard = _Guard(items, base)
    rounds = 0
    while True:  # every round moves a target to its next form or drops a candidate: it ends
        rounds += 1
        _write(pack, proposal, base.lexicon, "review-feedback")
        live = [t for t in proposal.targets if t.form is not None]
        failed: dict[int, str] = {}
        dropped = 0
        _, problems = check_lexicon([*lexicons, pack])
        for p in problems:
            mine = [i for i, t in enumerate(live) if (t.form.kind == "allow" and repr(t.form.text) in p.message)
                    or (t.form.kind == "veto" and t.rule_id in p.message)]
            theirs = [c for c in proposal.candidates if c.dropped is None and c.id in p.message]
            if Path(p.where.file).parent.resolve() != pack.resolve() or not (mine or theirs):
                raise RuntimeError("the proposed pack fails jiyu lexicon check:\n" + "\n".join(map(str, problems)))
            for i in mine:
                failed[i] = f"{live[i].form.describe()}: lexicon check: {p.message}"
            for c in theirs:
                c.dropped, dropped = f"lexicon check: {p.message}", dropped + 1
        if not problems:
            d = Detector([*lexicons, pack], classifier=False)
            for i, t in enumerate(live):
                if any(e.rule_id == t.rule_id and e.start < t.end and t.start < e.end for e in d.evidence(t.item.text)):
                    failed[i] = f"{t.form.describe()}: did not stop the hit"
            for text, rule in guard.lost(d):
                for i, t in enumerate(live):
                    if i not in failed and _blame(t.form, text, rule):
                        failed[i] = f"{t.form.describe()}: would lose {rule} on the known violation {_quote(text, 30)}"
            for rid, texts in guard.flagged(d, {c.id for c in proposal.candidates if c.dropped is None}).items():
                c = next(c for c in proposal.candidates if c.id == rid)
                c.dropped, dropped = f"would flag {len(texts)} known-innocent line(s), e.g. {_quote(texts[0], 30)}", dropped + 1
        if not failed and not dropped:
            break
        for i, why in failed.items():
            live[i].tried.append(why)
            live[i].choice += 1
        log(f"pack proposal, round {rounds}: {len(failed)} form(s) and {dropped} candidate(s) not kept; trying again")
    _readme(pack, proposal, min_repeats)
    log(f"{pack}: " + json.dumps(proposal.summary()))
    return proposal
