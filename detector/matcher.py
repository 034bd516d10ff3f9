"""Aho-Corasick matching of a compiled lexicon over normalised text.

Two automatons, built once and never mutated afterwards (safe to share between threads):
- surface: folded phrases and variants, pattern anchors, typed initials and allowlist phrases;
- pinyin: toneless syllable strings of phrases long enough to be safe (>= 3 syllables, or
  marked `pinyin: true`) for ASR homophones and typed pinyin.
Every candidate comes from `Automaton.iter()`; then, in order: Latin word boundaries and the
noise-gap bound, pattern verification, context vetoes, allowlist cover, and finally our own
overlap resolution (longest normalised span wins; ties by severity, source, position, id).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from .lexicon import Lexicon, PatternRule, PhraseRule
from .normalise import MARKERS, MAX_GAP, Normalised, fold
from .pinyin import PinyinTable

# Kinds of surface payload
RULE, ANCHOR, ALLOW, INITIALS = 0, 1, 2, 3
SOURCE_RANK = {"lexicon": 0, "pattern": 1, "pinyin": 2}

# A forbidden phrase that is mentioned rather than used (a trainer quoting the rule, a script
# saying what not to say) is not a violation: a prohibition right before it, a "such words"
# right after it, or quotation marks around it.
_PROHIBITION_BEFORE = re.compile(
    r"(?:不能|不要|不得|禁止|严禁|不宜|不允许|不应该|不应|切忌|不可以|避免|不准|忌|不许)"
    r"(?:对[^。!?]{0,8})?(?:说|讲|用|使用|叫|称呼|称|问)(?:什么|类似|像|诸如)?$"
)
_SUCH_WORDS = r"(?:这种|这类|这样的|之类的?|这些|一类的?|等)(?:话|词|说法|字眼|用语|忌语|语言)"
_SUCH_WORDS_AFTER = re.compile("^" + _SUCH_WORDS)
# "像 X Y 这种话" (an example list, the phrase not right before 这种话) and reported speech
# confirmed back to the customer ("您说店员问您买得起吗，对吧") are mentions too.
_EXAMPLE_CUE = re.compile("(?:像|比如|例如|诸如|类似)")
_SUCH_WORDS_LATER = re.compile(_SUCH_WORDS)
_REPORTED_BEFORE = re.compile("[您你](?:刚才|是)?(?:说|讲|反映|提到|的意思是)|跟[您你](?:说|讲)")
_CONFIRM_AFTER = re.compile("^[^。!?]{0,8}?(?:对吧|是吧|对吗|是吗|对不对|是不是)")
# An agent reading the customer's words back for confirmation (您的意思是 … 对吗？ / 我理解的是，
# 您觉得 … 对吧): what lies between the cue and the closing question is the customer's, whatever it
# says (guidelines rule 5), so neither the lexicon nor the classifier holds it against the agent.
# Only the polite 您 opens the frame: "你是说…是吧" is as often a retort as a read-back.
_READ_BACK_CUE = re.compile("您(?:刚才)?(?:是)?(?:说|讲|反映|提到|觉得|认为|的意思是)|我理解的是|我?跟您(?:再)?确认一下")
_READ_BACK_TAG = re.compile("(?:对吧|是吧|对吗|是吗|对不对|是不是|没错吧)[ 。!?]*$")
_SENTENCES = re.compile("[^。!?]+[。!?]*")
_MARK = re.compile("[" + re.escape("".join(sorted(MARKERS))) + "]")
_QUOTES = {"“": "”", "‘": "’", "「": "」", "『": "』", '"': '"', "'": "'"}
_OPEN_QUOTE = re.compile("[" + re.escape("".join(_QUOTES)) + "]")
MIN_PINYIN_SYLLABLES = 3


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule matched at normalised [start, end)."""

    start: int
    end: int
    rule: int  # index into Matcher.rules
    source: str  # lexicon | pattern | pinyin
    anchor: tuple[int, int] | None = None  # a pattern's anchor: an allowlist phrase covering it suppresses the hit


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: PhraseRule | PatternRule
    before: tuple[str, ...]  # folded context vetoes
    after: tuple[str, ...]
    regex: re.Pattern | None


def _is_latin(c: str) -> bool:
    return c.isascii() and c.isalnum()


class Matcher:
    def __init__(self, lexicon: Lexicon, pinyin: PinyinTable | None = None):
        self.lexicon = lexicon
        self.pinyin = pinyin or PinyinTable()
        self.rules: list[CompiledRule] = []
        surface: dict[str, list[tuple[int, int]]] = {}
        py: dict[str, list[int]] = {}
        for rule, _ in lexicon.rules.values():
            idx = self._add_rule(rule)
            for form in rule.forms:
                key = phrase_key(form)
                if key:
                    surface.setdefault(key, []).append((RULE, idx))
                    if self._pinyin_applies(rule, key):
                        for k in self.pinyin.phrase_keys(key):
                            py.setdefault(k, []).append(idx)
            for initials in rule.initials:
                surface.setdefault(initials, []).append((INITIALS, idx))
        for rule, _ in lexicon.patterns.values():
            idx = self._add_rule(rule)
            key = phrase_key(rule.anchor)
            if key:
                surface.setdefault(key, []).append((ANCHOR, idx))
        for entry, _ in lexicon.allow:
            key = phrase_key(entry.phrase)
            if key:
                surface.setdefault(key, []).append((ALLOW, -1))
        self.surface = _automaton(surface)
        self.py = _automaton(py)
        self._order = {i: (-c.rule.severity, c.rule.id) for i, c in enumerate(self.rules)}

    def _add_rule(self, rule: PhraseRule | PatternRule) -> int:
        before = tuple(filter(None, map(fold, getattr(rule, "unless_before", ()))))
        after = tuple(filter(None, map(fold, getattr(rule, "unless_after", ()))))
        regex = re.compile(rule.regex) if isinstance(rule, PatternRule) else None
        self.rules.append(CompiledRule(rule, before, after, regex))
        return len(self.rules) - 1

    def _pinyin_applies(self, rule: PhraseRule, key: str) -> bool:
        if rule.pinyin is False:
            return False
        n = self.pinyin.syllable_count(key)
        return n >= MIN_PINYIN_SYLLABLES or (rule.pinyin is True and n >= 2)

    # -- matching -----------------------------------------------------------------------

    def find(self, norm: Normalised, *, use_allowlist: bool = True, innocent: list | None = None) -> list[Hit]:
        """Resolved hits in normalised coordinates, ordered by position.

        If `innocent` is a list, the normalised spans of candidates dropped as innocent
        (allowlisted, vetoed by context, mentioned rather than used) are appended to it, and so
        are the read-back frames (the customer's words, whether or not a rule matched in them).
        """
        text = norm.text
        read_back = read_back_spans(text)
        if innocent is not None:
            innocent += read_back
        candidates: list[Hit] = []
        allowed: list[tuple[int, int]] = []
        for end, (length, payloads) in self.surface.iter(text):
            start = end + 1 - length
            for kind, idx in payloads:
                if kind == ALLOW:
                    allowed.append((start, end + 1))
                    continue
                if not self._surface_ok(norm, start, end + 1):
                    continue
                if kind == ANCHOR:
                    candidates += self._verify_pattern(text, start, end + 1, idx)
                else:
                    candidates.append(Hit(start, end + 1, idx, "pinyin" if kind == INITIALS else "lexicon"))
        # a pinyin hit on exactly a literal hit's span and rule can only lose to it (same checks,
        # lower source rank): not checking it twice halves the work on rude text
        candidates += self._pinyin_hits(norm, {(h.start, h.end, h.rule) for h in candidates})
        if not candidates:
            return []
        kept = []
        for h in candidates:
            if (
                (use_allowlist and any(_covers(a, b, h) for a, b in allowed))
                or self._vetoed(text, h)
                or _is_mention(norm, h)
                or any(_covers(a, b, h) for a, b in read_back)
            ):
                if innocent is not None:
                    innocent.append((h.start, h.end))
            else:
                kept.append(h)
        return self._resolve(kept)

    def literals(self, norm: Normalised) -> list[tuple[int, int]]:
        """Spans where any rule phrase, variant or pattern anchor occurs (before any check)."""
        spans = [
            (end + 1 - length, end + 1)
            for end, (length, payloads) in self.surface.iter(norm.text)
            if any(kind != ALLOW for kind, _ in payloads)
        ]
        py = self.pinyin.convert(norm.text)
        spans += [py.norm_span(end + 1 - length, end + 1) for end, (length, _) in self.py.iter(py.text)]
        return spans

    def _surface_ok(self, norm: Normalised, start: int, end: int) -> bool:
        if norm.max_gap(start, end) > MAX_GAP:
            return False
        text, original = norm.text, norm.original
        s, e = norm.span(start, end)
        if _is_latin(text[start]) and s > 0 and _is_latin(original[s - 1]):
            return False
        if _is_latin(text[end - 1]) and e < len(original) and _is_latin(original[e]):
            return False
        return True

    def _pinyin_hits(self, norm: Normalised, literal: set[tuple[int, int, int]] = frozenset()) -> list[Hit]:
        """Hits of the pinyin automaton, except those on exactly a `literal` hit's span and rule."""
        py = self.pinyin.convert(norm.text)
        hits = []
        for end, (length, payloads) in self.py.iter(py.text):
            start, stop = py.norm_span(end + 1 - length, end + 1)
            fresh = [idx for idx in payloads if (start, stop, idx) not in literal]
            if fresh and self._surface_ok(norm, start, stop):
                hits += [Hit(start, stop, idx, "pinyin") for idx in fresh]
        return hits

    def _verify_pattern(self, text: str, start: int, end: int, idx: int) -> list[Hit]:
        # The regex sees the anchor's sentence and the next one (喂! followed by 您好 is a greeting).
        s0, e0 = _sentence(text, start, end)
        e0 = _sentence(text, e0, e0)[1] if e0 < len(text) else e0
        for m in self.rules[idx].regex.finditer(text[s0:e0]):
            if m.start() + s0 <= start and end <= m.end() + s0:
                return [Hit(m.start() + s0, m.end() + s0, idx, "pattern", (start, end))]
        return []

    def _vetoed(self, text: str, hit: Hit) -> bool:
        compiled = self.rules[hit.rule]
        if not (compiled.before or compiled.after):
            return False
        s0, e0 = _sentence(text, hit.start, hit.end)
        w = compiled.rule.window
        before = text[max(s0, hit.start - w) : hit.start]
        after = text[hit.end : min(e0, hit.end + w)]
        return any(v in before for v in compiled.before) or any(v in after for v in compiled.after)

    def _resolve(self, hits: list[Hit]) -> list[Hit]:
        """Non-overlapping selection: longest first, then severity, source, position, id."""
        order = self._order
        ranked = sorted(set(hits), key=lambda h: (h.start - h.end, order[h.rule][0], SOURCE_RANK[h.source], h.start, order[h.rule][1]))
        taken: list[Hit] = []
        for h in ranked:
            if all(h.end <= t.start or t.end <= h.start for t in taken):
                taken.append(h)
        return sorted(taken, key=lambda h: h.start)


def _covers(a: int, b: int, hit: Hit) -> bool:
    if a <= hit.start and hit.end <= b:
        return True
    return hit.anchor is not None and a <= hit.anchor[0] and hit.anchor[1] <= b


def read_back_spans(text: str) -> list[tuple[int, int]]:
    """Normalised spans an agent reads back to the customer for confirmation (see _READ_BACK_CUE)."""
    if "您" not in text and "我理解" not in text:
        return []
    out = []
    for m in _SENTENCES.finditer(text):
        tag = _READ_BACK_TAG.search(m.group())
        cue = tag and _READ_BACK_CUE.search(m.group(), 0, tag.start())
        if cue and cue.end() < tag.start():
            out.append((m.start() + cue.start(), m.start() + tag.end()))  # the frame too: 您说…是吧 alone is no rudeness
    return out


def _is_mention(norm: Normalised, hit: Hit) -> bool:
    text = norm.text
    s0, e0 = _sentence(text, hit.start, hit.end)
    before, after = text[s0 : hit.start], text[hit.end : e0]
    if _PROHIBITION_BEFORE.search(before) or _SUCH_WORDS_AFTER.match(after):
        return True
    if _EXAMPLE_CUE.search(before) and _SUCH_WORDS_LATER.search(after):
        return True
    if _REPORTED_BEFORE.search(before) and _CONFIRM_AFTER.match(after):
        return True
    original = norm.original
    s, e = norm.span(hit.start, hit.end)
    left = original[original.rfind("\n", 0, s) + 1 : s]
    if not _OPEN_QUOTE.search(left):
        return False
    nl = original.find("\n", e)
    right = original[e : nl if nl >= 0 else None]
    for open_q, close_q in _QUOTES.items():
        i = left.rfind(open_q)
        if i >= 0 and close_q not in left[i + 1 :] and close_q in right:
            if open_q != close_q or left.count(open_q) % 2 == 1:
                return True
    return False


def phrase_key(phrase: str) -> str:
    """A lexicon phrase as the automaton stores it: folded, without sentence marks at its ends."""
    return fold(phrase).strip("".join(MARKERS))


def _automaton(entries: dict) -> ahocorasick.Automaton:
    a = ahocorasick.Automaton()
    for key, payloads in entries.items():
        a.add_word(key, (len(key), tuple(payloads)))
    a.make_automaton()
    return a


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """[s, e) of the sentence around normalised [start, end); e includes the closing marker."""
    marks = _marks(text)
    i = bisect_left(marks, start)  # marks[i - 1] is the last marker before start
    j = bisect_left(marks, end)  # marks[j] is the first at or after end
    return (marks[i - 1] + 1 if i else 0), (marks[j] + 1 if j < len(marks) else len(text))


@lru_cache(maxsize=256)
def _marks(text: str) -> tuple[int, ...]:
    # Asked for again by each candidate of the same text (context vetoes, mentions, patterns)
    return tuple(m.start() for m in _MARK.finditer(text))
