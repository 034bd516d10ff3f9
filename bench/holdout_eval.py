"""Rates on the blind set in bench/holdout/ (written without seeing the lexicon or the tests).

    .venv/bin/python bench/holdout_eval.py [--show-misses]

Not used to build rules: measured, reported, and misses read only to understand them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import case_holds  # noqa: E402
from lexicon_eval import SEED_WORDS  # noqa: E402

from detector import Detector  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--mode", default="qa")
    ap.add_argument("--no-classifier", dest="classifier", action="store_false")
    args = ap.parse_args()
    d = Detector(classifier=args.classifier)
    print(f"{'table':10s} {'cases':>5s} {'jiyu':>7s} {'bare list':>9s}   (violation tables: found; others: flagged, lower is better)")
    for table in ("verbatim", "evasions", "asr", "innocent", "polite"):
        cases = json.loads((HERE / "holdout" / f"{table}.json").read_text(encoding="utf-8"))["cases"]
        flagged = [d.check(c["text"], mode=args.mode).flagged for c in cases]
        bare = [any(w in c["text"] for w in SEED_WORDS) for c in cases]
        print(f"{table:10s} {len(cases):5d} {sum(flagged) / len(cases):7.1%} {sum(bare) / len(cases):9.1%}")
        if args.show_misses:
            for c, f in zip(cases, flagged):
                if f != c["flagged"]:
                    ok, why = case_holds(d.check(c["text"], mode=args.mode), c)
                    print(f"    {c['text']!r}: {why}")


if __name__ == "__main__":
    main()
