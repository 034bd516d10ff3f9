"""Detection rates of the lexicon path on the case tables, against a bare word list of the seed's phrases.

    .venv/bin/python bench/lexicon_eval.py

The bare word list is what a team would write first: every phrase of the seed standard,
matched with `phrase in text`. "found" counts a flagged verdict (review or violation) for a
violation case; for innocent cases the rate shown is the share flagged (lower is better).
The tables were written without the lexicon in view, but they have been used while building
it: treat them as development data, not a held-out test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import load_cases  # noqa: E402

from detector import Detector  # noqa: E402

SEED_WORDS = (
    "老家伙 老东西 老废物 老没用 病鬼 病号 病秧子 残废 傻子 呆子 侏儒 瞎子 聋子 麻子 瘸子 拐子 肥 矮 "
    "你买得起吗 这是你这号人用的东西吗 我也不知道 从未听说过 拿零钱来 没有零钱找 喂 老头儿 土老冒儿 "
    "你吃饱了撑的呀 谁让你不看着点儿 问别人去 听见没有 长耳朵干嘛使的 我就这态度 有能耐你告去 随便告哪都不怕 "
    "有完没完 到底要不要 想好了没有 喊什么 等会儿 没看我正忙着吗 着什么急 我解决不了 愿意找谁就找谁去 不知道 "
    "刚才和你说过了 怎么还问 有意见 找经理去 到点了 你快点儿"
).split()


def main() -> None:
    d = Detector(classifier=False)
    rows = []
    for table in ("verbatim", "evasions", "asr", "innocent", "greetings"):
        cases = load_cases(f"{table}.json")
        for mode in ("qa", "realtime"):
            ours = sum(d.check(c["text"], mode=mode).flagged == c["flagged"] for c in cases)
            rows.append((table, mode, len(cases), ours))
        bare = sum(any(w in c["text"] for w in SEED_WORDS) == c["flagged"] for c in cases)
        rows.append((table, "bare list", len(cases), bare))
    print(f"{'table':10s} {'detector':10s} {'cases':>5s}  correct   (violation tables: found; innocent: not flagged)")
    for table, who, n, ok in rows:
        print(f"{table:10s} {who:10s} {n:5d}  {ok / n:7.1%}")
    print(json.dumps({"lexicon_version": d.lexicon_version}))


if __name__ == "__main__":
    main()
