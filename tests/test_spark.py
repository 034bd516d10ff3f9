"""jiyu on Spark (detector.spark, `jiyu spark-scan`) against `jiyu scan` on the same inputs.

One local[2] SparkSession for the whole file (Java 17+ and pyspark needed; .ci/run installs both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from detector.cli import main as jiyu

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BAD_CALLS = ROOT / "tests" / "fixtures" / "bad_calls.jsonl"


def _java_problem() -> str | None:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        return "no Java runtime (Spark needs Java 17+; .ci/run installs openjdk-17-jre-headless)"
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    major = re.search(r'version "(\d+)', out)
    return None if major and int(major.group(1)) >= 17 else f"Java 17+ needed, found: {out.splitlines()[:1]}"


pytest.importorskip("pyspark", reason="pyspark not installed: pip install -e '.[spark]'")
if _java_problem():
    pytest.skip(_java_problem(), allow_module_level=True)

from detector import spark as jspark  # noqa: E402


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this interpreter (jiyu importable)
    s = (SparkSession.builder.master("local[2]").appName("jiyu-tests")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "4").config("spark.default.parallelism", "4").getOrCreate())
    s.sparkContext.setLogLevel("WARN")
    yield s
    s.stop()


# -- helpers ------------------------------------------------------------------------------------------


def scan(tmp: Path, src: Path, *flags: str) -> tuple[list[dict], list[dict], dict]:
    """`jiyu scan` of `src`: (output lines, --errors lines, --summary)."""
    out, err, summary = tmp / f"{src.stem}.scan.jsonl", tmp / f"{src.stem}.scan-errors.jsonl", tmp / f"{src.stem}.scan-summary.json"
    assert jiyu(["scan", str(src), "-o", str(out), "--errors", str(err), "--summary", str(summary), "-q", *flags]) in (0, 1)
    return _lines(out), _lines(err), json.loads(summary.read_text(encoding="utf-8"))


def _lines(path: Path) -> list[dict]:
    files = sorted(path.glob("part-*")) if path.is_dir() else [path]
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def records(df) -> list[dict]:  # noqa: ANN001
    return [jspark.to_scan_record(r.asDict(recursive=True)) for r in df.collect()]


def assert_same(mine: list[dict], theirs: list[dict], key: str) -> None:
    """Row by row, matched by `key`: every field of every line equal."""
    assert len(mine) == len(theirs)
    by_key = {r[key]: r for r in theirs}
    assert len(by_key) == len(theirs)
    for r in mine:
        assert r == by_key[r[key]], r[key]


def _without_none(value):  # noqa: ANN001, ANN202
    """Spark's JSON writer leaves null fields out; jiyu scan writes a few nulls."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def generated(tmp: Path, n_texts: int = 2400, n_calls: int = 300) -> tuple[Path, Path]:
    """Utterances and calls made of the tone corpus's lines: rude, clean and hard negatives."""
    lines = [json.loads(x) for f in sorted((ROOT / "data" / "tone" / "batches").glob("*.jsonl"))
             for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
    lines = lines[:: max(1, len(lines) // n_texts)][:n_texts]
    texts = [{"id": f"g{k}", "text": r["text"], "channel": r.get("style", "chat"), "labelled": r.get("labels", [])}
             for k, r in enumerate(lines)]
    customer = ["我想问一下我的订单", "怎么还没到", "好的谢谢", "你们这什么服务"]
    calls = []
    for c in range(n_calls):
        turns = []
        for t in range(6):
            text = customer[(c + t) % 4] if t % 2 else lines[(c * 3 + t // 2) % len(lines)]["text"]
            turns.append({"speaker": "customer" if t % 2 else "agent", "start": t * 3.0, "end": t * 3.0 + 2.0, "text": text})
        calls.append({"conversation_id": f"call-{c}", "agent_id": f"A{c % 7}", "channel": "call", "turns": turns})
    return _write_jsonl(tmp / "texts.jsonl", texts), _write_jsonl(tmp / "calls.jsonl", calls)


# -- the library API against jiyu scan --------------------------------------------------------------


def test_when_example_utterances_scored_then_each_row_is_what_scan_writes(spark, tmp_path):
    src = EXAMPLES / "utterances.jsonl"
    expected, _, _ = scan(tmp_path, src)
    assert_same(records(jspark.score_texts(spark.read.json(str(src)).repartition(3))), expected, "id")


def test_when_example_calls_scored_then_each_report_is_what_scan_writes(spark, tmp_path):
    src = EXAMPLES / "conversations.jsonl"
    expected, _, _ = scan(tmp_path, src)
    assert_same(records(jspark.score_conversations(spark.read.json(str(src)).repartition(3))), expected, "conversation_id")


def test_when_thousands_of_generated_rows_in_several_partitions_then_identical_to_scan(spark, tmp_path):
    texts, calls = generated(tmp_path)
    expected, _, summary = scan(tmp_path, texts)
    scored = jspark.score_texts(spark.read.json(str(texts)).repartition(6))
    assert scored.rdd.getNumPartitions() == 6
    mine = records(scored)
    assert_same(mine, expected, "id")
    assert 0.1 < sum(r["flagged"] for r in mine) / len(mine) < 0.9  # rude and clean lines both
    got, _ = jspark.summarise(scored)
    assert got.to_dict() == summary

    expected, _, summary = scan(tmp_path, calls)
    scored = jspark.score_conversations(spark.read.json(str(calls)).repartition(5))
    assert_same(records(scored), expected, "conversation_id")
    got, _ = jspark.summarise(scored)
    assert got.to_dict() == summary  # per agent too


def test_when_text_is_null_or_not_a_string_then_error_row_with_scans_reason(spark, tmp_path):
    rows = [{"id": "ok", "text": "问别人去"}, {"id": "null", "text": None}, {"id": "num", "text": 5}]
    _, scan_errors, _ = scan(tmp_path, _write_jsonl(tmp_path / "bad.jsonl", rows))
    reasons = {e["id"]: e["error"] for e in scan_errors}

    typed = spark.createDataFrame([("ok", "问别人去"), ("null", None)], "id string, text string")
    numbers = spark.createDataFrame([("num", 5)], "id string, text long")
    got = {r["id"]: r for df in (typed, numbers) for r in (x.asDict(recursive=True) for x in jspark.score_texts(df).collect())}
    assert got["ok"]["error"] is None and got["ok"]["decision"] != "pass"
    for rid in ("null", "num"):
        assert got[rid]["error"] == reasons[rid]
        assert got[rid]["decision"] is None and got[rid]["evidence"] is None  # no verdict


def test_when_conversation_is_malformed_then_error_row_with_scans_reason(spark, tmp_path):
    src = _write_jsonl(tmp_path / "calls.jsonl", [
        {"conversation_id": "ok", "turns": [{"speaker": "agent", "text": "问别人去", "start": 0.0, "end": 1.0}]},
        {"conversation_id": "order", "turns": [{"speaker": "agent", "text": "您好", "start": 5.0, "end": 6.0},
                                               {"speaker": "customer", "text": "嗯", "start": 1.0, "end": 2.0}]},
        {"conversation_id": "no-text", "turns": [{"speaker": "agent", "start": 0.0, "end": 1.0}]},
        {"conversation_id": "empty", "turns": []},
        {"conversation_id": "nobody", "turns": [{"speaker": "x", "text": "你好", "start": 0.0, "end": 1.0}]},
    ])
    expected, scan_errors, _ = scan(tmp_path, src, "--no-infer-agent")
    df = spark.read.json(str(src))
    got = {r["conversation_id"]: r for r in (x.asDict(recursive=True) for x in jspark.score_conversations(df, infer_agent=False).collect())}
    assert {e["id"]: e["error"] for e in scan_errors} == {k: r["error"] for k, r in got.items() if r["error"]}
    assert got["nobody"]["error_kind"] == "no_agent" and got["order"]["error_kind"] is None
    assert got["order"]["violations"] is None and got["order"]["score"] is None
    assert jspark.to_scan_record(got["ok"]) == expected[0]


def test_when_json_lines_judged_from_the_line_then_even_broken_lines_get_scans_reason(spark, tmp_path):
    # the CLI's path for JSONL: Spark's typed columns cannot say "not valid JSON" or "a number, not a string"
    src = _write_jsonl(tmp_path / "mixed.jsonl", [{"id": "a", "text": "有完没完"}, {"id": "b", "text": 7}, "[1, 2]",
                                                   "{broken", {"id": "c"}, {"id": "d", "text": "您好"}])
    expected, scan_errors, _ = scan(tmp_path, src)
    df = spark.read.text(str(src)).withColumnRenamed("value", "line")
    got = [r.asDict() for r in jspark.score_texts(df, json_col="line").collect()]
    assert sorted(r["error"] for r in got if r["error"]) == sorted(e["error"] for e in scan_errors)
    verdicts = {r["text"]: (r["decision"], r["score"]) for r in got if not r["error"]}
    assert verdicts == {r["text"]: (r["decision"], r["score"]) for r in expected}


def _pack(root: Path, phrase: str) -> Path:
    pack = root / "org_pack"
    pack.mkdir()
    (pack / "rules.yaml").write_text(f"entries:\n  - {{id: org-1, phrase: {phrase}, category: impatient, severity: 2}}\n",
                                     encoding="utf-8")
    return pack


def test_when_organisation_pack_given_then_executors_judge_with_it(spark, tmp_path):
    pack = _pack(tmp_path, "你自己百度去")
    df = spark.createDataFrame([("1", "这个你自己百度去吧"), ("2", "您好")], "id string, text string").repartition(2)
    plain = {r["id"]: r for r in records(jspark.score_texts(df))}
    scored = jspark.score_texts(df, lexicons=[pack])
    shutil.rmtree(pack)  # the job carries the pack: the executors never open the driver's folder
    mine = {r["id"]: r for r in records(scored)}
    assert "org-1" in {e["rule_id"] for e in mine["1"]["evidence"]}
    assert "org-1" not in {e["rule_id"] for e in plain["1"]["evidence"]}
    assert mine["1"]["lexicon_version"] != plain["1"]["lexicon_version"]


def test_when_pack_is_broken_then_refused_on_the_driver_naming_the_problem(spark, tmp_path):
    from detector.lexicon import LexiconError

    pack = tmp_path / "broken"
    pack.mkdir()
    (pack / "rules.yaml").write_text("entries:\n  - {id: x-1, phrase: 你自己百度去, category: no-such-category, severity: 2}\n",
                                     encoding="utf-8")
    df = spark.createDataFrame([("1", "您好")], "id string, text string")
    with pytest.raises(LexiconError, match=r"broken.rules\.yaml:2: category"):
        jspark.score_texts(df, lexicons=[pack])


def test_when_many_batches_and_tasks_then_one_detector_per_worker_process(spark, tmp_path, monkeypatch):
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("JIYU_SPARK_BUILD_LOG", str(log))  # read on the driver when the job is planned
    pack = _pack(tmp_path, f"测试短语{uuid.uuid4().hex[:6]}")  # a key no earlier test built: every worker starts cold
    texts = [(str(k), "您好，请问有什么可以帮您" if k % 3 else "有完没完") for k in range(1600)]
    df = spark.createDataFrame(texts, "id string, text string").repartition(8)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")
    try:
        assert len(jspark.score_texts(df, lexicons=[pack], classifier=False).collect()) == 1600
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    per_process = {f.name: f.read_text(encoding="utf-8").splitlines() for f in log.glob("worker-*.log")}
    builds = {name: sum(line.startswith("build") for line in lines) for name, lines in per_process.items()}
    tasks = [line for lines in per_process.values() for line in lines if line.startswith("task")]
    batches = sum(int(line.split("\t")[2].split()[0]) for line in tasks)
    assert len(tasks) == 8 and batches >= 32  # 8 tasks, 200 rows each, in batches of 50
    assert set(builds.values()) == {1}  # every process that judged built exactly once
    assert len(builds) <= 2 < len(tasks)  # local[2]: at most two Python workers, reused across tasks


# -- jiyu spark-scan ----------------------------------------------------------------------------------


def test_when_spark_scan_runs_then_outputs_errors_and_summary_match_scan(spark, tmp_path, capsys):
    src = _write_jsonl(tmp_path / "mixed.jsonl", [*(_lines(EXAMPLES / "utterances.jsonl")), {"id": "n", "text": None}, "{bad"])
    expected, scan_errors, scan_summary = scan(tmp_path, src)
    capsys.readouterr()
    assert jiyu(["scan", str(src), "-o", str(tmp_path / "again.jsonl")]) == 0
    scan_said = capsys.readouterr().err.splitlines()[-1]
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    assert jiyu(["spark-scan", str(src), str(out), "--summary", str(summary)]) == 0
    said = capsys.readouterr().err
    assert_same([_without_none(r) for r in _lines(out)], [_without_none(r) for r in expected], "id")
    errors = _lines(tmp_path / "out-errors")
    assert sorted(e["error"] for e in errors) == sorted(e["error"] for e in scan_errors)
    assert "{bad" in {e.get("record") for e in errors}  # the line itself, to be fixed and sent again
    assert json.loads(summary.read_text(encoding="utf-8")) == scan_summary
    assert scan_said.replace("jiyu scan:", "jiyu spark-scan:") in said.splitlines()
    assert f"42 rows in = 40 with a verdict ({out}) + 2 errors" in said
    assert (out / "_SUCCESS").exists()


def test_when_spark_scan_reads_csv_then_same_verdicts_as_scan(spark, tmp_path):
    src = tmp_path / "replies.csv"
    src.write_text("id,reply,agent\nr1,有完没完,A\nr2,您好，请问有什么可以帮您,B\nr3,,C\n", encoding="utf-8")
    expected, _, _ = scan(tmp_path, src, "--text-column", "reply")
    assert jiyu(["spark-scan", str(src), str(tmp_path / "out"), "--text-field", "reply", "-q"]) == 0
    assert_same(_lines(tmp_path / "out"), expected, "id")  # an empty field is an empty text, as in scan


def test_when_calls_read_from_a_days_partition_then_output_partitioned_by_date(spark, tmp_path, capsys):
    calls = [dict(c, dt=day) for day in ("2025-06-01", "2025-06-02") for c in _lines(EXAMPLES / "conversations.jsonl")]
    lake = tmp_path / "lake"
    spark.createDataFrame(spark.read.json(str(_write_jsonl(tmp_path / "c.jsonl", calls))).rdd).write.partitionBy("dt").parquet(str(lake))
    out = tmp_path / "qa"
    assert jiyu(["spark-scan", str(lake), str(out), "--where", "dt = '2025-06-01'", "--partition-by", "dt",
                 "--output-format", "jsonl"]) == 0
    assert [p.name for p in out.glob("dt=*")] == ["dt=2025-06-01"]
    expected, _, _ = scan(tmp_path, EXAMPLES / "conversations.jsonl")
    assert_same([_without_none(r) for r in _lines(out / "dt=2025-06-01")], [_without_none(r) for r in expected], "conversation_id")
    assert "6 rows in = 6 with a verdict" in capsys.readouterr().err

    spark.read.parquet(str(lake)).createOrReplaceTempView("calls_table")  # --table: the session's catalog
    assert jiyu(["spark-scan", "--table", "calls_table", str(tmp_path / "t"), "--where", "dt = '2025-06-02'"]) == 0
    assert spark.read.parquet(str(tmp_path / "t")).count() == 6


def test_when_the_job_fails_midway_then_no_output_looks_complete(spark, tmp_path, capsys):
    good = _write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{k}", "text": "您好"} for k in range(50)])
    bad = _write_jsonl(tmp_path / "b.jsonl", [{"id": "boom", "text": "您好"}])
    out = tmp_path / "out"
    # a filter that fails while the job runs, in the task reading b.jsonl (a.jsonl's task may have committed)
    code = jiyu(["spark-scan", str(good), str(bad), str(out), "--format", "jsonl", "--where", "assert_true(id != 'boom') IS NULL"])
    assert code == 2 and "is not true" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "out-errors").exists()  # nothing half-written, nothing in the way of a rerun
    assert jiyu(["spark-scan", str(good), str(out), "--format", "jsonl"]) == 0
    assert jiyu(["spark-scan", str(good), str(out), "--format", "jsonl"]) == 2  # an output that exists is never replaced...
    assert "already exist" in capsys.readouterr().err and (out / "_SUCCESS").exists()  # ...nor removed


def test_when_jiyu_check_runs_then_pyspark_is_not_imported():
    code = "import sys; from detector.cli import main; main(['check', '您好']); print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_when_spark_submit_runs_the_job_file_then_it_scores_with_submits_master(tmp_path):
    # what the README's cluster commands run, here on local[1]: spark_cli.py as spark-submit's application
    submit = Path(sys.executable).parent / "spark-submit"
    if not submit.exists():
        pytest.skip(f"no {submit} (pyspark's launcher)")
    out = tmp_path / "out"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([str(submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
                          str(ROOT / "detector" / "spark_cli.py"), str(EXAMPLES / "utterances.jsonl"), str(out)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    said = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("jiyu")]  # spark-submit: stderr in stdout
    assert any("40 rows in = 40 with a verdict" in line and "[master local[1]]" in line for line in said), said
    assert (out / "_SUCCESS").exists() and len(_lines(out)) == 40
