"""`jiyu train --extra FILE`: more training lines in the tone-corpus format (such as the
review-corpus.jsonl that `jiyu review export` writes), for the train split only.

Evaluation data is sacred. An extra line is refused, with a message, when its text is that of an
evaluation line — a dev or test line of the tone corpus, or a dev or held-out line of a real
corpus — compared folded (width, case, 繁简, spaces and punctuation aside), or when it is a near
copy of a tone dev or test line (the corpus's own rule, corpus.NEAR_DUPLICATE: a test line never
has a near copy in training).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import corpus, realtext
from .normalise import fold

EVAL_REAL_PARTS = ("dev", "heldout")


def text_key(text: str) -> str:
    """What "the same text" means here: the folded characters without spaces and punctuation."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


@dataclass
class Extra:
    rows: list[corpus.Example] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "file:line: why", one per refused line
    files: list[dict] = field(default_factory=list)  # {"path", "sha256", "lines", "refused"} for the manifest


class EvalGuard:
    """Knows every evaluation line; says which one an extra line copies, if any."""

    def __init__(self, eval_rows: list[corpus.Example], splits: dict[str, str],
                 real_corpora: tuple[str, ...] = tuple(realtext.CORPORA)) -> None:
        self.same: dict[str, str] = {}
        for r in eval_rows:
            self.same.setdefault(text_key(r.text), f"tone {splits[r.id]} line {r.id}")
        for part in EVAL_REAL_PARTS:
            for x in realtext.load(part, real_corpora):
                self.same.setdefault(text_key(x.text), f"{x.corpus} {part} line {x.id}")
        self.rows = eval_rows
        self.splits = splits
        self.grams = [corpus._grams(r.text) for r in eval_rows]
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, g in enumerate(self.grams):
            for x in g:
                self.postings[x].append(i)

    def copies(self, text: str) -> str | None:
        """The evaluation line `text` is the same as or a near copy of, described; None if none."""
        hit = self.same.get(text_key(text))
        if hit:
            return f"the same text as {hit}"
        g = corpus._grams(text)
        shared: dict[int, int] = defaultdict(int)
        for x in g:
            for j in self.postings.get(x, ()):
                shared[j] += 1
        for j, k in shared.items():
            if k / (len(g) + len(self.grams[j]) - k) >= corpus.NEAR_DUPLICATE:
                r = self.rows[j]
                return f"a near copy of tone {self.splits[r.id]} line {r.id} ({r.text!r})"
        return None


def load_extra(paths: list[Path], guard: EvalGuard, known_ids: set[str]) -> Extra:
    """The lines of `paths`, minus those copying evaluation data. Malformed lines or ids that the
    corpus already uses raise corpus.CorpusError (all problems at once), as corpus.load does."""
    from .tone import sha256

    out, problems = Extra(), []
    seen = {rid: "data/tone" for rid in known_ids}
    for path in map(Path, paths):
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        rows: list[corpus.Example] = []
        corpus.read_lines(path, rows, problems, seen)
        kept = 0
        for r in rows:
            why = guard.copies(r.text)
            if why:
                out.refused.append(f"{path}:{r.line}: refused, {why}: evaluation data is never trained on")
                continue
            out.rows.append(r)
            kept += 1
        out.files.append({"path": str(path), "sha256": sha256(path), "lines": kept, "refused": len(rows) - kept})
    if problems:
        raise corpus.CorpusError("\n".join(problems))
    return out
