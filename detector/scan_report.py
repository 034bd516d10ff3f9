"""What `jiyu scan` reports besides its JSONL: the violations CSV and the summary.

Both are functions of the output lines, so `--resume` rebuilds them from what an earlier run
wrote, and the summary of a resumed scan covers the whole output, not only the last run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

CALL_COLUMNS = ("conversation_id", "agent_id", "turn", "speaker", "start", "end", "decision", "category",
                "severity", "rule_id", "source", "evidence", "suggestion", "turn_deduction", "call_score", "call_passed")
UTTERANCE_COLUMNS = ("id", "decision", "score", "category", "severity", "rule_id", "source", "start", "end",
                     "evidence", "suggestion", "text")
NO_AGENT_ID = "(no agent id)"


def csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["true" if v is True else "false" if v is False else v for v in row])
    return buf.getvalue()


def call_rows(report: dict, agent: str) -> Iterator[list]:
    """One row per evidence item of a call report; a turn's deduction only on its first row, so
    summing the column in Excel gives the call's deductions."""
    for v in report["violations"]:
        for k, e in enumerate(v["evidence"]):
            yield [report["conversation_id"], agent, v["turn"], v["speaker"], v["start"], v["end"], v["decision"],
                   e["category"], e["severity"], e["rule_id"], e["source"], e["text"], e.get("suggestion") or "",
                   v["deduction"] if k == 0 else "", report["score"], report["passed"]]


def utterance_rows(record: dict) -> Iterator[list]:
    for e in record["evidence"]:
        yield [record["id"], record["decision"], record["score"], e["category"], e["severity"], e["rule_id"], e["source"],
               e["start"], e["end"], e["text"], e.get("suggestion") or "", record.get("text", "")]


def facts(record: dict, agent_field: str) -> dict:
    """The little the summary needs from one output line (computed where the line is made)."""
    if "violations" not in record:  # an utterance verdict
        return {"flagged": record["flagged"], "violation": record["decision"] == "violation",
                "labels": list(record["labels"]), "call": None}
    violations = record["violations"]
    return {"flagged": record["flagged"], "violation": any(v["decision"] == "violation" for v in violations),
            "labels": [lab for v in violations for lab in v["labels"]],
            "call": {"agent": str(record.get(agent_field) or ""), "score": record["score"], "passed": record["passed"],
                     "violations": sum(v["decision"] == "violation" for v in violations),
                     "reviews": sum(v["decision"] == "review" for v in violations),
                     "inferred": bool(record.get("agent_inferred"))}}


@dataclass
class Summary:
    scored: int = 0  # records in the output, earlier runs' included
    flagged: int = 0
    violations: int = 0  # records with a violation (calls: a violating turn); the rest flagged are reviews
    skipped: int = 0
    resumed: int = 0  # of `scored`, written by an earlier run (--resume)
    agent_inferred: int = 0  # calls whose agent was inferred from what the speakers said
    no_agent: int = 0  # calls skipped because no agent could be identified
    per_category: Counter = field(default_factory=Counter)  # every label of every flagged record
    failed_files: list[str] = field(default_factory=list)  # files of which no record could be read
    interrupted: int | None = None  # the signal that stopped the run
    abandoned_workers: bool = False  # stopped with worker processes killed (the process must exit at once)
    agents: dict = field(default_factory=lambda: defaultdict(lambda: {"calls": 0, "flagged_calls": 0, "violations": 0,
                                                                          "reviews": 0, "score_sum": 0.0, "passed": 0,
                                                                          "categories": Counter()}))

    def add(self, f: dict) -> None:
        self.scored += 1
        self.flagged += f["flagged"]
        self.violations += f["violation"]
        self.per_category.update(f["labels"])
        call = f["call"]
        if call is not None:
            self.agent_inferred += call["inferred"]
            a = self.agents[call["agent"] or NO_AGENT_ID]
            a["calls"] += 1
            a["flagged_calls"] += f["flagged"]
            a["score_sum"] += call["score"]
            a["passed"] += call["passed"]
            a["violations"] += call["violations"]
            a["reviews"] += call["reviews"]
            a["categories"].update(f["labels"])

    def to_dict(self) -> dict:
        agents = {
            name: {"calls": a["calls"], "flagged_calls": a["flagged_calls"], "violations": a["violations"],
                   "reviews": a["reviews"], "mean_score": round(a["score_sum"] / a["calls"], 2),
                   "pass_rate": round(a["passed"] / a["calls"], 4), "categories": dict(a["categories"])}
            for name, a in sorted(self.agents.items())
        }
        calls = sum(a["calls"] for a in self.agents.values())
        return {"scored": self.scored, "flagged": self.flagged, "violations": self.violations, "skipped": self.skipped, "resumed": self.resumed,
                **({"calls_agent_inferred": self.agent_inferred, "calls_no_agent": self.no_agent} if calls or self.no_agent else {}),
                "categories": dict(self.per_category), "agents": agents}


def _rewrite(path: str, keep) -> None:  # noqa: ANN001
    """Rewrite `path` through `keep(src, dst)`, atomically, keeping the file's permissions."""
    tmp = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", delete=False, dir=os.path.dirname(os.path.abspath(path)))
    with open(path, encoding="utf-8-sig", newline="") as src, tmp:
        keep(src, tmp)
    shutil.copymode(path, tmp.name)
    os.replace(tmp.name, path)


@dataclass
class ResumeState:
    done: set[str]  # ids in the output
    summary: Summary  # of the output so far
    reported: set[tuple[str, int]]  # (file, line) of bad records already in --errors


def resume_state(out: str | None, key: str, agent_field: str, violations_csv: str | None = None,
                 errors: str | None = None) -> ResumeState:
    """What an earlier run wrote: ids done and their summary. A torn last line is cut off; CSV rows
    of a record whose JSON line never made it are dropped (it is judged again)."""
    state = ResumeState(set(), Summary(), set())
    if not out or not os.path.exists(out):
        return state
    whole = 0
    with open(out, "rb+") as f:  # streamed: yesterday's output need not fit in memory
        for line in f:
            if not line.endswith(b"\n"):
                break  # torn by the kill: the record is judged again
            whole += len(line)
            try:
                record = json.loads(line)
                state.done.add(str(record[key]))
                state.summary.add(facts(record, agent_field))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        f.truncate(whole)
    state.summary.resumed = state.summary.scored
    if violations_csv and os.path.exists(violations_csv):
        def keep(src, dst) -> None:  # noqa: ANN001
            rows = csv.reader(src)
            header = next(rows, None)
            if header:
                dst.write("\ufeff" + csv_line(header))
            for row in rows:
                if row and row[0] in state.done:
                    dst.write(csv_line(row))
        _rewrite(violations_csv, keep)
    if errors and os.path.exists(errors):
        with open(errors, encoding="utf-8") as f:
            for line in f:
                try:
                    bad = json.loads(line)
                    state.reported.add((bad["file"], bad["line"]))
                    state.summary.no_agent += bad.get("kind") == "no_agent"
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
        state.summary.skipped = len(state.reported)
    return state


def summary_lines(summary: Summary, prog: str, mode: str, where: str, resumed: bool = False) -> list[str]:
    """What `jiyu scan` prints at the end (`jiyu spark-scan` prints the same): totals, then per agent."""
    totals = summary.to_dict()
    cats = ", ".join(f"{c} {n}" for c, n in summary.per_category.most_common()) or "none"
    agents = f", agent inferred in {summary.agent_inferred} call(s), no agent found in {summary.no_agent}" \
        if "calls_no_agent" in totals else ""
    earlier = f" ({summary.resumed} from an earlier run)" if resumed else ""
    lines = [f"{prog}: {summary.scored} scored{earlier}, {summary.flagged} flagged (labels: {cats}),"
             f" {summary.skipped} skipped{agents} [mode {mode}, lexicon {where}]"]
    if list(totals["agents"]) not in ([], [NO_AGENT_ID]):  # nothing to say per agent when no record names one
        for agent, a in totals["agents"].items():
            lines.append(f"  agent {agent}: {a['calls']} calls, {a['flagged_calls']} flagged, {a['violations']} violations,"
                         f" {a['reviews']} reviews, mean score {a['mean_score']}, pass rate {a['pass_rate']:.0%}")
    return lines
