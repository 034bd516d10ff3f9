"""`jiyu spark-scan` on local[2] against `jiyu scan --workers 2`, same data, same run.

    .venv/bin/python bench/spark.py [--texts 200000] [--calls 20000] [--turns 20] [--repeat 2]

Data as bench/batch.py makes it: real polite agent turns (CrossWOZ, else the bundled examples)
with one in ten made rude by an inserted lexicon phrase; utterances as JSONL {id, text, channel},
calls as conversations JSONL with customer and agent turns alternating.

- `jiyu scan --workers 2`: its own process, timed from start to exit (reading, judging, writing
  the JSONL); its start-up (a scan of one line) is measured too and reported apart.
- Spark: one local[2] session. Its start-up (JVM, session, Python workers started, a Detector
  built in each) is measured apart, by a first small job; then `jiyu spark-scan` runs in the
  warm session: schema inference, judging, both outputs written, the summary and the row count.
- Memory: RSS of a fresh Spark Python worker before and after building a Detector and judging
  a batch (what one executor core's Python process adds).

Runs are interleaved and the fastest of each counts: noise on a shared machine only adds time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from matcher import utterances

ROOT = Path(__file__).resolve().parents[1]
CUSTOMER = ["我想问一下我的订单", "怎么还没到", "好的谢谢", "能便宜点吗", "你们这什么服务", "嗯", "那我再等等"]


def make_data(tmp: Path, n_texts: int, n_calls: int, turns: int, phrases: list[str]) -> tuple[Path, Path, Path]:
    texts = utterances(max(n_texts, n_calls * turns // 2), phrases)
    rng = random.Random(11)
    src_texts, src_calls, one = tmp / "texts.jsonl", tmp / "calls.jsonl", tmp / "one.jsonl"
    with open(src_texts, "w", encoding="utf-8") as f:
        for i in range(n_texts):
            f.write(json.dumps({"id": f"u{i}", "text": texts[i], "channel": "chat"}, ensure_ascii=False) + "\n")
    with open(src_calls, "w", encoding="utf-8") as f:
        k = 0
        for c in range(n_calls):
            ts = []
            for t in range(turns):
                agent = t % 2 == 1
                ts.append({"speaker": "agent" if agent else "customer", "start": t * 3.0, "end": t * 3.0 + 2.5,
                           "text": texts[k] if agent else rng.choice(CUSTOMER)})
                k += agent
            f.write(json.dumps({"conversation_id": f"b{c}", "agent_id": f"A{c % 40}", "turns": ts}, ensure_ascii=False) + "\n")
    one.write_text(json.dumps({"id": "u0", "text": "您好"}, ensure_ascii=False) + "\n", encoding="utf-8")
    return src_texts, src_calls, one


def scan_run(src: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "detector.cli", "scan", str(src), "-o", str(out), "--workers", "2", "--no-progress", "-q"],
                   cwd=ROOT, check=True)
    return time.perf_counter() - start


def spark_run(src: Path, out: Path, fmt: str) -> float:
    from detector.cli import main as jiyu

    start = time.perf_counter()
    if jiyu(["spark-scan", str(src), str(out), "--format", fmt, "--overwrite", "-q"]) != 0:
        sys.exit("jiyu spark-scan failed")
    return time.perf_counter() - start


def worker_memory(spark) -> list[tuple[int, float, float]]:  # noqa: ANN001
    """(pid, RSS MiB before, after) of fresh Python workers building a Detector and judging a batch."""
    def probe(_rows):  # noqa: ANN001, ANN202
        def rss() -> float:
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

        before = rss()
        from detector import Detector

        d = Detector()
        d.check_many(["您好，请问有什么可以帮您"] * 50 + ["有完没完，问别人去"] * 50)  # jieba and the model in use
        yield os.getpid(), before, rss()

    return spark.sparkContext.parallelize(range(2), 2).mapPartitions(probe).collect()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=200_000)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts")
    args = ap.parse_args()

    from detector import Detector

    d = Detector()
    phrases = sorted({f for r, _ in d.lexicon.rules.values() for f in r.forms})
    tmp = Path(tempfile.mkdtemp(prefix="jiyu-bench-spark-"))
    texts, calls, one = make_data(tmp, args.texts, args.calls, args.turns, phrases)

    t0 = time.perf_counter()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("jiyu-bench").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_secs = time.perf_counter() - t0
    memory = worker_memory(spark)  # the first job: fresh workers
    t1 = time.perf_counter()
    spark_run(one, tmp / "warm", "jsonl")  # workers started and their Detectors built: Spark's fixed cost
    warm_secs = time.perf_counter() - t1
    scan_start = min(scan_run(one, tmp / "one.out") for _ in range(args.repeat))

    runs: dict[str, list[float]] = {k: [] for k in ("scan texts", "spark texts", "scan calls", "spark calls")}
    for _ in range(args.repeat):
        runs["scan texts"].append(scan_run(texts, tmp / "texts.out"))
        runs["spark texts"].append(spark_run(texts, tmp / "texts.spark", "jsonl"))
        runs["scan calls"].append(scan_run(calls, tmp / "calls.out"))
        runs["spark calls"].append(spark_run(calls, tmp / "calls.spark", "conversations"))
    best = {k: min(v) for k, v in runs.items()}
    spark.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.texts:,} utterances, {args.calls:,} calls x {args.turns} turns; local[2] vs jiyu scan --workers 2;"
          f" fastest of {args.repeat} (model {d.model_version}, {os.cpu_count()} CPUs)")
    print(f"Spark start-up, apart: session {session_secs:.1f} s, first job (workers, Detectors) {warm_secs:.1f} s;"
          f" jiyu scan start-up (one line) {scan_start:.1f} s")
    for kind, n, unit in (("texts", args.texts, "utterances"), ("calls", args.calls, "calls")):
        s, k = best[f"scan {kind}"], best[f"spark {kind}"]
        print(f"{unit:10s}  scan {n / s:9,.0f}/s ({s:.1f} s)   spark-scan {n / k:9,.0f}/s ({k:.1f} s)"
              f"   ratio spark/scan {s / k:.2f}   spark per core {n / k / 2:8,.0f}/s"
              f"   (scan without its start-up {n / (s - scan_start):,.0f}/s)")
    for pid, before, after in memory:
        print(f"Python worker {pid}: RSS {before:.0f} MiB before, {after:.0f} MiB with a Detector built and used"
              f" (+{after - before:.0f} MiB)")


if __name__ == "__main__":
    main()
