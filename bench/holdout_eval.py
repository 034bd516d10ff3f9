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
    ap.add_argument("--model-dir", help="a tone model other than the bundled one (models/)")
    args = ap.parse_args()
    d = Detector(classifier=args.classifier, model_dir=args.model_dir)
    print(f"{'table':11s} {'cases':>5s} {'jiyu':>7s} {'bare list':>9s}   (violation tables: found; others: flagged, lower is better)")
    tables = {t: json.loads((HERE / "holdout" / f"{t}.json").read_text(encoding="utf-8"))["cases"]
              for t in ("verbatim", "evasions", "asr", "innocent", "polite")}
    para = json.loads((HERE / "holdout" / "paraphrase.json").read_text(encoding="utf-8"))["cases"]
    tables["paraphrase"] = [c for c in para if c["flagged"]]
    tables["para-polite"] = [c for c in para if not c["flagged"] and not c["hard"]]
    tables["para-hard"] = [c for c in para if not c["flagged"] and c["hard"]]
    for table, cases in tables.items():
        verdicts = [d.check(c["text"], mode=args.mode) for c in cases]
        flagged = [v.flagged for v in verdicts]
        bare = [any(w in c["text"] for w in SEED_WORDS) for c in cases]
        line = f"{table:11s} {len(cases):5d} {sum(flagged) / len(cases):7.1%} {sum(bare) / len(cases):9.1%}"
        if cases[0]["flagged"]:
            found = [(c, v) for c, v in zip(cases, verdicts) if v.flagged]
            right = sum(v.labels[0] == c["category"] for c, v in found)
            line += f"   first label right: {right / max(len(found), 1):.1%} of found"
        print(line)
        if args.show_misses:
            for c, f in zip(cases, flagged):
                if f != c["flagged"] and table != "paraphrase":
                    ok, why = case_holds(d.check(c["text"], mode=args.mode), c)
                    print(f"    {c['text']!r}: {why}")


if __name__ == "__main__":
    main()
