"""Share flagged on real text written by others: what a QA lead's review queue would hold.

    .venv/bin/python bench/real_text.py            # the bundled model, every real corpus's held-out part
    .venv/bin/python bench/real_text.py --loco     # also leave-one-corpus-out: train without X, measure on X

Every line here is expected clean (the few judged rude when mined are left out; held-out lines
were never judged). Rows: the held-out part (data/real/*/heldout.jsonl, never trained or tuned
on) of each corpus; CrossWOZ's agent turns (evaluation only, never copied into data/); COLD's
test split (evaluation only: offensive lines found, safe lines flagged); and, for comparison,
the synthetic tone corpus's test split. `--loco` trains five models (about 30 s each), each
without one corpus's train AND dev parts, and measures that corpus's held-out part: how the
classifier behaves on text unlike anything it saw.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))

from detector import Detector, corpus, realtext  # noqa: E402
from detector.scorer import MODES  # noqa: E402


def shares(d: Detector, texts: list[str]) -> dict[str, tuple[float, float]]:
    """mode -> (share flagged, share flagged by the classifier alone)."""
    out = {}
    for mode in MODES:
        vs = d.check_many(texts, mode=mode)
        flagged = sum(v.flagged for v in vs)
        by_clf = sum(v.flagged and all(e.source == "classifier" for e in v.evidence) for v in vs)
        out[mode] = (flagged / len(texts), by_clf / len(texts))
    return out


def clean_heldout(name: str) -> list[str]:
    return [x.text for x in realtext.load("heldout", (name,)) if not x.labels]


def row(label: str, n: int, s: dict) -> str:
    return f"{label:34s}{n:7d}" + "".join(f"{s[m][0]:10.2%}{s[m][1]:10.2%}" for m in MODES)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loco", action="store_true", help="also train without each corpus and measure on it")
    args = ap.parse_args()
    d = Detector()
    print(f"model {d.model_version}, context model {d.context_version}, lexicon {d.lexicon_version}")
    header = "".join(f"{m[:8]:>10s}{'(clf)':>10s}" for m in MODES)
    print(f"share flagged; (clf): by the classifier alone\n{'text':34s}{'lines':>7s}{header}")
    for name in realtext.CORPORA:
        texts = clean_heldout(name)
        print(row(f"{name} (held-out part)", len(texts), shares(d, texts)))
    agent = SHARED / "crosswoz" / "agent_turns.jsonl"
    if agent.exists():
        texts = [json.loads(line)["text"] for line in agent.open(encoding="utf-8")]
        print(row("crosswoz agent turns (eval only)", len(texts), shares(d, texts)))
    splits = corpus.read_splits()
    test = [r for r in corpus.load() if splits.get(r.id) == "test"]
    for hard, name in ((False, "synthetic test split, polite"), (True, "synthetic test split, hard neg.")):
        clean = [r.text for r in test if not r.labels and r.hard_negative == hard]
        print(row(name, len(clean), shares(d, clean)))
    rude = [r.text for r in test if r.labels]
    found = {m: sum(v.flagged for v in d.check_many(rude, mode=m)) / len(rude) for m in MODES}
    print(f"{'synthetic test split, violations':34s}{len(rude):7d}" + "".join(f"{found[m]:10.2%}{'found':>10s}" for m in MODES))
    cold = SHARED / "cold" / "test.jsonl"
    if cold.exists():
        rows = [json.loads(line) for line in cold.open(encoding="utf-8")]
        for label, name in ((0, "COLD safe (eval only)"), (1, "COLD offensive, found (eval only)")):
            texts = [r["text"] for r in rows if r["label"] == label]
            print(row(name, len(texts), shares(d, texts)))
    if args.loco:
        from detector.train import train

        print("\nleave-one-corpus-out: trained without X's train and dev parts, measured on X's held-out part")
        print(f"{'held-out corpus X':34s}{'lines':>7s}{header}   (bundled model)")
        with tempfile.TemporaryDirectory() as tmp:
            for name in realtext.CORPORA:
                rest = tuple(c for c in realtext.CORPORA if c != name)
                train(Path(tmp) / name, log=lambda *_: None, real_corpora=rest)
                texts = clean_heldout(name)
                without = shares(Detector(model_dir=Path(tmp) / name), texts)
                full = shares(d, texts)
                print(row(name, len(texts), without) + "   " + " ".join(f"{full[m][0]:.2%}" for m in MODES), flush=True)


if __name__ == "__main__":
    main()
