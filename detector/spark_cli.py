"""`jiyu spark-scan INPUT... OUTPUT`: `jiyu scan` as a Spark job (detector.spark does the judging).

Reads JSONL (utterances or conversations), CSV, Parquet or a table; writes the verdicts (JSON
lines or Parquet) to OUTPUT and the rows that could not be judged, with `error`, to
OUTPUT-errors; prints `jiyu scan`'s summary and the row count check (rows in = verdicts + errors).

Each output is written by one Spark job through Spark's committer: its files appear, with a
_SUCCESS marker, only when the job succeeds. The errors are written first, then the results;
if either job fails, both paths are removed (they are this run's: existing ones are refused
before any work unless --overwrite), so a failed run leaves nothing behind. Also runnable as `spark-submit .../detector/spark_cli.py INPUT OUTPUT` (see README).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

PROG = "jiyu spark-scan"
FORMATS = ("auto", "jsonl", "conversations", "csv", "parquet")
BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"
RAW = "_jiyu_line"  # the JSON line itself, judged as `jiyu scan` reads it; kept in the errors output as `record`


def add_parser(command, add_common) -> None:  # noqa: ANN001
    """Hook into cli.build_parser: `command` makes a subparser, `add_common` adds --lexicon, --mode, ..."""
    p = command("spark-scan", "score utterances or calls with Apache Spark (pip install 'jiyu[spark]'): same verdicts as jiyu scan",
                "jiyu spark-scan replies.jsonl out/replies            # local[*]; errors in out/replies-errors",
                "jiyu spark-scan calls/ out/calls --format conversations --partitions 64 --summary s.json",
                "jiyu spark-scan lake/calls out/qa --format parquet --where \"dt = '2025-06-01'\" --partition-by dt",
                "jiyu spark-scan --table ods.calls out/qa --where \"dt = '2025-06-01'\" --conf spark.sql.catalogImplementation=hive",
                "spark-submit --master yarn --archives jiyu-env.tar.gz#env \"$(python -c 'import detector.spark_cli as m;"
                " print(m.__file__)')\" hdfs:///calls/dt=2025-06-01 hdfs:///qa/dt=2025-06-01   # see README")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="INPUT... OUTPUT: input files or directories (globs, hdfs://, s3a:// as Spark reads them), then the output directory;"
                        " with --table only OUTPUT")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="input format; auto: parquet for .parquet or a directory of them, csv for .csv/.tsv, conversations"
                        " when a local JSONL file's first object has turns, else jsonl. Parquet and tables with a `turns`"
                        " column are calls")
    p.add_argument("--table", metavar="NAME", help="read this table (Hive or the session's catalog) instead of files")
    p.add_argument("--where", metavar="EXPR", help="Spark SQL filter on the input, e.g. \"dt = '2025-06-01'\" (partition pruning)")
    p.add_argument("--output-format", choices=("auto", "jsonl", "parquet"), default="auto",
                   help="auto: parquet for parquet and table input, else JSON lines (part files in OUTPUT)")
    p.add_argument("--errors", metavar="PATH", help="where rows that could not be judged go (default: OUTPUT-errors)")
    p.add_argument("--summary", metavar="FILE", help="write jiyu scan's summary JSON here (a local file on the driver)")
    p.add_argument("--master", help="Spark master (default: the one spark-submit gives, else local[*])")
    p.add_argument("--partitions", type=int, metavar="N", help="repartition the input into N partitions before judging")
    p.add_argument("--partition-by", action="append", default=[], metavar="COLUMN",
                   help="write the outputs partitioned by this input column, e.g. dt (repeatable)")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="Spark configuration (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT and the errors output if they exist")
    p.add_argument("--text-field", default="text", help="JSONL field / column holding the text")
    p.add_argument("--id-field", default="id", help="JSONL field / column holding the id")
    p.add_argument("--encoding", default="UTF-8", help="CSV encoding (Spark's reader: e.g. GB18030)")
    p.add_argument("--roles", nargs="+", default=["agent"], help="conversation roles to judge")
    p.add_argument("--agent-speakers", nargs="+", default=[], metavar="NAME", help="speaker names that are agents")
    p.add_argument("--no-infer-agent", dest="infer_agent", action="store_false",
                   help="never infer the agent from what speakers say: a call with no speaker named as agent is an error row")
    p.add_argument("--agent-field", default="agent_id", help="conversation column naming the agent, for the per-agent summary")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    add_common(p, "qa")
    p.set_defaults(func=run)


def _usage_error(args: argparse.Namespace) -> str | None:
    want = 1 if args.table else 2
    if len(args.paths) < want or (args.table and len(args.paths) != 1):
        return "give INPUT... OUTPUT, or --table NAME OUTPUT"
    if args.partitions is not None and args.partitions < 1:
        return f"--partitions {args.partitions}: needs at least 1"
    bad = [kv for kv in args.conf if "=" not in kv]
    if bad:
        return f"--conf {bad[0]!r}: expected KEY=VALUE"
    return None


def _format(args: argparse.Namespace, inputs: list[str]) -> str:
    if args.table or args.format != "auto":
        return "table" if args.table else args.format
    first = Path(inputs[0])
    if first.suffix.lower() == ".parquet" or (first.is_dir() and any(first.rglob("*.parquet"))):
        return "parquet"
    if first.is_dir():  # a folder of JSON lines: its first file says utterances or calls
        first = next(iter(sorted(p for p in first.rglob("*.json*") if p.is_file())), first)
    if first.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    if first.is_file():
        from .scan import detect

        return detect(first)
    return "jsonl"


def session(args: argparse.Namespace):  # noqa: ANN201
    """The active session (a notebook's, a test's), else a new one; (session, made here)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started us: its --master holds
    master = args.master or (None if under_submit else "local[*]")
    b = SparkSession.builder.appName(PROG)
    if master:
        b = b.master(master)
        if master.startswith("local"):  # local workers run this interpreter, which has jiyu
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # the v1 committer: a job's files move into place only when the whole job commits
    b = b.config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1")
    b = b.config("spark.ui.showConsoleProgress", str(sys.stderr.isatty()).lower())  # stage bars only on a terminal
    for kv in args.conf:
        b = b.config(*kv.split("=", 1))
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark, True


def read(spark, fmt: str, inputs: list[str], args: argparse.Namespace):  # noqa: ANN001, ANN201
    """The input DataFrame; JSONL keeps each line in RAW, judged as `jiyu scan` reads it."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    if fmt == "table":
        df = spark.table(args.table)
    elif fmt == "parquet":
        df = spark.read.parquet(*inputs)
    elif fmt == "csv":
        # every field a string and an empty one "" as `jiyu scan` reads CSV (Spark reads empty as null)
        df = spark.read.option("header", True).option("encoding", args.encoding) \
            .option("sep", "\t" if inputs[0].lower().endswith(".tsv") else ",").csv(inputs).na.fill("")
    else:  # jsonl, conversations: typed columns inferred by Spark are copied through; the line is judged
        lines = spark.read.text(inputs).where(F.col("value").rlike(r"(?U)\S")).withColumnRenamed("value", RAW)
        # a call's turns are judged from the line: not parsed into columns too (the biggest field, in and out of Python)
        skip = {"_corrupt_record", *(["turns"] if fmt == "conversations" else [])}
        fields = [f for f in spark.read.json(inputs).schema.fields if f.name not in skip]
        df = lines.select(F.from_json(RAW, StructType(fields)).alias("r"), RAW).select("r.*", RAW) if fields else lines
    if args.where:
        df = df.where(args.where)
    if args.partitions:
        df = df.repartition(args.partitions)
    return df


def score(df, fmt: str, args: argparse.Namespace):  # noqa: ANN001, ANN201
    from . import spark as jspark

    common = {"mode": args.mode, "lexicons": args.lexicon or (), "classifier": args.classifier, "model_dir": args.model_dir,
              "json_col": RAW if RAW in df.columns else None}
    if fmt == "conversations" or (fmt in ("parquet", "table") and "turns" in df.columns):
        return jspark.score_conversations(df, roles=args.roles, agent_speakers=args.agent_speakers,
                                          infer_agent=args.infer_agent, **common), True
    id_col = args.id_field if args.id_field in df.columns else None
    return jspark.score_texts(df, text_col=args.text_field, id_col=id_col, **common), False


def run(args: argparse.Namespace) -> int:
    problem = _usage_error(args)
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print(f"{PROG}: needs pyspark and pyarrow: pip install 'jiyu[spark]' (and a Java 17+ runtime)", file=sys.stderr)
        return 2
    from pyspark.errors import PySparkException
    from py4j.protocol import Py4JJavaError

    inputs, output = args.paths[:-1], args.paths[-1]
    errors_out = args.errors or output.rstrip("/") + "-errors"
    spark, made = session(args)
    try:
        fmt = _format(args, inputs)
        df = read(spark, fmt, inputs, args)
        scored, calls = score(df, fmt, args)
        previous = spark.conf.get(BATCH)
        if calls and previous == "10000" and not spark.sparkContext.getConf().contains(BATCH):  # Spark's default, not chosen
            spark.conf.set(BATCH, "1000")  # a call is ~20 turns: smaller batches overlap reading and judging
        try:
            return _write(spark, df, scored, calls, fmt, output, errors_out, args)
        finally:
            spark.conf.set(BATCH, previous)  # the session may be a notebook's: left as found
    except (PySparkException, Py4JJavaError, ValueError) as e:
        print(f"{PROG}: {_first_line(e)}", file=sys.stderr)
        return 2
    finally:
        if made:
            spark.stop()


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _write(spark, df, scored, calls: bool, fmt: str, output: str, errors_out: str, args: argparse.Namespace) -> int:  # noqa: ANN001
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from . import spark as jspark
    from .scan_report import summary_lines

    out_fmt = args.output_format if args.output_format != "auto" else ("parquet" if fmt in ("parquet", "table") else "jsonl")
    verdict_cols = [c for c in scored.columns if c in jspark.TYPES and c not in ("error", "error_kind", "id", "text", "conversation_id")]
    results = scored.where(F.col("error").isNull()).drop("error", "error_kind", RAW, *(["turns"] if calls else []))
    # an error row: what came in (the JSON line itself as `record`), and why it was not judged
    errors = scored.where(F.col("error").isNotNull()).drop(*verdict_cols)
    if RAW in errors.columns:
        errors = errors.withColumnRenamed(RAW, "record")
    if not args.overwrite:  # refused before any work, and before a failure could remove what is not ours
        taken = [p for p in (output, errors_out) if _fs(spark, p)[0].exists(_fs(spark, p)[1])]
        if taken:
            raise ValueError(f"{', '.join(taken)} already exist(s): choose new paths, or --overwrite")
    scored.persist(StorageLevel.MEMORY_AND_DISK)  # judged once; written twice and summed up
    try:
        try:
            _save(errors, errors_out, out_fmt, args)
            _save(results, output, out_fmt, args)
        except Exception:
            for path in (errors_out, output):  # this run's: a half-finished run leaves nothing behind
                fs, p = _fs(spark, path)
                fs.delete(p, True)
            raise
        summary, versions = jspark.summarise(scored, args.agent_field)
        rows_in = df.count()  # the input read again, without judging: the check that no row went missing
    finally:
        scored.unpersist()
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    judged = summary.scored + summary.skipped
    if not args.quiet:
        lexicon, model = versions[:2] if versions else ("?", None)
        for line in summary_lines(summary, PROG, args.mode, f"{lexicon}, model {model or 'off'}"):
            print(line, file=sys.stderr)
        print(f"{PROG}: {rows_in} rows in = {summary.scored} with a verdict ({output}) + {summary.skipped} errors"
              f" ({errors_out}) [master {spark.sparkContext.master}]", file=sys.stderr)
    if judged != rows_in:  # never expected: say so loudly rather than hand over a short result
        print(f"{PROG}: {rows_in} rows in but {judged} out: rows were lost", file=sys.stderr)
        return 2
    return 0


def _save(df, path: str, fmt: str, args: argparse.Namespace) -> None:  # noqa: ANN001
    w = df.write.mode("overwrite" if args.overwrite else "errorifexists")
    keys = [c for c in args.partition_by if c in df.columns]
    if len(keys) != len(args.partition_by):
        missing = sorted(set(args.partition_by) - set(df.columns))
        raise ValueError(f"--partition-by {', '.join(missing)}: no such column; the output has {', '.join(df.columns)}")
    if keys:
        w = w.partitionBy(*keys)
    if fmt == "parquet":
        w.parquet(path)
    else:  # JSON lines, UTF-8 as written (no \\u escapes), null fields left out as jiyu scan does for optional ones
        w.json(path)


def _fs(spark, path: str):  # noqa: ANN001, ANN202
    """(Hadoop FileSystem, Path) of `path`: HDFS, S3 or local, as Spark writes it."""
    p = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), p


def main(argv: list[str] | None = None) -> int:
    """`spark-submit .../detector/spark_cli.py ARGS`: the spark-scan options, without the subcommand."""
    from detector.cli import main as jiyu  # absolute: spark-submit runs this file as __main__

    return jiyu(["spark-scan", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    # run as a file, Python put this folder first on the path: `detector` would be detector/detector.py
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.exit(main())
