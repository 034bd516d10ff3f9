"""`jiyu eval --false-alarms FILE...`: what jiyu would flag in traffic the user knows is clean.

The command a QA lead runs on a day of their own clean replies before trusting the tool: the
share flagged in each mode, by source (lexicon, pattern, pinyin, classifier) and by rule, and
the highest-scoring lines with their evidence, so each false alarm can be read and fixed (an
allowlist entry, a context veto, a line for the training data).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .scorer import MODES

TOP = 30


@dataclass(slots=True)
class ModeReport:
    mode: str
    lines: int = 0
    flagged: int = 0
    violations: int = 0
    by_source: Counter = field(default_factory=Counter)  # lines with kept evidence of the source
    by_rule: Counter = field(default_factory=Counter)
    top: list = field(default_factory=list)  # (score, text, verdict), highest first

    def to_dict(self) -> dict:
        share = (lambda n: round(n / self.lines, 6)) if self.lines else (lambda n: 0.0)
        return {
            "mode": self.mode, "lines": self.lines, "flagged": self.flagged, "flagged_share": share(self.flagged),
            "violations": self.violations,
            "by_source": {s: {"lines": n, "share": share(n)} for s, n in self.by_source.most_common()},
            "by_rule": {r: {"lines": n, "share": share(n)} for r, n in self.by_rule.most_common()},
            "top": [{"text": t, **v.to_dict()} for _, t, v in self.top],
        }


def measure(detector, texts: list[str], modes=tuple(MODES), top: int = TOP) -> list[ModeReport]:  # noqa: ANN001
    out = []
    for mode in modes:
        rep = ModeReport(mode, lines=len(texts))
        flagged = []
        for text, v in zip(texts, detector.check_many(texts, mode=mode)):
            if not v.flagged:
                continue
            rep.flagged += 1
            rep.violations += v.decision == "violation"
            rep.by_source.update({e.source for e in v.evidence})
            rep.by_rule.update({e.rule_id for e in v.evidence})
            flagged.append((v.score, text, v))
        flagged.sort(key=lambda x: -x[0])
        rep.top = flagged[:top]
        out.append(rep)
    return out


def render(reports: list[ModeReport], rules: int = 15) -> str:
    lines = []
    for rep in reports:
        pct = (lambda n: f"{n / rep.lines:.2%}") if rep.lines else (lambda n: "-")
        lines.append(f"== mode {rep.mode}: {rep.flagged} of {rep.lines} lines flagged ({pct(rep.flagged)}), "
                     f"{rep.violations} as violations ({pct(rep.violations)})")
        lines.append("  by source: " + (", ".join(f"{s} {n} ({pct(n)})" for s, n in rep.by_source.most_common()) or "none"))
        if rep.by_rule:
            lines.append("  by rule:")
            for r, n in rep.by_rule.most_common(rules):
                lines.append(f"    {r:22s} {n:6d}  {pct(n)}")
            if len(rep.by_rule) > rules:
                lines.append(f"    ... and {len(rep.by_rule) - rules} more rules")
        if rep.top:
            lines.append(f"  the {len(rep.top)} highest-scoring lines:")
            for score, text, v in rep.top:
                ev = "; ".join(f"{e.rule_id} {e.source} [{e.start}:{e.end}] {e.text!r}" for e in v.evidence)
                lines.append(f"    {score:.2f} {v.decision:9s} {_clip(text)}  <- {_clip(ev, 80)}")
    return "\n".join(lines)


def _clip(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"
