"""Score sheet arithmetic: what a call loses for each violating agent turn."""

import pytest

from detector.scoresheet import ScoreSheet, ScoreSheetError
from detector.verdict import Evidence, Verdict

SHEET = ScoreSheet(
    name="t", start=100, pass_mark=85, cap_per_call=30, review_deduction=1,
    deductions={"disrespectful": {1: 3, 2: 10, 3: 20}, "impatient": {1: 2, 2: 5, 3: 10}},
    fatal=("disrespectful",), fatal_severity=3,
)


def _v(decision, *found):
    ev = tuple(Evidence(0, 1, "x", c, "lexicon", "r", s, 0.9) for c, s in found)
    return Verdict(decision, 0.9, tuple(c for c, _ in found), ev)


@pytest.mark.parametrize(
    "verdict,points,fatal",
    [
        (_v("violation", ("impatient", 2)), 5, False),
        (_v("violation", ("impatient", 2), ("impatient", 3)), 10, False),  # the top severity per category
        (_v("violation", ("impatient", 3), ("disrespectful", 2)), 10, False),  # the most expensive category
        (_v("violation", ("disrespectful", 3)), 20, True),
        (_v("review", ("disrespectful", 3)), 1, False),  # reviews cost review_deduction, never fatal
        (_v("violation", ("unfriendly", 3)), 0, False),  # a category the sheet does not price
    ],
)
def test_when_turn_scored_then_deduction_and_fatality_follow_the_sheet(verdict, points, fatal):
    assert SHEET.turn_deduction(verdict) == points
    assert SHEET.is_fatal(verdict) == fatal


def test_when_call_has_many_violations_then_deductions_are_capped(lexicon_detector):
    call = {"conversation_id": "x", "turns": [{"speaker": "agent", "text": "问别人去"}] * 10}
    report = lexicon_detector.check_conversation(call, score_sheet=SHEET)
    assert report.deductions == 30 and report.score == 70 and not report.passed
    assert [v.deduction for v in report.violations] == [5.0] * 10


def test_when_default_sheet_loaded_then_it_prices_every_category():
    sheet = ScoreSheet.load()
    assert set(sheet.deductions) == {"disrespectful", "unfriendly", "impatient", "impolite"}
    assert all(set(v) == {1, 2, 3} for v in sheet.deductions.values())


def test_when_sheet_is_invalid_then_error_names_file_and_field(tmp_path):
    bad = tmp_path / "sheet.yaml"
    bad.write_text("deductions: {rude: {1: 2}}\n", encoding="utf-8")
    with pytest.raises(ScoreSheetError, match=r"sheet.yaml: deductions.rude"):
        ScoreSheet.load(bad)
