"""`jiyu lexicon check`: everything that can be wrong with a lexicon pack, with file:line.

Schema problems (unknown fields or categories, bad severities, duplicate ids) come from the
loader; this module adds what needs the compiled matcher: phrases that fold to nothing, two
rules with the same folded phrase, rules that never match their own phrase, initials that are
not the initials of any of the rule's forms, pattern examples that do not (or counterexamples
that do) fire, allowlist phrases that suppress nothing, and spellings that fold to fewer than two
characters or to their own standard form.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .lexicon import Lexicon, LexiconError, Problem, Where
from .matcher import MARKERS, Matcher, phrase_key
from .normalise import fold, normalise


def check_lexicon(extra: Sequence[str | Path] = (), *, include_default: bool = True) -> tuple[Lexicon | None, list[Problem]]:
    """Load and check packs; (None, problems) when a pack folder cannot be read at all."""
    try:
        lexicon = Lexicon.load(list(extra), include_default=include_default, strict=False)
    except LexiconError as e:
        return None, e.problems
    return lexicon, lexicon.problems + compiled_problems(lexicon, Matcher(lexicon))


def compiled_problems(lexicon: Lexicon, matcher: Matcher) -> list[Problem]:
    """What only the compiled matcher can tell: a few milliseconds, so every load runs it."""
    problems = (
        _phrase_problems(lexicon, matcher)
        + _pattern_problems(lexicon, matcher)
        + _allow_problems(lexicon, matcher)
        + _spelling_problems(lexicon)
    )
    return sorted(problems, key=lambda p: (str(p.where.file), p.where.line, p.message))


def _ids_found(matcher: Matcher, text: str) -> set[str]:
    return {matcher.rules[h.rule].rule.id for h in matcher.find(normalise(text))}


def _phrase_problems(lexicon: Lexicon, matcher: Matcher) -> list[Problem]:
    problems = []
    owner: dict[str, str] = {}
    for rule_id, (rule, where) in lexicon.rules.items():
        for form in rule.forms:
            key = phrase_key(form)
            if not key:
                problems.append(Problem(where, f"{rule_id}: {form!r} normalises to nothing"))
                continue
            if any(m in key for m in MARKERS):
                problems.append(Problem(where, f"{rule_id}: {form!r} spans a sentence end; split it into two rules"))
            if key in owner:
                problems.append(Problem(where, f"{rule_id}: {form!r} normalises to {key!r}, already a phrase of {owner[key]}"))
                continue
            owner[key] = rule_id
            found = _ids_found(matcher, form)
            if rule_id not in found:
                why = f"; {', '.join(sorted(found))} wins" if found else " (an allowlist phrase or a veto removes it)"
                problems.append(Problem(where, f"{rule_id}: {form!r} does not match itself{why}"))
        spoken = {"".join(s[0] for s in syl) for f in rule.forms for syl in matcher.pinyin.phrase_syllables(phrase_key(f))} if rule.initials else set()
        for initials in rule.initials:
            if initials not in spoken:
                problems.append(Problem(where, f"{rule_id}: initials {initials!r} are not the pinyin initials of any of its forms"))
        for v in (*rule.unless_before, *rule.unless_after):
            if not fold(v):
                problems.append(Problem(where, f"{rule_id}: context veto {v!r} normalises to nothing"))
    return problems


def _pattern_problems(lexicon: Lexicon, matcher: Matcher) -> list[Problem]:
    problems = []
    for rule_id, (rule, where) in lexicon.patterns.items():
        if not phrase_key(rule.anchor):
            problems.append(Problem(where, f"{rule_id}: anchor {rule.anchor!r} normalises to nothing"))
            continue
        for ex in rule.examples:
            if rule_id not in _ids_found(matcher, ex):
                problems.append(Problem(where, f"{rule_id}: example {ex!r} does not trigger the pattern"))
        for ex in rule.counterexamples:
            if rule_id in _ids_found(matcher, ex):
                problems.append(Problem(where, f"{rule_id}: counterexample {ex!r} triggers the pattern"))
    return problems


def _allow_problems(lexicon: Lexicon, matcher: Matcher) -> list[Problem]:
    problems = []
    seen: dict[str, Where] = {}
    for entry, where in lexicon.allow:
        key = phrase_key(entry.phrase)
        if not key:
            problems.append(Problem(where, f"allow {entry.phrase!r} normalises to nothing"))
        elif key in seen:
            problems.append(Problem(where, f"allow {entry.phrase!r} duplicates the allowlist phrase at {seen[key]}"))
        elif not matcher.literals(normalise(entry.phrase)):
            problems.append(Problem(where, f"allow {entry.phrase!r} suppresses nothing: no rule, variant or anchor occurs in it"))
        seen.setdefault(key, where)
    return problems


def _spelling_problems(lexicon: Lexicon) -> list[Problem]:
    problems = []
    for entry, where in lexicon.spellings.values():
        key, standard = phrase_key(entry.spelling), phrase_key(entry.standard)
        if len(key) < 2:
            problems.append(Problem(where, f"spelling {entry.spelling!r} normalises to {key!r}: a spelling needs two or more characters"))
        elif not standard:
            problems.append(Problem(where, f"spelling {entry.spelling!r}: standard {entry.standard!r} normalises to nothing"))
        elif key == standard:
            problems.append(Problem(where, f"spelling {entry.spelling!r} normalises to its own standard form"))
        elif any(m in key + standard for m in MARKERS):
            problems.append(Problem(where, f"spelling {entry.spelling!r} or its standard form spans a sentence end"))
    return problems
