"""Shared helpers for the tests: case tables and the one case assertion."""

import json
from pathlib import Path

from detector import Verdict

CASES = Path(__file__).parent / "cases"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def load_cases(name: str) -> list[dict]:
    return json.loads((CASES / name).read_text(encoding="utf-8"))["cases"]


def case_id(case: dict) -> str:
    return case["text"][:24]


def case_holds(verdict: Verdict, case: dict) -> tuple[bool, str]:
    """The one shared assertion: does a verdict say what the case table expects?"""
    if not case["flagged"]:
        return (not verdict.flagged, f"flagged {[(e.text, e.rule_id) for e in verdict.evidence]}")
    if not verdict.flagged:
        return False, "not flagged"
    if case.get("category") and case["category"] not in verdict.labels:
        return False, f"labels {list(verdict.labels)}, expected {case['category']}"
    if case.get("evidence"):
        s = case["text"].index(case["evidence"])
        e = s + len(case["evidence"])
        if not any(ev.start < e and s < ev.end for ev in verdict.evidence):
            return False, f"evidence {[(ev.text, ev.start) for ev in verdict.evidence]} misses {case['evidence']!r}"
    return True, ""


def assert_case(verdict: Verdict, case: dict) -> None:
    ok, why = case_holds(verdict, case)
    assert ok, f"{case['text']!r}: {why} — case: {case.get('why', '')}"
