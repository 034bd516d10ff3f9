"""`jiyu scan`: stream records from files through the detector into JSONL, CSV and a summary.

One pass, constant memory: records are read, judged in chunks and written in input order.
Every output line is written with a single `os.write` and flushed, so a killed run leaves only
whole lines; `--resume` reads what was written, drops a torn last line if there is one, and
skips the records already done. Bad records go to stderr and `--errors` and are skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from . import inputs, transcripts
from .conversation import ConversationError
from .scoresheet import ScoreSheet

BATCH = 512
FORMATS = ("auto", "text", "jsonl", "csv", "conversations", "turns-csv", "srt", "vtt", "asr-json", "transcript")
CONVERSATION_FORMATS = {"conversations", "turns-csv", "srt", "vtt", "asr-json", "transcript"}
VIOLATION_COLUMNS = ("conversation_id", "agent_id", "turn", "speaker", "start", "end", "decision", "category",
                     "severity", "rule_id", "source", "evidence", "suggestion", "deduction", "call_score", "call_passed")


def detect(path: Path, columns: dict | None = None) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv") and columns:
        return "turns-csv"
    if suffix in (".srt", ".vtt"):
        return suffix[1:]
    if suffix in (".csv", ".tsv"):
        head = transcripts.read_text(path).splitlines()[:1]
        cols = next(csv.reader(head, delimiter="\t" if suffix == ".tsv" else ","), []) if head else []
        return "turns-csv" if {"conversation_id", "speaker", "text"} <= set(cols) else "csv"
    if suffix == ".json":
        return "asr-json"
    return inputs.detect_format(path)


def records(path: Path, fmt: str, opts) -> Iterator:  # noqa: ANN001
    if fmt == "conversations":
        return inputs.read_conversations(path)
    if fmt == "jsonl":
        return inputs.read_jsonl(path, opts.text_field, opts.id_field)
    if fmt == "csv":
        return inputs.read_csv(path, opts.text_column, opts.id_field)
    if fmt == "turns-csv":
        return transcripts.read_turns_csv(path, opts.columns, opts.encoding)
    if fmt in ("srt", "vtt"):
        return transcripts.read_subtitles(path, opts.encoding)
    if fmt == "asr-json":
        return transcripts.read_asr_json(path, opts.encoding)
    if fmt == "transcript":
        return transcripts.read_transcript(path, opts.encoding)
    return inputs.read_text(path)


class LineWriter:
    """Appends whole lines with one write each (a kill never tears a line)."""

    def __init__(self, path: str | None, resume: bool = False, header: str = "", bom: bool = False):
        self.fd = sys.stdout.fileno() if path is None else os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resume else os.O_TRUNC), 0o644)
        self.owned = path is not None
        if header and not (resume and path and os.path.getsize(path) > 0):
            self.write(("\ufeff" if bom else "") + header)

    def write(self, line: str) -> None:
        data = (line if line.endswith("\n") else line + "\n").encode("utf-8")
        while data:
            data = data[os.write(self.fd, data):]

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)


def resume_state(out: str | None, key: str, violations_csv: str | None) -> set[str]:
    """Ids already written to `out`; a torn last line is cut off, orphan CSV rows dropped."""
    if not out or not os.path.exists(out):
        return set()
    raw = Path(out).read_bytes()
    keep = raw[: raw.rfind(b"\n") + 1]
    if len(keep) != len(raw):
        Path(out).write_bytes(keep)
    done = set()
    for line in keep.decode("utf-8").splitlines():
        try:
            done.add(str(json.loads(line)[key]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    if violations_csv and os.path.exists(violations_csv):
        text = Path(violations_csv).read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        if rows:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(rows[0])
            w.writerows(r for r in rows[1:] if r and r[0] in done)
            Path(violations_csv).write_text("\ufeff" + buf.getvalue(), encoding="utf-8")
    return done


@dataclass
class Summary:
    scored: int = 0
    flagged: int = 0
    skipped: int = 0
    resumed: int = 0
    per_category: Counter = field(default_factory=Counter)
    agents: dict = field(default_factory=lambda: defaultdict(lambda: {"calls": 0, "flagged_calls": 0, "violations": 0,
                                                                          "reviews": 0, "score_sum": 0.0, "passed": 0,
                                                                          "categories": Counter()}))

    def add_call(self, agent: str, report) -> None:  # noqa: ANN001
        a = self.agents[agent]
        a["calls"] += 1
        a["flagged_calls"] += report.flagged
        a["score_sum"] += report.score
        a["passed"] += report.passed
        for v in report.violations:
            a["violations" if v.verdict.decision == "violation" else "reviews"] += 1
            a["categories"].update(v.verdict.labels[:1])

    def to_dict(self) -> dict:
        agents = {
            name: {"calls": a["calls"], "flagged_calls": a["flagged_calls"], "violations": a["violations"],
                   "reviews": a["reviews"], "mean_score": round(a["score_sum"] / a["calls"], 2),
                   "pass_rate": round(a["passed"] / a["calls"], 4), "categories": dict(a["categories"])}
            for name, a in sorted(self.agents.items())
        }
        return {"scored": self.scored, "flagged": self.flagged, "skipped": self.skipped, "resumed": self.resumed,
                "categories": dict(self.per_category), "agents": agents}


def violation_rows(report, agent: str) -> Iterator[list]:  # noqa: ANN001
    for v in report.violations:
        for e in v.verdict.evidence:
            yield [report.conversation_id, agent, v.turn, v.speaker, v.start, v.end, v.verdict.decision, e.category,
                   e.severity, e.rule_id, e.source, e.text, e.suggestion or "", v.deduction, report.score, report.passed]


def csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


def run(detector, opts, progress) -> Summary:  # noqa: ANN001, C901
    """Scan every input of `opts` (see cli.py) and write the outputs; returns the summary."""
    sheet = ScoreSheet.load(opts.score_sheet) if opts.score_sheet else None
    fmts = [(Path(p), detect(Path(p), opts.columns) if opts.format == "auto" else opts.format) for p in opts.input]
    conversational = any(f in CONVERSATION_FORMATS for _, f in fmts)
    key = "conversation_id" if conversational else "id"
    done = resume_state(opts.output, key, opts.violations_csv) if opts.resume else set()
    versions = {"lexicon_version": detector.lexicon_version, "model_version": detector.model_version}
    out = LineWriter(opts.output, resume=opts.resume)
    errors = LineWriter(opts.errors, resume=opts.resume) if opts.errors else None
    vcsv = LineWriter(opts.violations_csv, resume=opts.resume, header=csv_line(list(VIOLATION_COLUMNS)), bom=True) if opts.violations_csv else None
    summary = Summary()

    def bad(rec: inputs.BadRecord) -> None:
        summary.skipped += 1
        print(f"jiyu scan: skipped {rec}", file=sys.stderr)
        if errors:
            errors.write(json.dumps(rec.to_dict(), ensure_ascii=False))

    try:
        for path, fmt in fmts:
            bar = progress(path, fmt)
            stream = records(path, fmt, opts)
            while chunk := list(islice(stream, BATCH)):
                bar.update(chunk)
                if fmt in CONVERSATION_FORMATS:
                    for r in chunk:  # in input order, so bad records are reported in line order too
                        if isinstance(r, inputs.BadRecord):
                            bad(r)
                            continue
                        if str(r.id) in done:
                            summary.resumed += 1
                            continue
                        problem = transcripts._check_order(r.data, path, r.line) if isinstance(r.data.get("turns"), list) else None
                        if problem:
                            bad(problem)
                            continue
                        try:
                            report = detector.check_conversation(r.data, roles=opts.roles, score_sheet=sheet,
                                                                 agent_speakers=opts.agent_speakers)
                        except ConversationError as e:
                            bad(inputs.BadRecord(r.file, r.line, str(e)))
                            continue
                        agent = str(r.data.get(opts.agent_field, "") or "")
                        if vcsv:
                            for row in violation_rows(report, agent):
                                vcsv.write(csv_line(row))
                        out.write(json.dumps({**report.to_dict(), **versions}, ensure_ascii=False))
                        summary.scored += 1
                        summary.flagged += report.flagged
                        summary.per_category.update(lab for v in report.violations for lab in v.verdict.labels[:1])
                        summary.add_call(agent or "(no agent id)", report)
                else:
                    todo = []
                    for r in chunk:
                        if isinstance(r, inputs.BadRecord):
                            bad(r)
                        elif str(r.id) in done:
                            summary.resumed += 1
                        else:
                            todo.append(r)
                    verdicts = detector.check_many([r.text for r in todo])
                    for r, v in zip(todo, verdicts):
                        extra = {k: val for k, val in r.data.items() if k not in (opts.text_field, opts.text_column)}
                        out.write(json.dumps({**extra, "id": r.id, **v.to_dict(), **versions}, ensure_ascii=False))
                        summary.scored += 1
                        summary.flagged += v.flagged
                        summary.per_category.update(v.labels[:1])
            bar.close()
    finally:
        for w in (out, errors, vcsv):
            if w:
                w.close()
    if opts.summary:
        Path(opts.summary).write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return summary
