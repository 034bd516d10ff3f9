"""`jiyu scan`: stream records from files through the detector into JSONL, CSV and a summary.

One pass, constant memory: records are read, judged in chunks and written in input order.
Every output line is written with a single `os.write` and flushed, so a killed run leaves only
whole lines; `--resume` reads what was written, drops a torn last line if there is one, and
skips the records already done. Bad records go to stderr and `--errors` and are skipped.

SIGINT and SIGTERM stop a scan between records (one record's lines are written with the
signals blocked), workers are terminated, and `run` returns a summary saying which signal.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from . import inputs, jsonout, report_html, transcripts
from .conversation import ConversationError
from .scan_report import CALL_COLUMNS, UTTERANCE_COLUMNS, Summary, call_rows, csv_line, facts, resume_state, utterance_rows
from .scoresheet import ScoreSheet
from .speakers import NoAgentError

BATCH = 512
FORMATS = ("auto", "text", "jsonl", "csv", "conversations", "turns-csv", "srt", "vtt", "asr-json", "transcript")
CONVERSATION_FORMATS = {"conversations", "turns-csv", "srt", "vtt", "asr-json", "transcript"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def detect(path: Path, columns: dict | None = None, encoding: str = "auto") -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv") and columns:
        return "turns-csv"
    if suffix in (".srt", ".vtt"):
        return suffix[1:]
    if suffix in (".csv", ".tsv"):
        cols = inputs.csv_header(path, encoding)
        return "turns-csv" if {"conversation_id", "speaker", "text"} <= set(cols) else "csv"
    if suffix == ".json":
        return "asr-json"
    head = inputs.head_lines(path, encoding)
    first = next((line for line in head if line.strip()), "")
    if suffix in (".jsonl", ".ndjson") or (str(path) == inputs.STDIN and first.lstrip().startswith("{")):
        try:  # conversations when the first object has turns
            obj = json.loads(first) if first else None
        except json.JSONDecodeError:
            return "jsonl"
        return "conversations" if isinstance(obj, dict) and "turns" in obj else "jsonl"
    return "transcript" if transcripts.looks_like_transcript(head) else "text"


def preflight(path: Path, fmt: str, opts) -> None:  # noqa: ANN001
    """Stop before any work on a file that would yield nothing: not text, or (JSONL) no line
    with the text field. InputError names the file, what was found and the flag to use."""
    inputs.check_text(path, opts.encoding)
    if fmt != "jsonl":
        return
    seen: Counter = Counter()
    objects = 0
    for n, line in enumerate(inputs.head_lines(path, opts.encoding, 1000), 1):
        obj = inputs.json_object(inputs.RawLine(str(path), n, line, ""))
        if isinstance(obj, dict):
            if opts.text_field in obj:
                return
            objects += 1
            seen.update(obj.keys())
    if objects:
        fields = ", ".join(k for k, _ in seen.most_common(12))
        raise inputs.InputError(f"{path}: none of the first {objects} objects has the field {opts.text_field!r}; they have {fields}."
                                " Name the text field with --text-field")


def records(path: Path, fmt: str, opts) -> Iterator:  # noqa: ANN001
    if fmt in ("conversations", "jsonl"):
        return inputs.raw_lines(path, opts.encoding)  # parsed by judge_chunk, in the workers when there are some
    if fmt == "csv":
        return inputs.read_csv(path, opts.text_column, opts.id_field, opts.encoding)
    if fmt == "turns-csv":
        return transcripts.read_turns_csv(path, opts.columns, opts.encoding)
    if fmt in ("srt", "vtt"):
        return transcripts.read_subtitles(path, opts.encoding)
    if fmt == "asr-json":
        return transcripts.read_asr_json(path, opts.encoding, opts.agent_channel)
    if fmt == "transcript":
        return transcripts.read_transcript(path, opts.encoding)
    return inputs.read_text(path, opts.encoding)


class LineWriter:
    """Appends whole lines with one write each (a kill never tears a line)."""

    def __init__(self, path: str | None, resume: bool = False, header: str = "", bom: bool = False):
        self.fd = sys.stdout.fileno() if path is None else os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resume else os.O_TRUNC), 0o644)
        self.owned = path is not None
        self.lines = 0
        if header and not (resume and path and os.path.getsize(path) > 0):
            self.write(("\ufeff" if bom else "") + header)
            self.lines = 0

    def write(self, line: str) -> None:
        data = (line if line.endswith("\n") else line + "\n").encode("utf-8")
        while data:
            data = data[os.write(self.fd, data):]
        self.lines += 1

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)


@dataclass(slots=True)
class Outcome:
    """What one record produced: output line(s) or the reason it was skipped."""

    line: str | None = None
    csv_lines: list[str] = field(default_factory=list)
    error: inputs.BadRecord | None = None
    warnings: list[inputs.BadRecord] = field(default_factory=list)  # parts of a scored record that were skipped
    facts: dict | None = None  # what the summary counts (scan_report.facts)
    html: dict | None = None  # a flagged call's part of the HTML report (report_html.call_section), when asked for
    resumed: bool = False  # already in the output of an earlier run (--resume)


# The detector a worker process judges with: set in the parent before the pool forks, so each
# worker starts with it built (copy-on-write) instead of loading lexicon and model again.
_DETECTOR = None
_DONE: set[str] = set()  # ids already written, with --resume; set before the fork like _DETECTOR


def _parse(item, fmt: str, conf: dict):  # noqa: ANN001, ANN202
    if not isinstance(item, inputs.RawLine):
        return item
    if fmt == "jsonl":
        return inputs.jsonl_record(item, conf["text_field"], conf["id_field"])
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
            record = {**r.data, "id": r.id, "text": r.text, **next(verdicts).to_dict(), **conf["versions"]}
            out.append(Outcome(line=dumps(record), facts=facts(record, conf["agent_field"]),
                               csv_lines=[csv_line(row) for row in utterance_rows(record)] if conf["csv"] else [],
                               html=report_html.utterance_section(record, str(r.data.get(conf["agent_field"]) or ""))
                               if conf["html"] and record["flagged"] else None))
        return items[-1].line, out
    # problems first, then every good call's agent turns judged together
    problems = [r if isinstance(r, inputs.BadRecord) else None for r in chunk]
    good = [r for r, problem in zip(chunk, problems) if problem is None]
    reports = iter(d.check_conversations([r.data for r in good], roles=conf["roles"], score_sheet=sheet,
                                         agent_speakers=conf["agent_speakers"], infer_agent=conf["infer_agent"]))
    for r, problem in zip(chunk, problems):
        if problem is not None:
            out.append(Outcome(error=problem))
            continue
        report = next(reports)
        if isinstance(report, ConversationError):
            out.append(Outcome(error=inputs.BadRecord(r.file, r.line, str(report), r.id,
                                                      "no_agent" if isinstance(report, NoAgentError) else "")))
            continue
        record = {**report.to_dict(), **conf["versions"]}
        for v in record["violations"]:  # --keep: turn fields the user wants beside each violation
            turn = r.data["turns"][v["turn"]]
            v.update({k: turn[k] for k in conf["keep"] if k in turn and k not in v})
        agent = str(r.data.get(conf["agent_field"], "") or "")
        out.append(Outcome(
            line=dumps(record),
            warnings=[inputs.BadRecord(r.file, r.line, f"turn {t['turn']} ({t['speaker']}): {t['error']}; that turn skipped,"
                                       " the call scored", r.id, "turn") for t in report.skipped_turns],
            facts=facts(record, conf["agent_field"]),
            csv_lines=[csv_line(row) for row in call_rows(record, agent)] if conf["csv"] else [],
            html=report_html.call_section(record, r.data["turns"], agent) if conf["html"] and report.flagged else None,
        ))
    return items[-1].line, out


class Interrupted(BaseException):
    """SIGINT/SIGTERM: a BaseException, like KeyboardInterrupt, so no `except Exception` on the
    way (a library's, ours) can swallow it and let the scan run on."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Stop:
    """SIGINT/SIGTERM raise Interrupted at once, except while one record's lines are being
    written: then the signal waits until they are all on disk (and the summary counts them)."""

    def __init__(self) -> None:
        self.writing = False
        self.pending: int | None = None

    def __call__(self, signum: int, frame) -> None:  # noqa: ANN001
        if self.writing:
            self.pending = signum
        else:
            raise Interrupted(signum)

    def __enter__(self) -> None:
        self.writing = True

    def __exit__(self, *exc: object) -> None:
        self.writing = False
        if self.pending is not None and exc[0] is None:
            raise Interrupted(self.pending)


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and ends workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Workers:
    """Chunks judged in worker processes, results in input order, a few chunks in flight each.

    Stopping a process pool at an arbitrary moment can deadlock in the pool's own threads
    (multiprocessing.Pool.terminate takes the task queue's lock, which an idle worker holds while it
    waits; ProcessPoolExecutor's manager thread waits for the rest of a result a killed worker was
    writing). So when stopped, the workers are killed and the executor abandoned, not joined; the
    command then ends the process with os._exit once its outputs are closed (see cli.cmd_scan).
    """

    def __init__(self, n: int) -> None:
        self.executor = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
        self.window = 2 * n

    def map(self, jobs: Iterator[tuple]) -> Iterator[tuple[int, list[Outcome]]]:
        pending: deque = deque()
        for job in jobs:
            pending.append(self.executor.submit(judge_chunk, job))
            if len(pending) >= self.window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self, stopped: bool) -> None:
        if not stopped:
            self.executor.shutdown(wait=True)
            return
        for process in list((self.executor._processes or {}).values()):  # noqa: SLF001 — no public way to kill them
            process.kill()
        self.abandoned = True

    abandoned = False  # True: threads of the executor may be stuck; the process must end with os._exit


def run(detector, opts, progress) -> Summary:  # noqa: ANN001
    """Scan every input of `opts` (see cli.py) and write the outputs; returns the summary.

    Raises inputs.InputError before writing anything when an input cannot be read at all."""
    global _DETECTOR, _DONE
    sheet = ScoreSheet.load(opts.score_sheet) if opts.score_sheet else None
    fmts = [(Path(p), detect(Path(p), opts.columns, opts.encoding) if opts.format == "auto" else opts.format) for p in opts.input]
    for path, fmt in fmts:
        preflight(path, fmt, opts)
    calls = {fmt in CONVERSATION_FORMATS for _, fmt in fmts}
    if len(calls) > 1:
        raise inputs.InputError("these inputs mix calls and single utterances: "
                                + ", ".join(f"{p} ({f})" for p, f in fmts) + "; scan each kind on its own")
    calls = calls.pop()
    key = "conversation_id" if calls else "id"
    state = resume_state(opts.output, key, opts.agent_field, opts.violations_csv, opts.errors) if opts.resume else None
    done = state.done if state else set()
    conf = {"versions": {"lexicon_version": detector.lexicon_version, "model_version": detector.model_version,
                         "context_version": detector.context_version},
            "roles": list(opts.roles), "agent_speakers": list(opts.agent_speakers), "agent_field": opts.agent_field,
            "infer_agent": opts.infer_agent, "keep": list(opts.keep), "text_field": opts.text_field, "id_field": opts.id_field,
            "html": bool(opts.html), "csv": bool(opts.violations_csv)}
    summary = state.summary if state else Summary()
    reported = state.reported if state else set()
    out = LineWriter(opts.output, resume=opts.resume)
    errors = LineWriter(opts.errors, resume=opts.resume) if opts.errors else None
    header = csv_line(list(CALL_COLUMNS if calls else UTTERANCE_COLUMNS))
    vcsv = LineWriter(opts.violations_csv, resume=opts.resume, header=header, bom=True) if opts.violations_csv else None
    page = report_html.HtmlReport(opts.html, resume=opts.resume, done=done) if opts.html else None
    _DETECTOR, _DONE = detector, done
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    pool: Workers | None = None

    def jobs(stream: Iterator, fmt: str) -> Iterator[tuple]:
        while chunk := list(islice(stream, BATCH)):
            yield chunk, fmt, conf, sheet

    try:
        pool = Workers(opts.workers) if opts.workers > 1 else None
        for path, fmt in fmts:
            bar = progress(path, fmt)
            good = bad = undecodable = 0
            work = jobs(records(path, fmt, opts), fmt)
            # imap keeps input order; a few chunks in flight per worker keep both cores busy
            results = pool.map(work) if pool else map(judge_chunk, work)
            for last_line, outcomes in results:
                with stop:  # a chunk's lines are written whole: a signal waits until they are on disk
                    for o in outcomes:
                        if o.resumed:
                            good += 1
                            continue
                        if o.error is not None:
                            bad += 1
                            undecodable += o.error.kind == "decode"
                            if (o.error.file, o.error.line) in reported:
                                continue  # reported by the run this one resumes
                            summary.skipped += 1
                            summary.no_agent += o.error.kind == "no_agent"
                            if not opts.quiet:
                                print(f"jiyu scan: skipped {o.error}", file=sys.stderr)
                            if errors:
                                errors.write(dumps(o.error.to_dict()))
                            continue
                        # the output line last: a call it holds is never judged again by --resume,
                        # so its CSV rows and report section must already be on disk
                        good += 1
                        for w in o.warnings:
                            if not opts.quiet:
                                print(f"jiyu scan: {w}", file=sys.stderr)
                            if errors:
                                errors.write(dumps(w.to_dict()))
                        if vcsv:
                            for row in o.csv_lines:
                                vcsv.write(row)
                        if o.html is not None:
                            page.add(o.html)
                        out.write(o.line)
                        summary.add(o.facts)
                bar.update(last_line)
            bar.close()
            if bad and not good:
                summary.failed_files.append(f"{path}: none of its {bad} record(s) could be scored ({fmt}; reasons above)")
            elif undecodable > good:
                summary.failed_files.append(f"{path}: {undecodable} of {good + bad} records could not be decoded as"
                                            f" {inputs.detect_encoding(path, opts.encoding)}: is --encoding right?")
    except Interrupted as e:
        summary.interrupted = e.signum
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pool:
            pool.close(stopped=summary.interrupted is not None)
        for w in (out, errors, vcsv):
            if w:
                w.close()
    if opts.summary:
        Path(opts.summary).write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    if page and summary.interrupted is None:  # else its parts stay for --resume
        page.close(summary.to_dict(), conf["versions"])
    summary.abandoned_workers = bool(pool and pool.abandoned)
    return summary
