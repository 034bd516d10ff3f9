"""The pinyin surface: text as a string of toneless syllables, one character per syllable.

Each toneless syllable (zhang, bie, ...) gets one private-use character, so a phrase's pinyin is
a short string and the same Aho-Corasick machinery matches ASR homophones (问别任去 → wen bie
ren qu) and typed pinyin (wenbierenqu, "you wan mei wan"). Private-use characters are noise
to the normaliser, so they can never come from the input itself.

The character → syllable table is read once from pypinyin's dictionary (first reading per
character); pypinyin's phrase-aware conversion is not run per utterance. Lexicon phrases get
their spoken (phrase-aware) reading and their characters' first readings.

Importing pypinyin costs a quarter of a second (it loads its phrase dictionary), and matching
needs only each character's first syllable: that table is kept in jiyu's disk cache
(detector.diskcache), and pypinyin is imported only to build it or to read a lexicon's phrases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from . import diskcache
from .normalise import LazyTable

_PUA = 0xE000
_TONES = str.maketrans(
    "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ",
    "aaaaeeeeiiiioooouuuuvvvvvnnnm",
)
_LATIN_RUN = re.compile(r"[a-z]+")


def _toneless(reading: str) -> str:
    return reading.translate(_TONES).replace("ê", "e").replace("\u0304", "").replace("\u030c", "")


@dataclass(frozen=True, slots=True)
class PinyinText:
    text: str  # one character per syllable; other characters act as separators
    starts: tuple[int, ...] | None  # normalised start of each character; None: 1:1 with the input
    ends: tuple[int, ...] | None

    def norm_span(self, start: int, end: int) -> tuple[int, int]:
        if self.starts is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=1)
def _all_readings() -> dict[int, list[str]]:
    """code point -> its toneless readings, most common first (from pypinyin's dictionary)."""
    from pypinyin.pinyin_dict import pinyin_dict

    return {cp: list(dict.fromkeys(_toneless(r) for r in value.split(","))) for cp, value in pinyin_dict.items()}


def _first_syllables() -> tuple[dict[str, str], dict[int, str]]:
    """The syllable codes and code point -> its first reading's code: all that matching needs."""
    readings = _all_readings()
    code = {s: chr(_PUA + i) for i, s in enumerate(sorted({s for r in readings.values() for s in r}))}
    return code, {cp: code[r[0]] for cp, r in readings.items()}


class PinyinTable:
    def __init__(self) -> None:
        key = diskcache.digest(diskcache.code_version(), diskcache.library_stamp("pypinyin"))
        code, first = diskcache.cached("pinyin", key, _first_syllables)
        self.code = code
        self._readings: dict[int, list[str]] | None = None  # every reading: read when a lexicon is compiled
        # str.translate table: character -> its first reading's syllable character, filled as
        # characters are met (a few thousand in practice, not 42,000: cold, a small table is read faster)
        self.translate_table = LazyTable(lambda cp: first.get(cp) or chr(cp))  # no reading: itself
        self._max_syllable = max(map(len, code))

    def readings(self, ch: str) -> list[str]:
        if self._readings is None:
            self._readings = _all_readings()
        return self._readings.get(ord(ch), [])

    def phrase_keys(self, folded: str) -> list[str]:
        """The syllable strings a folded phrase is heard as ([] if a character has no reading).

        Two readings, never rarer ones: pypinyin's phrase-aware reading (how the phrase is
        said: 长耳朵 → zhang er duo) and the first reading of each character (what the text side
        produces for the phrase's own characters). Every combination of every reading would
        turn 不 (fu) or 喊 (jian) into false sound-alikes (复制到 ≈ 不知道).
        """
        return ["".join(self.code[s] for s in syllables) for syllables in self.phrase_syllables(folded)]

    def phrase_syllables(self, folded: str) -> list[tuple[str, ...]]:
        """The two readings of `phrase_keys`, as toneless syllables."""
        if not folded or not all(self.readings(c) for c in folded):
            return []
        from pypinyin import Style, lazy_pinyin

        spoken = tuple(_toneless(s) for s in lazy_pinyin(folded, style=Style.TONE))
        first = tuple(self.readings(c)[0] for c in folded)
        keep = [s for s in (spoken, first) if len(s) == len(folded) and all(x in self.code for x in s)]
        return list(dict.fromkeys(keep))

    def syllable_count(self, folded: str) -> int:
        return len(folded) if all(self.readings(c) for c in folded) else 0

    @lru_cache(maxsize=4096)  # noqa: B019 — one table per process (shared by every Detector), never freed
    def segment(self, run: str) -> tuple[tuple[str, int, int], ...]:
        """Split a Latin run into syllables: fewest letters left over, then fewest pieces.

        (code or leftover letter, start, end) in `run`. Dynamic programming rather than greedy,
        so gangcaiheni reads gang|cai|he|ni, not gang|cai|hen|i.
        """
        n = len(run)
        best: list[tuple[int, int, int] | None] = [None] * (n + 1)  # (leftover, pieces, -step)
        best[n] = (0, 0, 0)
        for i in range(n - 1, -1, -1):
            nxt = best[i + 1]
            options = [(nxt[0] + 1, nxt[1] + 1, -1)]
            for k in range(1, min(self._max_syllable, n - i) + 1):
                if run[i : i + k] in self.code:
                    after = best[i + k]
                    options.append((after[0], after[1] + 1, -k))  # ties: the longer syllable first
            best[i] = min(options)
        out, i = [], 0
        while i < n:
            k = -best[i][2]
            piece = run[i : i + k]
            out.append((self.code.get(piece, piece), i, i + k))
            i += k
        return tuple(out)

    def convert(self, norm: str) -> PinyinText:
        """The pinyin surface of normalised text."""
        py = norm.translate(self.translate_table)
        if not _LATIN_RUN.search(py):
            return PinyinText(py, None, None)
        chars, starts, ends = [], [], []
        pos = 0
        for m in _LATIN_RUN.finditer(py):
            for k in range(pos, m.start()):
                chars.append(py[k])
                starts.append(k)
                ends.append(k + 1)
            for code, s, e in self.segment(m.group()):
                chars.append(code)
                starts.append(m.start() + s)
                ends.append(m.start() + e)
            pos = m.end()
        for k in range(pos, len(py)):
            chars.append(py[k])
            starts.append(k)
            ends.append(k + 1)
        return PinyinText("".join(chars), tuple(starts), tuple(ends))
