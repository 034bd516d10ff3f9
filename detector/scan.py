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
import multiprocessing
import os
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from . import inputs, jsonout, report_html, transcripts
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
        with open(path, encoding=transcripts.detect_encoding(path), errors="replace", newline="") as f:
            cols = next(csv.reader(f, delimiter="\t" if suffix == ".tsv" else ","), [])
        return "turns-csv" if {"conversation_id", "speaker", "text"} <= set(cols) else "csv"
    if suffix == ".json":
        return "asr-json"
    if suffix in (".jsonl", ".ndjson"):  # conversations when the first object has turns
        first = next((raw for raw in inputs.raw_lines(path) if raw.text), None)
        try:
            obj = json.loads(first.text) if first else None
        except json.JSONDecodeError:
            return "jsonl"
        return "conversations" if isinstance(obj, dict) and "turns" in obj else "jsonl"
    return "text"


def records(path: Path, fmt: str, opts) -> Iterator:  # noqa: ANN001
    if fmt in ("conversations", "jsonl"):
        return inputs.raw_lines(path)  # parsed by judge_chunk, in the workers when there are some
    if fmt == "csv":
        return inputs.read_csv(path, opts.text_column, opts.id_field)
    if fmt == "turns-csv":
        return transcripts.read_turns_csv(path, opts.columns, opts.encoding)
    if fmt in ("srt", "vtt"):
        return transcripts.read_subtitles(path, opts.encoding)
    if fmt == "asr-json":
        return transcripts.read_asr_json(path, opts.encoding, opts.agent_channel)
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
    done, whole = set(), 0
    with open(out, "rb+") as f:  # streamed: yesterday's output need not fit in memory
        for line in f:
            if not line.endswith(b"\n"):
                break  # torn by the kill: the record is judged again
            whole += len(line)
            try:
                done.add(str(json.loads(line)[key]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        f.truncate(whole)
    if violations_csv and os.path.exists(violations_csv):
        kept = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", delete=False, dir=os.path.dirname(os.path.abspath(violations_csv)))
        with open(violations_csv, encoding="utf-8-sig", newline="") as src, kept:
            rows = csv.reader(src)
            kept.write("\ufeff" + csv_line(next(rows, list(VIOLATION_COLUMNS))))
            for row in rows:
                if row and row[0] in done:  # a call whose JSON line never made it is judged again
                    kept.write(csv_line(row))
        os.replace(kept.name, violations_csv)
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

    def add(self, o: Outcome) -> None:
        self.scored += 1
        self.flagged += o.flagged
        self.per_category.update(o.first_labels)
        if o.call is not None:
            a = self.agents[o.call["agent"] or "(no agent id)"]
            a["calls"] += 1
            a["flagged_calls"] += o.flagged
            a["score_sum"] += o.call["score"]
            a["passed"] += o.call["passed"]
            a["violations"] += o.call["violations"]
            a["reviews"] += o.call["reviews"]
            a["categories"].update(o.first_labels)

    def to_dict(self) -> dict:
        agents = {
            name: {"calls": a["calls"], "flagged_calls": a["flagged_calls"], "violations": a["violations"],
                   "reviews": a["reviews"], "mean_score": round(a["score_sum"] / a["calls"], 2),
                   "pass_rate": round(a["passed"] / a["calls"], 4), "categories": dict(a["categories"])}
            for name, a in sorted(self.agents.items())
        }
        return {"scored": self.scored, "flagged": self.flagged, "skipped": self.skipped, "resumed": self.resumed,
                "categories": dict(self.per_category), "agents": agents}


@dataclass(slots=True)
class Outcome:
    """What one record produced: output line(s) or the reason it was skipped."""

    line: str | None = None
    csv_lines: list[str] = field(default_factory=list)
    error: inputs.BadRecord | None = None
    flagged: bool = False
    first_labels: list[str] = field(default_factory=list)
    call: dict | None = None  # agent, score, passed, violations, reviews (conversations only)
    html: dict | None = None  # a flagged call's part of the HTML report (report_html.call_section), when asked for
    resumed: bool = False  # already in the output of an earlier run (--resume)


def violation_rows(report, agent: str) -> Iterator[list]:  # noqa: ANN001
    for v in report.violations:
        for e in v.verdict.evidence:
            yield [report.conversation_id, agent, v.turn, v.speaker, v.start, v.end, v.verdict.decision, e.category,
                   e.severity, e.rule_id, e.source, e.text, e.suggestion or "", v.deduction, report.score, report.passed]


def csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


# The detector a worker process judges with: set in the parent before the pool forks, so each
# worker starts with it built (copy-on-write) instead of loading lexicon and model again.
_DETECTOR = None
_DONE: set[str] = set()  # ids already written, with --resume; set before the fork like _DETECTOR


def _parse(item, fmt: str, conf: dict):  # noqa: ANN001, ANN202
    if not isinstance(item, inputs.RawLine):
        return item
    if fmt == "jsonl":
        return inputs.jsonl_record(item, conf["text_fields"][0], conf["id_field"])
    return inputs.conversation_record(item)


def dumps(obj: dict) -> str:
    """One output line."""
    return jsonout.dumps(obj).decode()


def judge_chunk(job: tuple) -> tuple[int, list[Outcome]]:
    """Judge one chunk of records (in this process or a worker); returns (last line, outcomes)."""
    items, fmt, conf, sheet = job
    d = _DETECTOR
    chunk = []
    out: list[Outcome] = []
    for item in items:
        r = _parse(item, fmt, conf)
        if isinstance(r, inputs.Record) and str(r.id) in _DONE:
            out.append(Outcome(resumed=True))
        else:
            chunk.append(r)
    if not chunk:
        return items[-1].line, out
    if fmt not in CONVERSATION_FORMATS:
        good = [r for r in chunk if isinstance(r, inputs.Record)]
        verdicts = iter(d.check_many([r.text for r in good]))
        for r in chunk:
            if isinstance(r, inputs.BadRecord):
                out.append(Outcome(error=r))
                continue
            v = next(verdicts)
            extra = {k: val for k, val in r.data.items() if k not in conf["text_fields"]}
            line = dumps({**extra, "id": r.id, **v.to_dict(), **conf["versions"]})
            out.append(Outcome(line=line, flagged=v.flagged, first_labels=list(v.labels[:1])))
        return items[-1].line, out
    # problems first, then every good call's agent turns judged together
    problems = [
        r if isinstance(r, inputs.BadRecord)
        else transcripts.check_order(r.data, Path(r.file), r.line) if isinstance(r.data.get("turns"), list) else None
        for r in chunk
    ]
    good = [r for r, problem in zip(chunk, problems) if problem is None]
    reports = iter(d.check_conversations([r.data for r in good], roles=conf["roles"], score_sheet=sheet, agent_speakers=conf["agent_speakers"]))
    for r, problem in zip(chunk, problems):
        if problem is not None:
            out.append(Outcome(error=problem))
            continue
        report = next(reports)
        if isinstance(report, ConversationError):
            out.append(Outcome(error=inputs.BadRecord(r.file, r.line, str(report))))
            continue
        agent = str(r.data.get(conf["agent_field"], "") or "")
        as_dict = report.to_dict()
        out.append(Outcome(
            line=dumps({**as_dict, **conf["versions"]}),
            csv_lines=[csv_line(row) for row in violation_rows(report, agent)],
            flagged=report.flagged,
            first_labels=[v.verdict.labels[0] for v in report.violations],
            call={"agent": agent, "score": report.score, "passed": report.passed,
                  "violations": sum(v.verdict.decision == "violation" for v in report.violations),
                  "reviews": sum(v.verdict.decision == "review" for v in report.violations)},
            html=report_html.call_section(as_dict, r.data["turns"], agent) if conf["html"] and report.flagged else None,
        ))
    return items[-1].line, out


def run(detector, opts, progress) -> Summary:  # noqa: ANN001
    """Scan every input of `opts` (see cli.py) and write the outputs; returns the summary."""
    global _DETECTOR, _DONE
    sheet = ScoreSheet.load(opts.score_sheet) if opts.score_sheet else None
    fmts = [(Path(p), detect(Path(p), opts.columns) if opts.format == "auto" else opts.format) for p in opts.input]
    key = "conversation_id" if any(f in CONVERSATION_FORMATS for _, f in fmts) else "id"
    done = resume_state(opts.output, key, opts.violations_csv) if opts.resume else set()
    conf = {"versions": {"lexicon_version": detector.lexicon_version, "model_version": detector.model_version,
                         "context_version": detector.context_version},
            "roles": list(opts.roles), "agent_speakers": list(opts.agent_speakers), "agent_field": opts.agent_field,
            "text_fields": (opts.text_field, opts.text_column), "id_field": opts.id_field, "html": bool(opts.html)}
    out = LineWriter(opts.output, resume=opts.resume)
    errors = LineWriter(opts.errors, resume=opts.resume) if opts.errors else None
    vcsv = LineWriter(opts.violations_csv, resume=opts.resume, header=csv_line(list(VIOLATION_COLUMNS)), bom=True) if opts.violations_csv else None
    summary = Summary()
    page = report_html.HtmlReport(opts.html, resume=opts.resume, done=done) if opts.html else None
    _DETECTOR, _DONE = detector, done
    pool = multiprocessing.get_context("fork").Pool(opts.workers) if opts.workers > 1 else None

    def jobs(stream: Iterator, fmt: str) -> Iterator[tuple]:
        while chunk := list(islice(stream, BATCH)):
            yield chunk, fmt, conf, sheet

    try:
        for path, fmt in fmts:
            bar = progress(path, fmt)
            work = jobs(records(path, fmt, opts), fmt)
            # imap keeps input order; a few chunks in flight per worker keep both cores busy
            results = pool.imap(judge_chunk, work, chunksize=1) if pool else map(judge_chunk, work)
            for last_line, outcomes in results:
                for o in outcomes:
                    if o.resumed:
                        summary.resumed += 1
                        continue
                    if o.error is not None:
                        summary.skipped += 1
                        print(f"jiyu scan: skipped {o.error}", file=sys.stderr)
                        if errors:
                            errors.write(dumps(o.error.to_dict()))
                        continue
                    # the output line last: a call it holds is never judged again by --resume,
                    # so its CSV rows and report section must already be on disk
                    if vcsv:
                        for row in o.csv_lines:
                            vcsv.write(row)
                    if o.html is not None:
                        page.add(o.html)
                    out.write(o.line)
                    summary.add(o)
                bar.update(last_line)
            bar.close()
    finally:
        if pool:
            pool.terminate()
        for w in (out, errors, vcsv):
            if w:
                w.close()
    if opts.summary:
        Path(opts.summary).write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    if page:
        page.close(summary.to_dict(), conf["versions"])
    return summary
