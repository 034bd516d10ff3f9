"""The labelled tone corpus (data/tone/): loading with validation, hashing, and the fixed split.

Lines live in `data/tone/batches/*.jsonl` (fields in data/tone/GUIDELINES.md). The split is
fixed in `data/tone/splits.tsv` (id, split). Near-duplicates (character 3-gram Jaccard ≥ 0.5)
are grouped first and a whole group goes to one split, so a test line never has a near-copy in
training. Ids not yet in the split file get a split from their group, deterministically.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from .lexicon import CATEGORIES

CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "tone"
FIELDS = {"id", "text", "labels", "industry", "style", "hard_negative", "kind", "source"}
SPLITS = ("train", "dev", "test")
NEAR_DUPLICATE = 0.5


class CorpusError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    labels: tuple[str, ...]
    industry: str
    style: str
    hard_negative: bool
    kind: str
    source: str
    file: str
    line: int


def batch_files(directory: Path = CORPUS_DIR) -> list[Path]:
    return sorted((directory / "batches").glob("*.jsonl"))


def load(directory: Path = CORPUS_DIR) -> list[Example]:
    """Every line of every batch; all problems at once, each with file:line."""
    rows, problems, seen = [], [], {}
    for path in batch_files(directory):
        read_lines(path, rows, problems, seen)
    if problems:
        raise CorpusError("\n".join(problems))
    return rows


def read_lines(path: Path, rows: list[Example], problems: list[str], seen: dict[str, str]) -> None:
    """The lines of one corpus-format file into `rows`; what is wrong into `problems` (file:line).
    `seen`: id -> where it was first read, shared across files (ids are unique corpus-wide)."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: invalid JSON: {e.msg}")
            continue
        if not isinstance(d, dict) or set(d) != FIELDS:
            got = set(d) if isinstance(d, dict) else type(d).__name__
            problems.append(f"{where}: fields must be exactly {sorted(FIELDS)}, got {got}")
            continue
        bad = [lab for lab in d["labels"] if lab not in CATEGORIES]
        if bad or not isinstance(d["text"], str) or not d["text"].strip():
            problems.append(f"{where}: bad labels {bad} or empty text")
            continue
        if d["id"] in seen:
            problems.append(f"{where}: duplicate id {d['id']!r} (first at {seen[d['id']]})")
            continue
        seen[d["id"]] = where
        rows.append(Example(d["id"], d["text"], tuple(d["labels"]), d["industry"], d["style"],
                            bool(d["hard_negative"]), d["kind"], d["source"], str(path), n))


def data_hash(directory: Path = CORPUS_DIR) -> str:
    h = hashlib.sha256()
    for path in [*batch_files(directory), directory / "splits.tsv"]:
        if path.exists():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _grams(text: str) -> set[str]:
    t = "".join(ch for ch in text if not ch.isspace())
    return {t[i : i + 3] for i in range(max(1, len(t) - 2))}


def near_duplicate_groups(rows: list[Example], threshold: float = NEAR_DUPLICATE) -> dict[str, str]:
    """id -> id of its group's representative (union-find over pairs with Jaccard ≥ threshold)."""
    grams = [_grams(r.text) for r in rows]
    postings: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(grams):
        for x in g:
            postings[x].append(i)
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, g in enumerate(grams):
        shared: Counter = Counter()
        for x in g:
            if len(postings[x]) <= 300:  # very common grams say nothing about near-duplication
                shared.update(j for j in postings[x] if j > i)
        for j, k in shared.items():
            if k / (len(g) + len(grams[j]) - k) >= threshold:
                parent[find(j)] = find(i)
    return {r.id: rows[find(i)].id for i, r in enumerate(rows)}


def _split_of(group: str) -> str:
    bucket = int(hashlib.sha256(group.encode()).hexdigest(), 16) % 20
    return "train" if bucket < 14 else "dev" if bucket < 17 else "test"


def read_splits(directory: Path = CORPUS_DIR) -> dict[str, str]:
    path = directory / "splits.tsv"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        rid, split = line.split("\t")
        out[rid] = split
    return out


def assign_splits(rows: list[Example], directory: Path = CORPUS_DIR, groups: dict[str, str] | None = None) -> dict[str, str]:
    """Keep every recorded split; give new ids their group's split (a recorded member's, else hashed)."""
    recorded = read_splits(directory)
    groups = groups or near_duplicate_groups(rows)
    by_group: dict[str, str] = {}
    for rid, g in groups.items():
        if rid in recorded:
            by_group.setdefault(g, recorded[rid])
    return {r.id: recorded.get(r.id) or by_group.get(groups[r.id]) or _split_of(groups[r.id]) for r in rows}


def write_splits(splits: dict[str, str], directory: Path = CORPUS_DIR) -> Path:
    path = directory / "splits.tsv"
    path.write_text("id\tsplit\n" + "".join(f"{rid}\t{s}\n" for rid, s in sorted(splits.items())), encoding="utf-8")
    return path


def leaks(rows: list[Example], splits: dict[str, str], groups: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Near-duplicate pairs that sit in different splits (should be none)."""
    groups = groups or near_duplicate_groups(rows)
    members: dict[str, set[str]] = defaultdict(set)
    for rid, g in groups.items():
        members[g].add(splits[rid])
    return [(g, ",".join(sorted(s))) for g, s in members.items() if len(s) > 1]
