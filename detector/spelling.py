"""Internet and dialect spellings (肿么 = 怎么, 木有 = 没有, 酱紫 = 这样子), folded before matching.

The table comes from the lexicon packs (`spellings:`, see lexicons/README.md). Only spellings of
two or more characters are listed: a single character (酱, 表, 啥) is too often itself.

The fold is a second view of the normalised text, made only when the surface automaton saw a
listed spelling in it (the spellings are keys of that automaton): most texts never pay for it.
The normalised text itself is left alone, so the tone classifier and the spans see what they
always saw; each character of the view remembers the normalised span it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpelledText:
    text: str  # the normalised text with every listed spelling replaced by its standard form
    starts: tuple[int, ...]  # normalised [starts[i], ends[i]) that text[i] stands for
    ends: tuple[int, ...]
    changed: tuple[bool, ...]  # text[i] comes from a replaced spelling

    def norm_span(self, start: int, end: int) -> tuple[int, int]:
        return self.starts[start], self.ends[end - 1]

    def touches_change(self, start: int, end: int) -> bool:
        return any(self.changed[start:end])


class Spellings:
    def __init__(self, table: dict[str, str]) -> None:
        """`table`: folded spelling -> folded standard form."""
        self.table = table
        # longest first, so 表酱紫 wins over 酱紫
        self._regex = re.compile("|".join(map(re.escape, sorted(table, key=len, reverse=True)))) if table else None

    def view(self, text: str) -> SpelledText | None:
        """`text` (normalised) with its spellings folded; None if it has none."""
        if self._regex is None:
            return None
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        changed: list[bool] = []
        pos = 0
        for m in self._regex.finditer(text):
            for k in range(pos, m.start()):
                chars.append(text[k])
                starts.append(k)
                ends.append(k + 1)
                changed.append(False)
            standard = self.table[m.group()]
            chars.append(standard)
            starts += [m.start()] * len(standard)
            ends += [m.end()] * len(standard)
            changed += [True] * len(standard)
            pos = m.end()
        if not pos:
            return None
        for k in range(pos, len(text)):
            chars.append(text[k])
            starts.append(k)
            ends.append(k + 1)
            changed.append(False)
        return SpelledText("".join(chars), tuple(starts), tuple(ends), tuple(changed))
