"""Whom a forbidden phrase is aimed at: the context model for lexicon rules with innocent senses.

老东西 said of a machine, 神经病 in 神经病学门诊, a self-deprecating 我这老糊涂, 瞎子 of a third
party in a story, 不知道 in 不知道这部电影上映了没有: the phrase is there, the insult is not. For
the rules listed in the model (the ambiguous ones, learned from data/context/ and the mined
real lines; unambiguous insults are never listed), each hit is judged from the characters
around it in its sentence — a few dozen sparse features, one logistic score. A hit judged
innocent (p ≥ the model's threshold) is dropped like an allowlisted one, in every mode, and its
words are hidden from the tone classifier. The explicit frames of the lexicon (vetoes,
allowlist, mentions) still come first.

The model is one JSON file (models/context.json): vocabulary, weights, threshold, the rules it
may judge, and a sha256 of all that, checked at load. Inference is dictionary lookups and one
exp; training (detector.context_train) is where scikit-learn is used.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .normalise import MARKERS
from .resources import bundled

CONTEXT_FILE = bundled("models") / "context.json"
FORMAT = 1
WINDOW = 8  # characters each side, within the sentence


class ContextModelError(RuntimeError):
    pass


def features(text: str, start: int, end: int, rule_id: str) -> list[str]:
    """Features of the hit text[start:end) of `rule_id` in NORMALISED text."""
    s0 = start
    while s0 > 0 and text[s0 - 1] not in MARKERS:
        s0 -= 1
    e0 = end
    while e0 < len(text) and text[e0] not in MARKERS:
        e0 += 1
    # 您 and 你 alike: whether the phrase is aimed at the listener, not how politely
    left = text[max(s0, start - WINDOW) : start].replace("您", "你")
    right = text[end : min(e0, end + WINDOW)].replace("您", "你")
    outside = (text[s0:start] + "|" + text[end:e0]).replace("您", "你")
    out = [f"rule:{rule_id}", f"La:{left[-1:] or '^'}", f"Ra:{right[:1] or '$'}", f"La2:{left[-2:]}", f"Ra2:{right[:2]}"]
    out += [f"L1:{c}" for c in left] + [f"R1:{c}" for c in right]
    out += [f"L2:{left[i:i + 2]}" for i in range(len(left) - 1)] + [f"R2:{right[i:i + 2]}" for i in range(len(right) - 1)]
    for cue in ("你", "我们", "我", "他", "她", "这台", "这个", "的"):
        if cue in outside:
            out.append(f"S:{cue}")
    return out


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@dataclass(slots=True)
class ContextModel:
    version: str
    rules: frozenset[str]
    threshold: float
    weights: dict[str, float]
    intercept: float
    meta: dict

    @classmethod
    def load(cls, path: Path = CONTEXT_FILE) -> ContextModel:
        path = Path(path)
        if not path.exists():
            raise ContextModelError(f"{path}: no context model here; rebuild it with `jiyu train`")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ContextModelError(f"{path}: context model format {doc.get('format')!r}, this jiyu reads {FORMAT}; rebuild it with `jiyu train`")
        payload = {k: doc[k] for k in ("rules", "threshold", "vocab", "coef", "intercept")}
        if _digest(payload) != doc.get("sha256"):
            raise ContextModelError(f"{path}: contents do not match its sha256; rebuild it with `jiyu train`")
        return cls(doc["sha256"][:12], frozenset(doc["rules"]), doc["threshold"], dict(zip(doc["vocab"], doc["coef"])),
                   doc["intercept"], {k: v for k, v in doc.items() if k not in payload})

    @staticmethod
    def save(path: Path, rules: list[str], threshold: float, vocab: list[str], coef: list[float], intercept: float, **meta) -> str:
        payload = {"rules": sorted(rules), "threshold": threshold, "vocab": vocab, "coef": coef, "intercept": intercept}
        doc = {"format": FORMAT, "sha256": _digest(payload), **meta, **payload}
        Path(path).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return doc["sha256"][:12]

    def p_innocent(self, text: str, start: int, end: int, rule_id: str) -> float:
        z = self.intercept + sum(self.weights.get(f, 0.0) for f in features(text, start, end, rule_id))
        return 1.0 / (1.0 + math.exp(-z))

    def innocent(self, text: str, start: int, end: int, rule_id: str) -> bool:
        return rule_id in self.rules and self.p_innocent(text, start, end, rule_id) >= self.threshold
