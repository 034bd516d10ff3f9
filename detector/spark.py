"""jiyu on Apache Spark: `score_texts` and `score_conversations` return the verdicts of `jiyu scan`.

    from detector.spark import score_texts, score_conversations
    verdicts = score_texts(spark.read.parquet("replies/dt=2025-06-01"), id_col="msg_id")
    reports = score_conversations(spark.table("ods.calls").where("dt = '2025-06-01'"), lexicons=["my_pack"])

Each returns the input's columns and the columns of `jiyu scan`'s output lines, with an explicit
schema (TEXT_FIELDS, CALL_FIELDS); a field that `jiyu scan` leaves out of a line is null here.
A row that cannot be judged (text null or not a string, a malformed conversation) comes back
with `error` (the same message as `jiyu scan --errors`) and `error_kind`, and no verdict.

The work runs in `mapInArrow` (detector.spark_worker): one Detector per executor Python process,
built on its first batch and reused by every later batch and task (keyed by packs and model).
Lexicon packs and a model directory given here are shipped with the job (`SparkContext.addFile`),
named by their content: executors need no shared disk, only jiyu installed.

pyspark is imported inside the functions: `import detector.spark` costs nothing.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .spark_worker import CALL_FIELDS, TEXT_FIELDS, Job

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["score_texts", "score_conversations", "TEXT_FIELDS", "CALL_FIELDS", "summarise", "to_scan_record"]

# Spark DDL of the fields every call and utterance carries, as `jiyu scan` writes them.
EVIDENCE = ("struct<start:int,end:int,text:string,category:string,source:string,rule_id:string,"
            "severity:int,score:double,suggestion:string>")
VIOLATION = (f"struct<turn:int,speaker:string,start:double,end:double,text:string,decision:string,score:double,"
             f"labels:array<string>,evidence:array<{EVIDENCE}>,deduction:double>")
TYPES = {
    "id": None,  # the id column's own type
    "text": "string", "flagged": "boolean", "decision": "string", "score": "double", "labels": "array<string>",
    "evidence": f"array<{EVIDENCE}>", "mode": "string",
    "conversation_id": "string", "violations": f"array<{VIOLATION}>", "deductions": "double", "passed": "boolean",
    "fatal": "boolean", "score_sheet": "string", "turns_judged": "int", "agent_speaker": "string",
    "agent_inferred": "boolean", "agent_confidence": "double", "agent_cues": "array<string>",
    "skipped_turns": "array<struct<turn:int,speaker:string,error:string>>",
    "lexicon_version": "string", "model_version": "string", "context_version": "string",
    "error": "string", "error_kind": "string",
}
# Fields of scan's output that it leaves out when empty (null in the DataFrame).
OPTIONAL = {"agent_confidence", "agent_cues", "skipped_turns", "suggestion"}


def score_texts(df: DataFrame, text_col: str = "text", id_col: str | None = None, mode: str = "qa",
                lexicons: Sequence[str | Path] = (), *, json_col: str | None = None, classifier: bool = True,
                model_dir: str | Path | None = None) -> DataFrame:
    """One verdict per row: the input columns, then `id` (the `id_col` column, when given) and
    `text` (the text judged, when `text_col` is another column or `json_col` is used), then TEXT_FIELDS.

    `json_col`: a column holding each record as a JSON line (the CLI reads JSONL so): the text and
    the errors then come from that line exactly as `jiyu scan` reads it; the typed columns are only
    copied through."""
    _check_columns(df, ([text_col] if json_col is None else [json_col]) + ([id_col] if id_col else []))
    job = _job(df, "texts", mode, lexicons, classifier, model_dir, text_col=text_col, id_col=id_col, json_col=json_col)
    return _run(df, job)


def score_conversations(df: DataFrame, mode: str = "qa", lexicons: Sequence[str | Path] = (), *,
                        roles: Sequence[str] = ("agent",), agent_speakers: Sequence[str] = (), infer_agent: bool = True,
                        json_col: str | None = None, classifier: bool = True, model_dir: str | Path | None = None) -> DataFrame:
    """One call report per row: a conversation per row with `conversation_id` and `turns` (an
    array of structs with speaker, text, start, end: the conversations JSONL contract; other
    columns are copied through). `conversation_id` comes back as a string, as `jiyu scan` writes it."""
    _check_columns(df, ["turns"] if json_col is None else [json_col])
    job = _job(df, "calls", mode, lexicons, classifier, model_dir, roles=tuple(roles),
               agent_speakers=tuple(agent_speakers), infer_agent=infer_agent, json_col=json_col)
    return _run(df, job)


def _check_columns(df: DataFrame, needed: list[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:  # nothing could be judged: say so now, as `jiyu scan` does for a file without the field
        raise ValueError(f"no column {', '.join(map(repr, missing))}; the DataFrame has {', '.join(df.columns)}")


def _job(df: DataFrame, kind: str, mode: str, lexicons, classifier: bool, model_dir, **kw) -> Job:  # noqa: ANN001, ANN003
    from pyspark.sql.types import _parse_datatype_string

    from .scorer import check_mode

    check_mode(mode)
    if lexicons:  # a broken pack is refused here, naming its problems, not in every task's traceback
        from .compiled import compile_lexicon
        from .detector import _pinyin_table

        compile_lexicon(list(lexicons), True, _pinyin_table())
    spark = df.sparkSession
    added = list(TEXT_FIELDS if kind == "texts" else CALL_FIELDS)
    if kind == "texts":  # scan's line has `id` and `text` whatever the input calls them
        text = kw["text_col"] != "text" or "text" not in df.columns
        added = (["id"] if kw.get("id_col") else []) + (["text"] if text else []) + added
    types = {name: _arrow(_parse_datatype_string(TYPES[name])) for name in added if name != "id"}
    return Job(kind=kind, mode=mode, columns=tuple(df.columns), added=tuple(added), arrow_types=types,
               packs=tuple(ship(spark, p) for p in lexicons), classifier=classifier,
               model=ship(spark, model_dir) if model_dir else None,
               build_log=os.environ.get("JIYU_SPARK_BUILD_LOG"), **kw)


def _schema(df: DataFrame, job: Job):  # noqa: ANN202
    """The output schema: input columns not replaced, then the added ones (explicit types)."""
    from pyspark.sql.types import StructField, StructType, _parse_datatype_string

    inputs = {f.name: f for f in df.schema.fields}
    fields = [f for f in df.schema.fields if f.name not in job.added]
    for name in job.added:
        if name == "id":
            fields.append(StructField("id", inputs[job.id_col].dataType, True))
        else:
            fields.append(StructField(name, _parse_datatype_string(TYPES[name]), True))
    return StructType(fields)


def _arrow(t):  # noqa: ANN001, ANN202
    """The Arrow type of one of TYPES' Spark types (the few kinds they use)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    if isinstance(t, T.StructType):
        return pa.struct([pa.field(f.name, _arrow(f.dataType)) for f in t.fields])
    if isinstance(t, T.ArrayType):
        return pa.list_(_arrow(t.elementType))
    return {T.StringType: pa.string(), T.IntegerType: pa.int32(), T.DoubleType: pa.float64(),
            T.BooleanType: pa.bool_()}[type(t)]


def _run(df: DataFrame, job: Job) -> DataFrame:
    from .spark_worker import judge

    schema = _schema(df, job)
    return df.mapInArrow(lambda batches: judge(batches, job), schema)


# -- shipping packs to executors ------------------------------------------------------------------


def ship(spark, path: str | Path) -> str:  # noqa: ANN001
    """Add a pack (or model) directory to the job under a name made from its content, and return
    the name (executors open it with SparkFiles.get). The same content is shipped once per
    application; changed content is a new name, so a long-lived session never mixes versions."""
    src = Path(path)
    if not src.is_dir():
        raise ValueError(f"{path}: not a directory (a lexicon pack or model directory is a folder)")
    name = f"jiyu-{src.name}-{_content_hash(src)}"
    staged = _staging() / name
    if not staged.exists():
        tmp = staged.with_name(name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        tmp.rename(staged)
    if name not in _SHIPPED.setdefault(id(spark.sparkContext), set()):
        spark.sparkContext.addFile(str(staged), recursive=True)
        _SHIPPED[id(spark.sparkContext)].add(name)
    return name


@lru_cache(maxsize=1)
def _staging() -> Path:
    """This driver's folder of shipped copies (Spark serves them from here for the whole
    application; removed when the driver exits)."""
    root = Path(tempfile.mkdtemp(prefix="jiyu-spark-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


_SHIPPED: dict[int, set[str]] = {}  # names added to each SparkContext (addFile twice only warns, but noisily)


def _content_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# -- reading the results back ------------------------------------------------------------------------


def to_scan_record(row: dict) -> dict:
    """A result row (Row.asDict(recursive=True)) in the shape of `jiyu scan`'s JSON line: the
    optional fields that are null left out (scan omits them), input columns that are null left out
    (Spark cannot tell a field absent from a null one); `error`, `error_kind` and a call's `turns`
    (scan writes the report, not the call) dropped."""
    out = {}
    calls = "violations" in row
    for k, v in row.items():
        if k in ("error", "error_kind") or (calls and k == "turns") or (v is None and (k in OPTIONAL or k not in TYPES)):
            continue
        out[k] = v
    for key in ("evidence", "violations"):
        for item in out.get(key) or []:
            _drop_empty(item)
    return out


def _drop_empty(item: dict) -> None:
    if item.get("suggestion") is None:
        item.pop("suggestion", None)
    for e in item.get("evidence", ()):
        _drop_empty(e)


def summarise(scored: DataFrame, agent_field: str = "agent_id"):  # noqa: ANN201
    """(Summary, versions): `jiyu scan`'s summary (scan_report.Summary, what scan_report.facts
    counts) of a scored DataFrame and the (lexicon, model, context) versions it was judged with.
    Two aggregations in Spark (totals per agent, labels per agent): no row goes through Python."""
    from pyspark.sql import functions as F

    from .scan_report import NO_AGENT_ID, Summary

    ok = F.col("error").isNull()
    calls = "violations" in scored.columns
    agent = F.coalesce(F.col(agent_field).cast("string"), F.lit("")) if calls and agent_field in scored.columns else F.lit("")
    if calls:  # a call's labels: every label of every flagged turn
        labels = F.flatten(F.transform("violations", lambda v: v["labels"]))
        def turns_with(decision: str):  # noqa: ANN202 (a one-argument lambda: Spark reads a second as the index)
            return F.size(F.filter("violations", lambda v: v["decision"] == decision))

        turns = {d: turns_with(d) for d in ("violation", "review")}
        violating = turns["violation"] > 0
    else:
        labels, violating = F.col("labels"), F.col("decision") == "violation"

    def count(cond):  # noqa: ANN001, ANN202
        return F.count(F.when(cond, 1))

    aggs = [count(ok).alias("scored"), count(ok & F.col("flagged")).alias("flagged"), count(ok & violating).alias("violations"),
            count(~ok).alias("skipped"), count(F.col("error_kind") == "no_agent").alias("no_agent")]
    aggs += [F.first(F.col(v), ignorenulls=True).alias(v) for v in ("lexicon_version", "model_version", "context_version")]
    if calls:
        aggs += [count(ok & F.col("agent_inferred")).alias("agent_inferred"), count(ok & F.col("passed")).alias("passed"),
                 F.sum(F.when(ok, F.col("score"))).alias("score_sum"),
                 F.sum(F.when(ok, turns["violation"])).alias("violating_turns"), F.sum(F.when(ok, turns["review"])).alias("reviews")]
    per_agent = scored.groupBy(agent.alias("agent")).agg(*aggs).collect()
    per_label = scored.where(ok).select(agent.alias("agent"), F.explode(labels).alias("label")) \
        .groupBy("agent", "label").count().collect()

    s = Summary()
    versions = None
    for r in per_agent:
        for k in ("scored", "flagged", "violations", "skipped", "no_agent"):
            setattr(s, k, getattr(s, k) + r[k])
        versions = versions or (r["lexicon_version"] and (r["lexicon_version"], r["model_version"], r["context_version"]))
        if calls and r["scored"]:
            s.agent_inferred += r["agent_inferred"]
            a = s.agents[r["agent"] or NO_AGENT_ID]
            a.update(calls=r["scored"], flagged_calls=r["flagged"], violations=r["violating_turns"], reviews=r["reviews"],
                     score_sum=r["score_sum"], passed=r["passed"])
    for r in per_label:
        s.per_category[r["label"]] += r["count"]
        if calls:
            s.agents[r["agent"] or NO_AGENT_ID]["categories"][r["label"]] += r["count"]
    return s, versions or None
