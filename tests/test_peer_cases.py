"""Peer case table (tests/cases/peers.json).

The public test suites of two sensitive-word matchers, houbb/sensitive-word (Java) and
ToolGood.Words (C#), both Apache-2.0, check behaviours every such matcher needs: full-width
and fancy letters, traditional characters, repeated characters, noise inside a word, number
styles, allowlist overlap, Latin word boundaries, case folding, overlapping matches. The table
checks the same behaviours with jiyu's own phrases; each case's `why` names the behaviour and
the peer test it copies.

A case may also carry:
- "xfail": why it fails today (a real gap). It runs under pytest.mark.xfail(strict=True), so
  the day the gap is closed the test fails loudly until the mark is removed from the table.
- "lexicon": phrase rules (a pack's `entries:`) layered over the default pack for that case
  only, for a behaviour no default phrase exercises (a phrase of one repeated character).
"""

import json

import pytest
import yaml
from helpers import assert_case, case_id, load_cases

from detector import Detector

CASES = load_cases("peers.json")
PEERS = ("sensitive-word", "ToolGood.Words")


def _param(case: dict):
    marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
    return pytest.param(case, id=case_id(case), marks=marks)


@pytest.fixture(scope="module")
def detector_for(lexicon_detector, tmp_path_factory):
    """The lexicon path for a case: the shared detector, or one with the case's extra rules."""
    built: dict[str, Detector] = {}

    def get(entries: list[dict] | None) -> Detector:
        if not entries:
            return lexicon_detector
        key = json.dumps(entries, sort_keys=True, ensure_ascii=False)
        if key not in built:
            pack = tmp_path_factory.mktemp("peer-pack")
            (pack / "extra.yaml").write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True), encoding="utf-8")
            built[key] = Detector([pack], classifier=False)
        return built[key]

    return get


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_when_peer_case_checked_then_verdict_matches(detector_for, case):
    assert_case(detector_for(case.get("lexicon")).check(case["text"]), case)


def test_when_peer_table_loaded_then_every_case_names_its_peer_test():
    assert 40 <= len(CASES) <= 80
    assert any(c["flagged"] for c in CASES) and any(not c["flagged"] for c in CASES)
    unnamed = [c["text"] for c in CASES if not any(p in c.get("why", "") for p in PEERS)]
    assert not unnamed, f"cases whose why names no peer test: {unnamed}"
    ids = [case_id(c) for c in CASES]
    assert len(ids) == len(set(ids)), "two cases share a test id"
