"""Recall per evasion transform, and what the same transforms do to innocent text.

    .venv/bin/python bench/adversarial.py [--every 4]

Every lexicon phrase and variant through every transform of tests/adversarial.py (spacing and
symbols, traditional, full-width, whole and partial pinyin, listed initials, one look-alike, one
split character, one homophone): the share found by the lexicon path. Then the allowlist phrases
and a fixed sample of real lines (kdconv, cped, tencent_chat, multiwoz_zh: every N-th line) through
the same transforms: how many the lexicon path flags. The script uses only Detector's public API,
so `PYTHONPATH=<a checkout of main> python bench/adversarial.py` gives main's figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import adversarial  # noqa: E402

from detector import Detector  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=4, help="real-text sample: every N-th line of each corpus")
    args = ap.parse_args()
    d = Detector(classifier=False)
    t = time.perf_counter()
    print(adversarial.format_table(adversarial.recall_table(d)))
    texts = adversarial.real_lines(args.every)
    phrases = [e.phrase for e, _ in d.lexicon.allow]
    print(f"\ninnocent text flagged by the lexicon path ({len(texts):,} real lines, {len(phrases)} allowlist phrases)")
    for name, (real, allowed) in adversarial.innocent_counts(d, texts, phrases).items():
        print(f"{name:18s} real lines {real:6d}   allowlist phrases {allowed:5d}")
    print(f"({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
