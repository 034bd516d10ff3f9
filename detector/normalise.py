"""Text folding with a map back to the original string.

Lexicon phrases and checked text go through the same `normalise`, so a phrase matches
whatever spelling folds to the same form. Every normalised character remembers the index of
the original character it came from; spans found in the normalised text are mapped back
with `Normalised.span` and always slice the ORIGINAL input.

Folding, per character (cached, so each distinct character is analysed once per process):
NFKC (全角→半角, ①→1, fancy Latin → ASCII), casefold, 繁→简 (OpenCC), 壹贰叁→一二三.
Spaces, punctuation, symbols, emoji, zero-width, private-use and combining characters and the
ASR fillers 嗯 啊 呃 唔 (and 那个) are skipped; sentence ends are kept as 。 ! ? so that no
phrase matches across them. A run of one non-ASCII character counts once (有有完没完), noise between
its repeats included, unless a gap between two of them is longer than a phrase may have (MAX_GAP).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import opencc

# Sentence ends, after NFKC. They stay in the normalised text as one of three markers.
SENTENCE_ENDS = {"。": "。", "!": "!", "?": "?", ";": "。", "\n": "。", "\r": "。", "\u2029": "。"}
MARKERS = frozenset("。!?")
# ASR / spoken fillers: never part of a phrase, so they are skipped like spaces.
FILLERS = frozenset("嗯啊呃唔")
FILLER_PAIRS = {"那": "个"}  # 那个 as a hesitation; both characters are skipped
# Financial numerals are unambiguous; 两 is not folded (两个 is ordinary speech).
NUMERALS = str.maketrans("壹贰叁肆伍陆柒捌玖拾貳參陸", "一二三四五六七八九十二三六")
# Traditional forms that are also valid simplified characters, so OpenCC keeps them when
# converting one character at a time (忙著 → 忙着 needs the phrase); folded here.
TRADITIONAL_EXTRA = str.maketrans("著乾瞭", "着干了")
NOISE_CATEGORIES = frozenset("ZPSCM")
# A phrase may have noise between its characters, but no single gap longer than this.
MAX_GAP = 6

_t2s = opencc.OpenCC("t2s")


def _fold_char(ch: str) -> str:
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if c in SENTENCE_ENDS:
            out.append(SENTENCE_ENDS[c])
            continue
        if c in FILLERS or unicodedata.category(c)[0] in NOISE_CATEGORIES:
            continue
        c = c.translate(NUMERALS)
        if ord(c) > 0x2E7F:  # CJK and beyond: the only place 繁→简 applies
            s = _t2s.convert(c)
            c = (s if len(s) == 1 else c).translate(TRADITIONAL_EXTRA)
        out.append(c)
    return "".join(out)


class LazyTable(dict):
    """key -> fill(key), computed on first sight of each key and kept (a dict: str.translate and
    plain lookups read it in C)."""

    def __init__(self, fill: Callable) -> None:
        super().__init__()
        self._fill = fill

    def __missing__(self, key):  # noqa: ANN001, ANN204
        value = self[key] = self._fill(key)
        return value


FOLD = LazyTable(_fold_char)  # char -> folded string ('' for noise)

# For `normalise`'s fast path: ordinal -> the character's fold when it is one character, SKIPPED
# when it folds to nothing, SPECIAL when it folds to several (handled by the full walk).
SKIPPED, SPECIAL = "\x01", "\x02"
# A run of one non-ASCII character (or mark) counts once; a Latin letter three or more times in a
# row counts once too (SBBB is sb, as ToolGood's asssert is assert), while a double stays (book).
_COLLAPSIBLE_RUN = re.compile(r"([^\x00-\x7f]|[!?])\1|([a-z])\2\2")


def _one_char(o: int) -> str:
    f = FOLD[chr(o)]
    return SKIPPED if not f else f if len(f) == 1 else SPECIAL


ONE_CHAR = LazyTable(_one_char)


@dataclass(frozen=True, slots=True)
class Normalised:
    original: str
    text: str  # the folded form that matchers see
    offsets: tuple[int, ...]  # offsets[i]: index in `original` of text[i]
    # ends[i]: original end of text[i]'s run when repeats of it were collapsed into it (行行行 → 行);
    # None when nothing was collapsed (then ends[i] == offsets[i] + 1)
    ends: tuple[int, ...] | None = None

    def end(self, i: int) -> int:
        """Original end (exclusive) of normalised character i, its collapsed repeats included."""
        return self.ends[i] if self.ends is not None else self.offsets[i] + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) covering normalised [start, end)."""
        return self.offsets[start], self.end(end - 1)

    def repeats(self, i: int) -> int:
        """How many times normalised character i stood in the original run it was collapsed from."""
        if self.ends is None:
            return 1
        return sum(FOLD[c] == self.text[i] for c in self.original[self.offsets[i] : self.ends[i]])

    def max_gap(self, start: int, end: int) -> int:
        """Longest run of skipped original characters strictly inside normalised [start, end).

        A collapsed repeat is not skipped: 有有有有有有有有完没完 has no gap."""
        offs = self.offsets
        # the usual case: consecutive offsets (no character skipped; none folded into several)
        if offs[end - 1] - offs[start] == end - 1 - start and len(set(offs[start:end])) == end - start:
            return 0
        return max((offs[k + 1] - max(self.end(k), offs[k] + 1) for k in range(start, end - 1)), default=0)


def _collapses(c: str) -> bool:
    return ord(c) > 127 or c in MARKERS


def normalise(text: str) -> Normalised:
    """`text` folded, with the original index of every folded character."""
    # Usually every character folds to at most one, with no 那个 and no run to collapse: then one
    # str.translate (in C) does the work, and the walk below is the rule for everything else.
    t = text.translate(ONE_CHAR)
    if SPECIAL not in t and "那个" not in t:
        folded = t.replace(SKIPPED, "")
        if not _COLLAPSIBLE_RUN.search(folded):
            kept: list[int] = []
            start, skip = 0, t.find(SKIPPED)
            while skip >= 0:  # a handful of skipped characters (punctuation, spaces) per text
                kept += range(start, skip)
                start, skip = skip + 1, t.find(SKIPPED, skip + 1)
            kept += range(start, len(t))
            return Normalised(text, folded, tuple(kept))
    return _walk(text)


def _walk(text: str) -> Normalised:
    fold = FOLD
    chars: list[str] = []
    offsets: list[int] = []
    ends: list[int] = []
    collapsed = False
    prev = ""
    run = 0  # how many times prev stands in a row in `chars` (for Latin letters)
    skip_next = ""
    for i, ch in enumerate(text):
        f = fold[ch]
        if not f:
            continue
        if skip_next:
            expected, skip_next = skip_next, ""
            if f == expected:
                continue
        if f in FILLER_PAIRS and i + 1 < len(text) and fold[text[i + 1]] == FILLER_PAIRS[f]:
            skip_next = FILLER_PAIRS[f]
            continue
        for c in f:
            # a repeat continues its run across noise, but not across a gap no phrase may have
            again = c == prev and i - ends[-1] <= MAX_GAP
            if again and _collapses(c):
                ends[-1], collapsed = i + 1, True
                continue
            if again and "a" <= c <= "z" and run >= 2:  # a third Latin letter in a row: one letter
                if run == 2:
                    chars.pop(), offsets.pop(), ends.pop()
                run += 1
                ends[-1], collapsed = i + 1, True
                continue
            run = run + 1 if again else 1
            chars.append(c)
            offsets.append(i)
            ends.append(i + 1)
            prev = c
    return Normalised(text, "".join(chars), tuple(offsets), tuple(ends) if collapsed else None)


def fold(text: str) -> str:
    """The normalised form alone (for lexicon phrases and context words)."""
    return normalise(text).text
