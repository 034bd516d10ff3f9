"""Adversarial generator test: every lexicon phrase × every evasion transform (tests/adversarial.py).

Recall per transform class is printed (`pytest -s tests/test_adversarial.py`, or
`python bench/adversarial.py`) and held to a floor set from what the lexicon path achieves.
The same transforms applied to the allowlist phrases and to a fixed sample of real lines must
not flag more than main's code did.
"""

import pytest
from adversarial import CORPORA, REAL, format_table, innocent_counts, real_lines, recall_table

from detector import Detector

# Floors, set from what this branch achieves (measured: 100 / 100 / 100 / 83.8 / 94.5 / 96.3 /
# 90.8 / 71.9 / 100 %). Whole pinyin misses phrases marked `pinyin: false` (homophonous with
# innocent speech) and two-syllable phrases (shazi is as likely 沙子); homophone swaps miss those
# too, and swaps whose first dictionary reading differs from the phrase's. Look-alikes and splits
# miss disguises of a phrase's first character that leave no stored tail (detector/matcher.py,
# _add_disguises) and those the plausibility check drops (烤东西 is not 老东西).
FLOORS = {
    "spacing/symbols": 0.99,
    "traditional": 0.99,
    "full-width": 0.99,
    "whole pinyin": 0.80,
    "partial pinyin": 0.92,
    "near-form swap": 0.94,
    "split character": 0.88,
    "homophone swap": 0.70,
    "listed initials": 1.0,
}

# Measured on main's code (commit 5b18a01, the lexicon path alone) with this same generator:
# `PYTHONPATH=<checkout of main> python bench/adversarial.py` (real lines: every 4th line of each
# corpus in REAL, 16,522 lines; 122 allowlist phrases). Per transform: (real lines passed as
# written but flagged once disguised, disguised allowlist phrases flagged).
BEFORE = {
    "spacing/symbols": (2, 0),
    "traditional": (0, 0),
    "full-width": (2, 0),
    "partial pinyin": (6, 191),
    "near-form swap": (4, 325),
    "split character": (12, 123),
    "homophone swap": (6, 254),
}
# Real lines as written: main flagged 147. One line more is flagged here, 我肿么知道, because 肿么
# is now read as 怎么 and main flags 我怎么知道 (impa-010): main flags 148 of the same lines with
# their listed spellings written in the standard form, and that is the bound.
BEFORE_AS_WRITTEN = 148


@pytest.fixture(scope="module")
def table(lexicon_detector):
    table = recall_table(lexicon_detector)
    print("\n" + format_table(table, FLOORS))
    return table


@pytest.mark.parametrize("transform", sorted(FLOORS))
def test_when_every_phrase_is_disguised_then_recall_per_transform_meets_its_floor(table, transform):
    found, total = table[transform]
    assert total > 0
    assert found / total >= FLOORS[transform], f"{transform}: {found}/{total}"


@pytest.mark.skipif(not all((CORPORA / n / "utterances.jsonl").exists() for n in REAL), reason="shared corpora not present")
def test_when_real_lines_and_allowlist_phrases_are_disguised_then_no_more_flags_than_main():
    # the matcher against main's matcher: the context model (which came later, and judges exact
    # text better than disguised text) is off on both sides of the comparison
    lexicon_detector = Detector(classifier=False, context=False)
    texts = real_lines(4)
    assert len(texts) == 16522
    phrases = [e.phrase for e, _ in lexicon_detector.lexicon.allow]
    counts = innocent_counts(lexicon_detector, texts, phrases)
    print("\n" + "\n".join(f"{name:18s} real {real:4d} (main {BEFORE.get(name, (BEFORE_AS_WRITTEN,))[0]:4d})  allowlist {allowed:4d}" for name, (real, allowed) in counts.items()))
    assert counts["none"] == (counts["none"][0], 0) and counts["none"][0] <= BEFORE_AS_WRITTEN
    for name, (real, allowed) in BEFORE.items():
        assert counts[name][0] <= real, f"{name}: {counts[name][0]} real lines flagged once disguised (main: {real})"
        assert counts[name][1] <= allowed, f"{name}: {counts[name][1]} disguised allowlist phrases flagged (main: {allowed})"
