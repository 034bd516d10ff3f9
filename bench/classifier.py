"""Fused-path throughput: lexicon + tone classifier, one at a time and in batches of 1,000.

    .venv/bin/python bench/classifier.py [--n 20000]

Same utterances as bench/matcher.py (real polite agent turns, one in ten with a lexicon
phrase inserted). Printed side by side, from one run: the lexicon path alone (the floor this
adds to), the fused path through `check_many` in batches of 1,000, the fused `check` one
text at a time (median and p99 latency), and jieba's share of the fused time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from matcher import utterances

from detector import Detector


def per_second(fn, items) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn(items)
    return len(items) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()

    lexicon_only = Detector(classifier=False)
    fused = Detector()
    phrases = sorted({f for r, _ in lexicon_only.lexicon.rules.values() for f in r.forms})
    texts = utterances(args.n, phrases)
    fused.check_many(texts[:2000])  # warm caches (fold table, jieba), as a server would be
    lexicon_only.check_many(texts[:2000])

    lex_rate = per_second(lexicon_only.check_many, texts)

    def batched(items):  # noqa: ANN001, ANN202
        for i in range(0, len(items), 1000):
            fused.check_many(items[i : i + 1000])

    fused_rate = per_second(batched, texts)
    lat = []
    for t in texts[:5000]:
        s = time.perf_counter()
        fused.check(t)
        lat.append(time.perf_counter() - s)
    lat.sort()
    words = fused.tone.featurizer.words
    from detector.normalise import fold

    folded = [fold(t) for t in texts]
    jieba_rate = per_second(lambda items: [words(x) for x in items], folded)

    print(f"utterances: {len(texts):,}; model {fused.model_version}, lexicon {fused.lexicon_version}")
    print(f"{'lexicon path alone (check_many)':38s} {lex_rate:10,.0f} utt/s")
    print(f"{'fused, check_many in batches of 1,000':38s} {fused_rate:10,.0f} utt/s   {fused_rate / lex_rate:.2f}x lexicon path")
    print(f"{'fused, check one at a time':38s} {len(lat) / sum(lat):10,.0f} utt/s   median {statistics.median(lat) * 1e3:.3f} ms, p99 {lat[int(len(lat) * 0.99)] * 1e3:.3f} ms")
    print(f"jieba alone: {jieba_rate:,.0f} utt/s = {fused_rate / jieba_rate:.0%} of the fused time")


if __name__ == "__main__":
    main()
