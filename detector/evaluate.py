"""`jiyu eval DATA.jsonl`: the lexicon alone, the classifier alone and the fused verdict, side by side.

DATA is JSONL with `text` and one of: `labels` (a list of categories; [] means none),
`label` (0/1, binary offensive/safe, as in COLD), or nothing with `--assume-none` (a corpus
of polite text such as CrossWOZ). A true `hard_negative` marks a none line that a naive
detector would flag; its flagged rate is reported apart from ordinary none lines. All three systems are computed from ONE evidence pass per
line: the fused evidence, filtered by source, is what each system alone would have found.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .lexicon import CATEGORIES
from .scorer import decide

SYSTEMS = ("lexicon", "classifier", "fused")
LEXICON_SOURCES = {"lexicon", "pattern", "pinyin"}


@dataclass(slots=True)
class Item:
    text: str
    labels: tuple[str, ...] | None  # None: binary data, see `binary`
    binary: int | None
    hard: bool = False  # a none line that a naive detector would flag (innocent overlap, quote, ...)


def read_data(path: Path, assume_none: bool = False) -> tuple[list[Item], list[str]]:
    items, errors = [], []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{path}:{n}: invalid JSON: {e.msg}")
            continue
        if not isinstance(d, dict) or not isinstance(d.get("text"), str):
            errors.append(f"{path}:{n}: needs a string field 'text'")
            continue
        if isinstance(d.get("labels"), list) and all(x in CATEGORIES for x in d["labels"]):
            items.append(Item(d["text"], tuple(d["labels"]), None, bool(d.get("hard_negative"))))
        elif d.get("label") in (0, 1):
            items.append(Item(d["text"], None, int(d["label"])))
        elif assume_none and "labels" not in d and "label" not in d:
            items.append(Item(d["text"], (), None))
        else:
            errors.append(f"{path}:{n}: needs 'labels' (list of {', '.join(CATEGORIES)}) or 'label' (0/1), or --assume-none")
    return items, errors


def verdicts(detector, items: list[Item], mode: str) -> dict[str, list]:  # noqa: ANN001
    out = {s: [] for s in SYSTEMS}
    for it in items:
        ev = detector.evidence(it.text, mode)
        out["fused"].append(decide(ev, mode))
        out["lexicon"].append(decide([e for e in ev if e.source in LEXICON_SOURCES], mode))
        out["classifier"].append(decide([e for e in ev if e.source == "classifier"], mode))
    return out


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def metrics(items: list[Item], vs: list) -> dict:  # noqa: ANN001
    """Per-category P/R/F1 (a category counts as predicted when it is in the labels), confusion
    of the first gold label against the first predicted label, false-positive rate on none."""
    m: dict = {}
    labelled = [(it, v) for it, v in zip(items, vs) if it.labels is not None]
    if labelled:
        for c in CATEGORIES:
            tp = sum(c in it.labels and c in v.labels for it, v in labelled)
            fp = sum(c not in it.labels and c in v.labels for it, v in labelled)
            fn = sum(c in it.labels and c not in v.labels for it, v in labelled)
            m[c] = dict(zip(("precision", "recall", "f1"), _prf(tp, fp, fn)), support=sum(c in it.labels for it, _ in labelled))
        none = [v for it, v in labelled if not it.labels and not it.hard]
        hard = [v for it, v in labelled if not it.labels and it.hard]
        pos = [(it, v) for it, v in labelled if it.labels]
        m["none_flagged_rate"] = sum(v.flagged for v in none) / len(none) if none else None
        m["hard_negative_flagged_rate"] = sum(v.flagged for v in hard) / len(hard) if hard else None
        m["violations_found_rate"] = sum(v.flagged for _, v in pos) / len(pos) if pos else None
        found = [(it, v) for it, v in pos if v.flagged]
        m["first_label_right"] = sum(v.labels[0] == it.labels[0] for it, v in found) / len(found) if found else None
        m["macro_f1"] = sum(m[c]["f1"] for c in CATEGORIES) / len(CATEGORIES) if pos else None
        m["confusion"] = Counter(
            (it.labels[0] if it.labels else "none", v.labels[0] if v.labels else "none") for it, v in labelled
        )
    binary = [(it, v) for it, v in zip(items, vs) if it.binary is not None]
    if binary:
        tp = sum(it.binary and v.flagged for it, v in binary)
        tn = sum(not it.binary and not v.flagged for it, v in binary)
        fp = sum(not it.binary and v.flagged for it, v in binary)
        fn = sum(it.binary and not v.flagged for it, v in binary)
        f1_pos = _prf(tp, fp, fn)[2]
        f1_neg = _prf(tn, fn, fp)[2]
        m["binary"] = {"accuracy": (tp + tn) / len(binary), "macro_f1": (f1_pos + f1_neg) / 2,
                       "flagged_rate_safe": fp / max(tn + fp, 1), "found_rate_offensive": tp / max(tp + fn, 1)}
    return m


def report(results: dict[str, dict], n: int) -> str:
    lines = [f"{n} lines"]
    first = next(iter(results.values()))
    if "binary" in first:
        lines.append(f"{'binary':24s}" + "".join(f"{s:>12s}" for s in results))
        for k in ("accuracy", "macro_f1", "flagged_rate_safe", "found_rate_offensive"):
            lines.append(f"  {k:22s}" + "".join(f"{results[s]['binary'][k]:12.3f}" for s in results))
    if "none_flagged_rate" in first:
        lines.append(f"{'per category P / R / F1':28s}" + "".join(f"{s:>16s}" for s in results))
        for c in CATEGORIES:
            if first[c]["support"] or any(results[s][c]["precision"] for s in results):
                cells = "".join(
                    f"{results[s][c]['precision']:6.2f}{results[s][c]['recall']:5.2f}{results[s][c]['f1']:5.2f}" for s in results
                )
                lines.append(f"  {c:14s} n={first[c]['support']:<10d}{cells}")
        for k in ("macro_f1", "violations_found_rate", "first_label_right", "none_flagged_rate", "hard_negative_flagged_rate"):
            vals = [results[s][k] for s in results]
            lines.append(f"  {k:26s}" + "".join(f"{v:16.3f}" if v is not None else f"{'-':>16s}" for v in vals))
        for s in results:
            lines.append(f"confusion ({s}; rows gold first label, columns predicted first label)")
            cats = ("none", *CATEGORIES)
            lines.append(" " * 16 + "".join(f"{c[:12]:>13s}" for c in cats))
            for g in cats:
                lines.append(f"  {g:14s}" + "".join(f"{results[s]['confusion'].get((g, p), 0):13d}" for p in cats))
    return "\n".join(lines)


def context_effect(with_context, without_context, items: list[Item], mode: str) -> dict[str, Counter]:  # noqa: ANN001
    """Per rule, the hits the context model dropped (lost) or that appear only with it (gained),
    split by the line's gold label: on a `none` line a lost hit was a false alarm removed, on a
    violation line it may be a miss."""
    out: dict[str, Counter] = {}
    for it in items:
        a = {(e.rule_id, e.start, e.end) for e in with_context.evidence(it.text, mode) if e.source in LEXICON_SOURCES}
        b = {(e.rule_id, e.start, e.end) for e in without_context.evidence(it.text, mode) if e.source in LEXICON_SOURCES}
        gold = "none" if (it.labels == () or it.binary == 0) else "violation"
        for change, hits in (("lost", b - a), ("gained", a - b)):
            for rule, _, _ in hits:
                out.setdefault(rule, Counter())[f"{change}_on_{gold}"] += 1
    return out


def context_report(effect: dict[str, Counter]) -> str:
    if not effect:
        return "context model: no lexicon hit changed"
    lines = ["context model, lexicon hits per rule   lost on none   lost on violation   gained"]
    for rule, c in sorted(effect.items(), key=lambda kv: -sum(kv[1].values())):
        gained = c["gained_on_none"] + c["gained_on_violation"]
        lines.append(f"  {rule:34s}{c['lost_on_none']:12d}{c['lost_on_violation']:20d}{gained:9d}")
    return "\n".join(lines)
