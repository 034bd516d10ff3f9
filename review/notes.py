"""The lexicon's note for a rule id (why the phrase is a violation), for the item page. Read once
from the bundled packs through detector.lexicon; an unknown rule (another pack, the classifier)
simply has none."""

from __future__ import annotations

from functools import cache


@cache
def _notes() -> dict[str, str]:
    try:
        from detector.lexicon import Lexicon

        lex = Lexicon.load(strict=False)
    except Exception:  # noqa: BLE001 — a page without notes beats no page
        return {}
    return {rid: r.note for rid, (r, _) in [*lex.rules.items(), *lex.patterns.items()] if r.note}


def note(rule_id: str) -> str | None:
    if rule_id.startswith("tone-"):
        return "语气分类器判定 (the tone classifier, no lexicon rule)"
    return _notes().get(rule_id)
