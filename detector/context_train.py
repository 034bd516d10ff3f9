"""Fitting the context model (detector.context) from data/context/ and the mined real lines.

Examples are lexicon hits, found by the matcher itself (explicit frames applied, context model
off), so the model learns exactly the cases that reach it:
- data/context/ctx-*.jsonl: hand-written lines, each naming the rule, the phrase and whom it is
  aimed at (`innocent` false only when aimed at the customer); split once by id into train 70 /
  dev 15 / test 15;
- data/real/mined.jsonl: real lines judged when mined; a hit of a listed rule in a line judged
  rude is aimed at the listener, in a line judged innocent it is not. They follow the real
  corpora's parts (train → train, dev → dev); held-out real lines are never used.
Logistic regression (class-balanced). The threshold is the lowest p(innocent) on a 0.01 grid
from 0.5 that drops at most MAX_LOST of the dev hits aimed at the customer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import realtext
from .context import CONTEXT_FILE, ContextModel, features

CONTEXT_DIR = Path(__file__).resolve().parent.parent / "data" / "context"
MAX_LOST = 0.03
C = 1.0


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    part: str
    rule_id: str
    innocent: bool
    feats: tuple[str, ...]


def _ctx_part(rid: str) -> str:
    bucket = int(hashlib.sha256(rid.encode()).hexdigest(), 16) % 20
    return "train" if bucket < 14 else "dev" if bucket < 17 else "test"


def data_hash(directory: Path = CONTEXT_DIR) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.glob("ctx-*.jsonl")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def examples(detector, directory: Path = CONTEXT_DIR) -> tuple[list[Example], list[str]]:  # noqa: ANN001
    """(examples, problems): every annotated line whose rule the matcher fires on the phrase."""
    out, problems, rules = [], [], set()
    for path in sorted(directory.glob("ctx-*.jsonl")):
        for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            d = json.loads(raw)
            rules.add(d["rule_id"])
            at = d["text"].find(d["phrase"])
            hits = _hits(detector, d["text"], {d["rule_id"]}, (at, at + len(d["phrase"])))
            if not hits:
                problems.append(f"{path.name}:{n}: rule {d['rule_id']} does not fire on {d['phrase']!r}")
            out += [Example(d["id"], _ctx_part(d["id"]), d["rule_id"], bool(d["innocent"]), f) for _, f in hits]
    dialogue = {name: of for name, (_, of) in realtext.CORPORA.items()}
    mined_path = realtext.REAL_DIR / "mined.jsonl"
    for raw in mined_path.read_text(encoding="utf-8").splitlines():
        d = json.loads(raw)
        part = realtext.part_of(d["corpus"], dialogue[d["corpus"]](d["id"]))
        out += [Example(d["id"], part, rule_id, not d["labels"], f) for rule_id, f in _hits(detector, d["text"], rules, None)]
    return out, problems


def _hits(detector, text: str, rules: set[str], around: tuple[int, int] | None) -> list[tuple[str, tuple[str, ...]]]:  # noqa: ANN001
    """(rule id, features) of the hits of `rules` in text (overlapping `around`, original coordinates)."""
    found = detector._lexical(text)
    out = []
    for h in found.hits:
        rule_id = detector.matcher.rules[h.rule].rule.id
        s, e = found.norm.span(h.start, h.end)
        if rule_id in rules and (around is None or (s < around[1] and around[0] < e)):
            out.append((rule_id, tuple(features(found.norm.text, h.start, h.end, rule_id))))
    return out


def train_context(path: Path = CONTEXT_FILE, log=print) -> dict:  # noqa: ANN001
    import sklearn
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    from .detector import Detector

    d = Detector(classifier=False, context=False)
    rows, problems = examples(d)
    for p in problems:
        log(f"context: skipped {p}")
    part = {p: [r for r in rows if r.part == p] for p in ("train", "dev", "test", "heldout")}
    vec = DictVectorizer()
    X = vec.fit_transform([dict.fromkeys(r.feats, 1.0) for r in part["train"]])
    y = np.array([r.innocent for r in part["train"]])
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(X, y)

    def proba(rs: list[Example]) -> np.ndarray:
        return clf.predict_proba(vec.transform([dict.fromkeys(r.feats, 1.0) for r in rs]))[:, 1] if rs else np.zeros(0)

    dev_p, dev_y = proba(part["dev"]), np.array([r.innocent for r in part["dev"]])
    threshold = 0.99
    for t in np.round(np.arange(0.5, 1.0, 0.01), 2):
        if ((dev_p >= t) & ~dev_y).sum() <= MAX_LOST * max((~dev_y).sum(), 1):
            threshold = float(t)
            break
    metrics = {}
    for name in ("dev", "test"):
        p, yy = proba(part[name]), np.array([r.innocent for r in part[name]], dtype=bool)
        dropped = p >= threshold
        metrics[name] = {"hits": len(yy), "innocent": int(yy.sum()),
                         "innocent_dropped": round(float((dropped & yy).sum() / max(yy.sum(), 1)), 4),
                         "customer_kept": round(float((~dropped & ~yy).sum() / max((~yy).sum(), 1)), 4)}
    rules = sorted({r.rule_id for r in rows if r.part == "train"})
    vocab = [None] * len(vec.vocabulary_)
    for f, i in vec.vocabulary_.items():
        vocab[i] = f
    version = ContextModel.save(
        path, rules, threshold, vocab, [round(float(w), 6) for w in clf.coef_.ravel()], round(float(clf.intercept_[0]), 6),
        sklearn_version=sklearn.__version__, data_sha256=data_hash(), mined_sha256=realtext.data_hash(),
        counts={k: len(v) for k, v in part.items() if v}, metrics=metrics, recipe={"C": C, "max_lost_on_dev": MAX_LOST},
    )
    log(f"context model {version}: {len(rules)} rules, threshold {threshold}, "
        f"test: {metrics['test']['innocent_dropped']:.1%} of innocent hits dropped, {metrics['test']['customer_kept']:.1%} of the customer's kept")
    return {"version": version, "threshold": threshold, "metrics": metrics}
