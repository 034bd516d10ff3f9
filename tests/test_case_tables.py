"""Case tables (tests/cases/*.json): each case has a human explanation in its `why` field.

`rules.json` is exact: every case must hold. The other tables were written as held-out style
checks (without looking at the lexicon); for them the test enforces the issue's targets as
rates and lists every miss, so a regression in any one of them is visible.
"""

import pytest
from helpers import assert_case, case_holds, case_id, load_cases

RULES = load_cases("rules.json")


@pytest.mark.parametrize("case", RULES, ids=case_id)
def test_when_rule_case_then_verdict_matches(lexicon_detector, case):
    assert_case(lexicon_detector.check(case["text"]), case)


# table -> the share of its cases that must hold (DESIGN targets; innocent: at most 8% flagged)
TARGETS = {"verbatim.json": 0.95, "evasions.json": 0.85, "asr.json": 0.75, "innocent.json": 0.92, "greetings.json": 0.90}


@pytest.mark.parametrize("table", sorted(TARGETS))
def test_when_case_table_scanned_then_target_rate_met(lexicon_detector, table):
    cases = load_cases(table)
    misses = []
    for case in cases:
        ok, why = case_holds(lexicon_detector.check(case["text"]), case)
        if not ok:
            misses.append(f"{case['text']!r}: {why}")
    rate = 1 - len(misses) / len(cases)
    assert rate >= TARGETS[table], f"{table}: {rate:.1%} < {TARGETS[table]:.0%}; misses:\n" + "\n".join(misses)
