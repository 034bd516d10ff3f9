"""Real dialogue written by others (data/real/): split once, never leaking, and kept to its budgets."""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from detector import realtext
from detector.train import REAL_BUDGET, THRESHOLD_RULES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.fixture(scope="module")
def parts():
    return {p: realtext.load(p) for p in realtext.PARTS}


def test_when_real_corpora_split_then_a_dialogue_never_spans_parts(parts):
    seen: dict[tuple[str, str], str] = {}
    for part, lines in parts.items():
        for x in lines:
            key = (x.corpus, realtext.CORPORA[x.corpus][1](x.id))
            assert seen.setdefault(key, part) == part, key
            assert realtext.part_of(x.corpus, key[1]) == part  # the recorded files follow the one rule
    counts = {p: len(v) for p, v in parts.items()}
    total = sum(counts.values())
    assert 0.55 < counts["train"] / total < 0.65 and 0.2 < counts["heldout"] / total < 0.3, counts


def test_when_data_real_listed_then_evaluation_only_text_is_absent_and_licences_are_present(parts):
    ids = {x.id for lines in parts.values() for x in lines}
    assert not any(i.startswith(("crosswoz-", "cold-")) for i in ids)  # agent turns and COLD stay outside
    for name in realtext.CORPORA:
        folder = realtext.REAL_DIR / name
        assert (folder / "LICENSE").stat().st_size > 1000 and (folder / "README.md").exists()
    if (SHARED / "crosswoz" / "agent_turns.jsonl").exists():
        agent_texts = {json.loads(line)["text"] for line in (SHARED / "crosswoz" / "agent_turns.jsonl").open(encoding="utf-8")}
        user = [x for x in parts["train"] if x.corpus == "crosswoz_user"]
        assert sum(x.text in agent_texts for x in user) < 0.01 * len(user)  # user turns, not the agents' words


def test_when_lines_were_mined_then_they_come_from_train_or_dev_never_heldout(parts):
    mined = realtext.mined()
    assert len(mined) >= 1000
    heldout = {x.id for x in parts["heldout"]}
    assert not heldout & set(mined)
    where = {x.id for p in ("train", "dev") for x in parts[p]}
    assert set(mined) <= where
    assert sum(bool(v) for v in mined.values()) > 100  # real rude lines found among the top-scoring ones


def test_when_model_judges_real_dev_then_each_category_stays_within_its_budget(tone, parts):
    """The thresholds were chosen so; a retrained model or a changed rule that breaks it fails here."""
    from detector.normalise import fold
    from detector.tone import is_short, short_bar

    lines = [x for x in parts["dev"] if not x.labels]
    probs = np.array([tone.utterance_proba(x.text) for x in lines])
    short = np.array([is_short(fold(x.text)) for x in lines])
    by_corpus = defaultdict(list)
    for i, x in enumerate(lines):
        by_corpus[x.corpus].append(i)
    for mode, levels in THRESHOLD_RULES.items():
        for level, rule in levels.items():
            for k, cat in enumerate(tone.categories):
                bar = np.where(short, short_bar(tone.thresholds[mode])[cat][level], tone.thresholds[mode][cat][level])
                for corpus, idx in by_corpus.items():
                    flagged = int((probs[idx, k] >= bar[idx]).sum())
                    assert flagged <= max(rule["real_fp"] * REAL_BUDGET[corpus] * len(idx), 1), (mode, level, cat, corpus)
