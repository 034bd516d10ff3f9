"""Masking phone and ID numbers in what the UI shows (`jiyu review serve --mask`), and anonymising
teaching examples. Every digit is replaced by one character, so evidence offsets still slice the
masked text at the same places."""

from __future__ import annotations

import re

# ASCII, full-width and Chinese digits (ASR writes 一三八 ... and 幺 for 1); runs may be broken by
# spaces or hyphens, as people read numbers out in groups.
_DIGIT = "0-9０-９零〇一二三四五六七八九幺两"
_RUN = re.compile(rf"[{_DIGIT}](?:[\s\-]?[{_DIGIT}Xx]){{6,}}")
_SHORT_RUN = re.compile(rf"[{_DIGIT}](?:[\s\-]?[{_DIGIT}Xx]){{3,}}")
_IS_DIGIT = re.compile(rf"[{_DIGIT}Xx]")


def _star(run: str, keep_last: int) -> str:
    digits = [i for i, ch in enumerate(run) if _IS_DIGIT.match(ch)]
    hide = set(digits[:-keep_last] if keep_last else digits)
    return "".join("*" if i in hide else ch for i, ch in enumerate(run))


def mask_numbers(text: str) -> str:
    """Phone, ID and card numbers (7 or more digits) hidden but their last 4: 138****5678."""
    return _RUN.sub(lambda m: _star(m.group(), 4), text)


def anonymise(text: str) -> str:
    """For the teaching set: every run of 4 or more digits hidden entirely (work numbers, order
    numbers, the last four of an ID)."""
    return _SHORT_RUN.sub(lambda m: _star(m.group(), 0), text)
