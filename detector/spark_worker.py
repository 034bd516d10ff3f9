"""The executor side of detector.spark: Arrow batches in, verdict columns out.

Runs in Spark's Python workers. A worker process keeps its Detectors in `_DETECTORS`, keyed by
the lexicon packs, classifier switch and model: built on the first batch that needs one (a few
seconds: lexicon from jiyu's disk cache or compiled, tone model loaded), then reused by every
batch of every task the process runs (Spark reuses Python workers: spark.python.worker.reuse).

Records are judged as `jiyu scan` judges them, with its functions: `inputs.jsonl_record` /
`inputs.text_record` for utterances, `Detector.check_conversations` (parse_conversation inside)
for calls; a record they refuse gets `error` with their message and no verdict.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import inputs
from .conversation import ConversationError
from .speakers import NoAgentError

# Columns added after the input's, in order (besides `id` and `text` for utterances: see spark.py).
TEXT_FIELDS = ("flagged", "decision", "score", "labels", "evidence", "mode",
               "lexicon_version", "model_version", "context_version", "error", "error_kind")
CALL_FIELDS = ("conversation_id", "flagged", "violations", "score", "deductions", "passed", "fatal", "score_sheet",
               "turns_judged", "agent_speaker", "agent_inferred", "agent_confidence", "agent_cues", "skipped_turns",
               "lexicon_version", "model_version", "context_version", "error", "error_kind")


@dataclass(frozen=True)
class Job:
    """What the executors need to know, pickled with the function (small: names, not packs)."""

    kind: str  # "texts" | "calls"
    mode: str
    columns: tuple[str, ...]  # the input's
    added: tuple[str, ...]  # the output's columns after the kept input ones
    arrow_types: dict  # of each added column but `id` (copied from the id column)
    packs: tuple[str, ...]  # SparkFiles names (spark.ship)
    classifier: bool = True
    model: str | None = None  # SparkFiles name of a model directory; None: the installed one
    build_log: str | None = None  # JIYU_SPARK_BUILD_LOG on the driver: a directory each build and task is logged to
    text_col: str = "text"
    id_col: str | None = None
    json_col: str | None = None
    roles: tuple[str, ...] = ("agent",)
    agent_speakers: tuple[str, ...] = ()
    infer_agent: bool = True


_DETECTORS: dict = {}  # this worker process's Detectors, by (packs, classifier, model)


def worker_detector(job: Job):  # noqa: ANN201
    key = (job.packs, job.classifier, job.model)
    d = _DETECTORS.get(key)
    if d is None:
        from pyspark import SparkFiles

        from .detector import Detector

        t = time.perf_counter()
        d = _DETECTORS[key] = Detector([SparkFiles.get(p) for p in job.packs], classifier=job.classifier,
                                       model_dir=SparkFiles.get(job.model) if job.model else None)
        _log(job, f"build\t{time.perf_counter() - t:.2f}s\tlexicon {d.lexicon_version}\tpacks {','.join(job.packs) or '-'}")
    return d


def _log(job: Job, line: str) -> None:
    """One line in JIYU_SPARK_BUILD_LOG/worker-PID.log (local and test runs: a directory the workers can write)."""
    if job.build_log:
        with open(Path(job.build_log) / f"worker-{os.getpid()}.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")


def judge(batches: Iterator, job: Job) -> Iterator:
    """mapInArrow's function: each batch of input rows becomes a batch of output rows, in order."""
    judge_batch = _texts if job.kind == "texts" else _calls
    count = 0
    for batch in batches:
        yield _assemble(batch, job, judge_batch(batch, job, worker_detector(job)))
        count += 1
    if job.build_log:
        from pyspark import TaskContext

        _log(job, f"task\t{TaskContext.get().partitionId()}\t{count} batches")


def _assemble(batch, job: Job, computed: dict):  # noqa: ANN001, ANN202
    import pyarrow as pa

    names = [c for c in job.columns if c not in job.added]
    arrays = [batch.column(c) for c in names]  # copied through as they came (no conversion)
    for name in job.added:
        arrays.append(batch.column(job.id_col) if name == "id" else pa.array(computed[name], type=job.arrow_types[name]))
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _empty(job: Job, n: int) -> dict[str, list]:
    return {k: [None] * n for k in job.added if k != "id"}


def _versions(out: dict, i: int, d) -> None:  # noqa: ANN001
    out["lexicon_version"][i], out["model_version"][i], out["context_version"][i] = \
        d.lexicon_version, d.model_version, d.context_version


def _error(out: dict, i: int, bad: inputs.BadRecord | str, kind: str = "") -> None:
    out["error"][i] = bad if isinstance(bad, str) else bad.error
    out["error_kind"][i] = (kind or getattr(bad, "kind", "")) or None


NULL_LINE = "the JSON line is null"


def _text_records(batch, job: Job) -> list:  # noqa: ANN001
    if job.json_col is not None:  # exactly what `jiyu scan` makes of the line
        return [inputs.jsonl_record(inputs.RawLine("", 0, line, ""), job.text_col, job.id_col or "id") if line is not None
                else inputs.BadRecord("", 0, NULL_LINE) for line in batch.column(job.json_col).to_pylist()]
    # a typed column: null, or a value that is not a string, is refused with scan's words
    return [inputs.text_record({job.text_col: v}, "", 0, job.text_col) for v in batch.column(job.text_col).to_pylist()]


def _texts(batch, job: Job, d) -> dict:  # noqa: ANN001
    records = _text_records(batch, job)
    out = _empty(job, len(records))
    good = [i for i, r in enumerate(records) if isinstance(r, inputs.Record)]
    for i, r in enumerate(records):
        if isinstance(r, inputs.BadRecord):
            _error(out, i, r)
    for i, v in zip(good, d.check_many([records[i].text for i in good], job.mode)):
        if "text" in out:
            out["text"][i] = records[i].text
        out["flagged"][i], out["decision"][i], out["score"][i], out["mode"][i] = v.flagged, v.decision, v.score, v.mode
        out["labels"][i] = list(v.labels)
        out["evidence"][i] = [e.to_dict() for e in v.evidence]
        _versions(out, i, d)
    return out


def _call_objects(batch, job: Job) -> list:  # noqa: ANN001
    if job.json_col is not None:
        return [inputs.json_object(inputs.RawLine("", 0, line, "")) if line is not None
                else inputs.BadRecord("", 0, NULL_LINE) for line in batch.column(job.json_col).to_pylist()]
    names = batch.schema.names
    ids = batch.column("conversation_id").to_pylist() if "conversation_id" in names else [None] * batch.num_rows
    return [_without_nulls({"conversation_id": c, "turns": t}) for c, t in zip(ids, batch.column("turns").to_pylist())]


def _without_nulls(value):  # noqa: ANN001, ANN202
    """A row as the JSON object it stands for: Spark gives every struct all its fields, null where
    the object had none, and a field left out is what `jiyu scan` sees in a JSON line."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _calls(batch, job: Job, d) -> dict:  # noqa: ANN001
    objs = _call_objects(batch, job)
    out = _empty(job, len(objs))
    good = []
    for i, o in enumerate(objs):
        if isinstance(o, inputs.BadRecord):
            _error(out, i, o)
        else:
            good.append(i)
            cid = o.get("conversation_id")
            out["conversation_id"][i] = None if cid is None else str(cid)
    reports = d.check_conversations([objs[i] for i in good], roles=job.roles, mode=job.mode,
                                    agent_speakers=job.agent_speakers, infer_agent=job.infer_agent)
    for i, r in zip(good, reports):
        if isinstance(r, ConversationError):
            _error(out, i, str(r), "no_agent" if isinstance(r, NoAgentError) else "")
            continue
        out["conversation_id"][i] = r.conversation_id
        out["flagged"][i], out["score"][i], out["deductions"][i] = r.flagged, r.score, r.deductions
        out["violations"][i] = [v.to_dict() for v in r.violations]
        out["passed"][i], out["fatal"][i], out["score_sheet"][i] = r.passed, r.fatal, r.score_sheet
        out["turns_judged"][i], out["agent_speaker"][i], out["agent_inferred"][i] = r.turns_judged, r.agent_speaker, r.agent_inferred
        if r.agent_inferred:
            out["agent_confidence"][i], out["agent_cues"][i] = r.agent_confidence, list(r.agent_cues)
        out["skipped_turns"][i] = list(r.skipped_turns) or None
        _versions(out, i, d)
    return out
