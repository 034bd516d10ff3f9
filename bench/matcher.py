"""Lexicon-path throughput: `Detector.check_many` against raw pyahocorasick and a naive loop.

    .venv/bin/python bench/matcher.py [--n 100000]

Utterances: real polite agent turns from ../shared/corpora/crosswoz (if present, else the
bundled examples), one in ten with a lexicon phrase inserted, some disguised (spaces, traditional,
full-width). The floor is raw pyahocorasick over the same folded phrases on the raw text (no
normalisation, no verdicts); the naive baseline is `phrase in text` over every phrase. All three
run in this process, one after the other, so their ratios are comparable on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CROSSWOZ = ROOT.parent / "shared" / "corpora" / "crosswoz" / "agent_turns.jsonl"


def utterances(n: int, phrases: list[str]) -> list[str]:
    src = CROSSWOZ if CROSSWOZ.exists() else ROOT / "examples" / "utterances.jsonl"
    base = [json.loads(line)["text"] for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(7)
    out = []
    for i in range(n):
        text = base[i % len(base)]
        if i % 10 == 0:
            p = rng.choice(phrases)
            style = rng.randrange(3)
            p = " ".join(p) if style == 1 else ("".join(chr(ord(c) + 0xFEE0) if c.isascii() else c for c in p) if style == 2 else p)
            k = rng.randrange(len(text) + 1)
            text = text[:k] + p + text[k:]
        out.append(text)
    return out


def rate(fn, items) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn(items)
    return len(items) / (time.perf_counter() - t)


def startup() -> float:
    code = "import time; t=time.perf_counter(); from detector import Detector; Detector(classifier=False); print(time.perf_counter()-t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) for _ in range(3)]
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()

    import ahocorasick

    from detector import Detector

    d = Detector(classifier=False)
    phrases = sorted({f for r, _ in d.lexicon.rules.values() for f in r.forms})
    texts = utterances(args.n, phrases)

    raw = ahocorasick.Automaton()
    for p in phrases:
        raw.add_word(p, p)
    raw.make_automaton()

    def floor(items):  # noqa: ANN001, ANN202
        return [list(raw.iter(t)) for t in items]

    def naive(items):  # noqa: ANN001, ANN202
        return [[p for p in phrases if p in t] for t in items]

    d.check_many(texts[:2000])  # warm the fold cache, as a long-running scan would be
    jiyu = rate(d.check_many, texts)
    ac = rate(floor, texts)
    nv = rate(naive, texts[: max(1, args.n // 20)])
    flagged = sum(v.flagged for v in d.check_many(texts[:10_000]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"utterances: {len(texts):,} (mean {sum(map(len, texts)) / len(texts):.1f} chars), phrases: {len(phrases)}")
    print(f"{'jiyu check_many (lexicon + pinyin)':40s} {jiyu:12,.0f} utt/s   1.00x")
    print(f"{'raw pyahocorasick, no normalisation':40s} {ac:12,.0f} utt/s   {ac / jiyu:.2f}x jiyu (the floor)")
    print(f"{'naive `phrase in text` loop':40s} {nv:12,.0f} utt/s   {nv / jiyu:.3f}x jiyu")
    print(f"flagged in the first 10,000: {flagged}")
    print(f"start-up (import + build, best of 3): {startup():.2f} s")
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
