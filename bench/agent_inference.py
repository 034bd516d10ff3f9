"""How often jiyu names the right agent when speaker labels are stripped (detector/speakers.py).

Each dialogue with known roles has its speakers renamed SPEAKER_00, SPEAKER_01, ... in order of
first appearance (as diarisation writes them); the inference then names the agent, or abstains.
Reports per source: right, wrong (the customer judged as the agent: the costly error) and abstained
(the call becomes a bad record asking for --agent-speakers).

    python bench/agent_inference.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detector.conversation import role_of  # noqa: E402
from detector.speakers import KNOWN_ROLES, infer_agent  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpora"


def calls(path: Path) -> list[list[dict]]:
    return [json.loads(line)["turns"] for line in path.open(encoding="utf-8") if line.strip()]


def multiwoz(path: Path) -> list[list[dict]]:
    dialogues = defaultdict(list)
    for line in path.open(encoding="utf-8"):
        r = json.loads(line)
        dialogues[r["id"].rsplit(":", 1)[0]].append({"speaker": r["role"], "text": r["text"]})
    return list(dialogues.values())


def measure(dialogues: list[list[dict]]) -> dict:
    right = wrong = abstained = 0
    for turns in dialogues:
        names = {}
        for t in turns:
            names.setdefault(t["speaker"], f"SPEAKER_{len(names):02d}")
        agent = next((names[s] for s in names if role_of(s) == "agent"), None)
        if agent is None or not all(role_of(s) in KNOWN_ROLES for s in names):
            continue
        renamed = [{**t, "speaker": names[t["speaker"]]} for t in turns]
        guess = infer_agent(renamed, set(names.values())).speaker
        right += guess == agent
        wrong += guess is not None and guess != agent
        abstained += guess is None
    n = right + wrong + abstained
    return {"dialogues": n, "right": right, "wrong": wrong, "abstained": abstained,
            "right_pct": round(100 * right / n, 1) if n else None, "wrong_pct": round(100 * wrong / n, 2) if n else None}


def main() -> None:
    sources = {
        "holdout calls (phone, ASR style)": lambda: calls(ROOT / "bench/holdout/calls.jsonl") + calls(ROOT / "bench/holdout/calls2.jsonl"),
        "examples/conversations.jsonl": lambda: calls(ROOT / "examples/conversations.jsonl"),
    }
    if (SHARED / "multiwoz_zh/utterances.jsonl").exists():
        sources["multiwoz_zh (hotel/train desk chat)"] = lambda: multiwoz(SHARED / "multiwoz_zh/utterances.jsonl")
    print(f"{'source':40} {'dialogues':>9} {'right':>7} {'wrong':>7} {'abstained':>9}")
    for name, load in sources.items():
        m = measure(load())
        print(f"{name:40} {m['dialogues']:>9} {m['right']:>7} {m['wrong']:>7} {m['abstained']:>9}"
              f"   ({m['right_pct']}% right, {m['wrong_pct']}% wrong)")


if __name__ == "__main__":
    main()
