"""Real dialogue written by others (data/real/): negatives for training, and honest measurement.

Each corpus of `../shared/corpora/` that may be trained on is copied into `data/real/<name>/`
with its LICENSE and README, split ONCE, by dialogue where it has dialogues, into
`train.jsonl` (60%), `dev.jsonl` (15%: thresholds are chosen on it) and `heldout.jsonl`
(25%: only ever measured). The split is a hash of the dialogue id, so re-importing gives the
same files. `crosswoz/agent_turns.jsonl` and `cold/` are evaluation only and never copied.

Every real line is a negative (`none`) unless `data/real/mined.jsonl` says otherwise: the
highest-scoring train and dev lines were judged against data/tone/GUIDELINES.md, as if an agent
had said them to a customer; a line judged rude carries its labels, an innocent one is marked
mined (a hard negative).

    python -m detector.realtext import ../shared/corpora     # (re)build data/real/
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

REAL_DIR = Path(__file__).resolve().parent.parent / "data" / "real"
PARTS = ("train", "dev", "heldout")
# Shared corpus file -> our name, and how to read the dialogue id from a line id.
CORPORA = {
    "crosswoz_user": ("crosswoz/user_turns.jsonl", lambda i: ":".join(i.split(":")[1:3])),   # crosswoz:test:2303:0
    "multiwoz_zh": ("multiwoz_zh/utterances.jsonl", lambda i: i.split(":")[2]),              # multiwoz_zh:human_val:PMUL0569:1
    "kdconv": ("kdconv/utterances.jsonl", lambda i: ":".join(i.split(":")[1:4])),             # kdconv:film:dev:0:0
    "cped": ("cped/utterances.jsonl", lambda i: i.split(":")[2].rsplit("_", 1)[0]),            # cped:valid:32_000_007 -> 32_000
    "tencent_chat": ("tencent_chat/utterances.jsonl", lambda i: i),                            # prompts, no dialogues
}
EVAL_ONLY = ("crosswoz/agent_turns.jsonl", "cold/")


def part_of(corpus: str, dialogue: str) -> str:
    bucket = int(hashlib.sha256(f"{corpus}\0{dialogue}".encode()).hexdigest(), 16) % 20
    return "train" if bucket < 12 else "dev" if bucket < 15 else "heldout"


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    text: str
    corpus: str
    labels: tuple[str, ...] = ()
    mined: bool = False  # judged by a person (or helper) after scoring high: a hard negative or a real positive


def load(part: str, corpora: tuple[str, ...] | None = None, directory: Path = REAL_DIR) -> list[Line]:
    """The lines of one part of the real corpora, with the judgements of mined.jsonl applied."""
    judged = mined(directory)
    out = []
    for name in corpora or tuple(CORPORA):
        path = directory / name / f"{part}.jsonl"
        for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            d = json.loads(raw)
            labels = judged.get(d["id"])
            out.append(Line(d["id"], d["text"], name, tuple(labels or ()), labels is not None))
    return out


def mined(directory: Path = REAL_DIR) -> dict[str, list[str]]:
    """id -> labels judged for lines mined from the real corpora ([] = judged innocent)."""
    path = directory / "mined.jsonl"
    if not path.exists():
        return {}
    out = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if raw.strip():
            d = json.loads(raw)
            if not isinstance(d.get("labels"), list):
                raise ValueError(f"{path}:{n}: needs a list field 'labels'")
            out[d["id"]] = d["labels"]
    return out


def data_hash(directory: Path = REAL_DIR) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.glob("*/*.jsonl")) + [directory / "mined.jsonl"]:
        if path.exists() and path.stem in (*PARTS, "mined"):
            h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def import_corpora(shared: Path, directory: Path = REAL_DIR) -> dict[str, dict[str, int]]:
    counts = {}
    for name, (rel, dialogue_of) in CORPORA.items():
        src = shared / rel
        dst = directory / name
        dst.mkdir(parents=True, exist_ok=True)
        for f in ("LICENSE", "README.md"):
            shutil.copyfile(src.parent / f, dst / f)
        parts = {p: [] for p in PARTS}
        for raw in src.read_text(encoding="utf-8").splitlines():
            d = json.loads(raw)
            parts[part_of(name, dialogue_of(d["id"]))].append(
                json.dumps({"id": d["id"], "text": d["text"], "role": d.get("role"), "source": d.get("source")}, ensure_ascii=False)
            )
        for p, lines in parts.items():
            (dst / f"{p}.jsonl").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        counts[name] = {p: len(v) for p, v in parts.items()}
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "import":
        sys.exit("usage: python -m detector.realtext import ../shared/corpora")
    print(json.dumps(import_corpora(Path(sys.argv[2])), indent=1))
