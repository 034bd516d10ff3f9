"""Real polite agent text must pass: CrossWOZ system turns (Apache-2.0, read in place)."""

import json

import pytest
from helpers import SHARED

CROSSWOZ = SHARED / "corpora" / "crosswoz" / "agent_turns.jsonl"


@pytest.mark.skipif(not CROSSWOZ.exists(), reason=f"{CROSSWOZ} not present (the corpus lives outside the repo)")
def test_when_real_polite_agent_turns_scanned_then_at_most_0_3_percent_flagged(lexicon_detector):
    texts = [json.loads(line)["text"] for line in CROSSWOZ.read_text(encoding="utf-8").splitlines()]
    assert len(texts) == 8467
    flagged = [(t, [e.text for e in v.evidence]) for t, v in zip(texts, lexicon_detector.check_many(texts)) if v.flagged]
    assert len(flagged) / len(texts) <= 0.003, flagged
