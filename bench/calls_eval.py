"""Call-level check on the blind transcripts in bench/holdout/calls.jsonl.

    .venv/bin/python bench/calls_eval.py [--mode qa] [--no-classifier] [--calls bench/holdout/calls2.jsonl]

calls.jsonl (40 calls) and calls2.jsonl (40 more, written later by another helper who saw no
project file) are measurement only: nothing is trained or tuned on them. Every agent turn carries the writer's `label`; a violating turn is found when the call's report
lists that turn. Prints turn recall and precision, customer turns blamed, clean calls flagged,
and the same for a bare word list of the seed's phrases.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lexicon_eval import SEED_WORDS  # noqa: E402

from detector import Detector  # noqa: E402
from detector.conversation import role_of  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="qa")
    ap.add_argument("--no-classifier", dest="classifier", action="store_false")
    ap.add_argument("--model-dir", help="a tone model other than the bundled one (models/)")
    ap.add_argument("--calls", type=Path, default=HERE / "holdout" / "calls.jsonl")
    args = ap.parse_args()
    d = Detector(classifier=args.classifier, model_dir=args.model_dir)
    calls = [json.loads(line) for line in args.calls.read_text(encoding="utf-8").splitlines()]
    rows = {"jiyu": [0, 0, 0, 0, 0], "bare list": [0, 0, 0, 0, 0]}  # tp, fp, fn, customer blamed, clean calls flagged
    clean_calls = 0
    for call in calls:
        gold = {i for i, t in enumerate(call["turns"]) if role_of(t["speaker"]) == "agent" and t.get("label")}
        clean_calls += not gold
        report = d.check_conversation(call, mode=args.mode)
        found = {v.turn for v in report.violations}
        bare = {i for i, t in enumerate(call["turns"]) if role_of(t["speaker"]) == "agent" and any(w in t["text"] for w in SEED_WORDS)}
        for name, pred in (("jiyu", found), ("bare list", bare)):
            r = rows[name]
            r[0] += len(pred & gold)
            r[1] += len(pred - gold)
            r[2] += len(gold - pred)
            r[3] += sum(role_of(call["turns"][i]["speaker"]) != "agent" for i in pred)
            r[4] += (not gold) and bool(pred)
    print(f"{args.calls.name}: {len(calls)} calls ({clean_calls} clean); mode {args.mode}; classifier {'on' if args.classifier else 'off'}")
    for name, (tp, fp, fn, blamed, clean_flagged) in rows.items():
        print(f"{name:10s} violating agent turns found {tp / max(tp + fn, 1):6.1%}  precision {tp / max(tp + fp, 1):6.1%}"
              f"  customer turns blamed {blamed}  clean calls flagged {clean_flagged} of {clean_calls}")


if __name__ == "__main__":
    main()
