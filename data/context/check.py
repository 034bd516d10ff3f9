"""Check the context-annotation files data/context/ctx-*.jsonl.

Run from the project root:  .venv/bin/python data/context/check.py
Exit 1 on any problem. Checks: every line parses; exactly the fields below, in that order;
ids unique and of the form ctx-NNNN; target/style values; innocent == (target != "customer");
phrase occurs verbatim in text; rule_id exists in the bundled lexicon; at most 300 lines a file;
no duplicate texts; and (unless --no-detector) the bundled detector's rule `rule_id` fires on
the text, on a span that overlaps an occurrence of `phrase`. Prints counts per target and rule.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIELDS = ["id", "text", "rule_id", "phrase", "target", "innocent", "style", "industry", "source"]
TARGETS = {"customer", "object", "self", "staff", "third_party", "literal", "quote"}
STYLES = {"chat", "asr"}


def main() -> int:
    use_detector = "--no-detector" not in sys.argv
    rule_ids = set()
    for f in glob.glob(os.path.join(ROOT, "lexicons/default/*.yaml")):
        y = yaml.safe_load(open(f, encoding="utf-8")) or {}
        rule_ids |= {e["id"] for e in (y.get("entries") or [])}
        rule_ids |= {p["id"] for p in (y.get("patterns") or [])}
    det = None
    if use_detector:
        sys.path.insert(0, ROOT)
        from detector import Detector

        det = Detector()

    problems: list[str] = []
    ids: set[str] = set()
    texts: dict[str, str] = {}
    rows = []
    files = sorted(glob.glob(os.path.join(HERE, "ctx-*.jsonl")))
    if not files:
        problems.append("no ctx-*.jsonl files")
    for f in files:
        name = os.path.basename(f)
        lines = open(f, encoding="utf-8").read().splitlines()
        if len(lines) > 300:
            problems.append(f"{name}: {len(lines)} lines (> 300)")
        for n, ln in enumerate(lines, 1):
            where = f"{name}:{n}"
            try:
                o = json.loads(ln)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: bad JSON ({exc})")
                continue
            if list(o) != FIELDS:
                problems.append(f"{where}: fields {list(o)} != {FIELDS}")
                continue
            if not re.fullmatch(r"ctx-\d{4}", o["id"]):
                problems.append(f"{where}: bad id {o['id']!r}")
            if o["id"] in ids:
                problems.append(f"{where}: duplicate id {o['id']}")
            ids.add(o["id"])
            for k in ("text", "rule_id", "phrase", "industry", "source"):
                if not isinstance(o[k], str) or not o[k]:
                    problems.append(f"{where}: {k} must be a non-empty string")
            if o["target"] not in TARGETS:
                problems.append(f"{where}: bad target {o['target']!r}")
            if o["style"] not in STYLES:
                problems.append(f"{where}: bad style {o['style']!r}")
            if o["innocent"] is not (o["target"] != "customer"):
                problems.append(f"{where}: innocent={o['innocent']} but target={o['target']}")
            if o["phrase"] not in o["text"]:
                problems.append(f"{where}: phrase {o['phrase']!r} not in text")
            if o["rule_id"] not in rule_ids:
                problems.append(f"{where}: unknown rule_id {o['rule_id']}")
            if o["text"] in texts:
                problems.append(f"{where}: duplicate text (also {texts[o['text']]})")
            texts[o["text"]] = where
            if det is not None and o["phrase"] in o["text"]:
                spans = [(m.start(), m.end()) for m in re.finditer(re.escape(o["phrase"]), o["text"])]
                ev = [e for e in det.check(o["text"]).evidence if e.rule_id == o["rule_id"]]
                if not ev:
                    problems.append(f"{where}: rule {o['rule_id']} does not fire on the text")
                elif not any(min(b, e.end) > max(a, e.start) for e in ev for a, b in spans):
                    problems.append(f"{where}: rule {o['rule_id']} fires, but not on {o['phrase']!r}")
            rows.append(o)

    for p in problems:
        print("PROBLEM", p)
    by_target = collections.Counter(o["target"] for o in rows)
    by_rule = collections.Counter(o["rule_id"] for o in rows)
    print(f"{len(rows)} lines in {len(files)} files, {len(by_rule)} rules")
    print("per target:", dict(sorted(by_target.items(), key=lambda kv: -kv[1])))
    print("innocent:", sum(o["innocent"] for o in rows), " customer:", by_target["customer"])
    print("per style:", dict(collections.Counter(o["style"] for o in rows)))
    print("lines per rule: min", min(by_rule.values(), default=0), "max", max(by_rule.values(), default=0))
    print("problems:", len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
