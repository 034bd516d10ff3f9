"""The review store at 100,000 items: import speed, and claim + decision latency, on SQLite and PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/review.py [--items 100000] [--decisions 2000] [--pages 100] [--pg-url URL]

The input is what `jiyu scan` writes: the flagged lines of the tone corpus (data/tone) judged by
the real Detector once, then repeated with distinct ids, agents, channels and dates to 100,000
items — 70% utterance verdicts, 30% violating turns of 3-turn-flagged calls with their
conversations (--conversations) for context. Without --pg-url a PostgreSQL server of our own is
started (tests/pgserver.py). Printed per backend: import seconds, items/s and the ratio to a
baseline measured in the same run (reading and validating the same lines without a database);
re-import of the same files (everything a duplicate); then p50/p95 of claim_next, of decide, and of
the two together (one review step), with 100,000 items in the store; then the web UI's queue page
(GET /queue through the FastAPI app in-process, signed in as a lead: counts per state and the first
page of 50) p50/p95 for several filters and orders, each with its ratio to GET /healthz through the
same client in the same run (the framework's own floor).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
# This script's own directory would shadow the `review` package with this file: the repository instead.
sys.path[0] = str(ROOT)
sys.path.append(str(ROOT / "tests"))


def verdicts():  # noqa: ANN201
    """Real verdicts: the tone corpus's labelled lines through the Detector; the flagged ones."""
    from detector import Detector

    texts = []
    for path in sorted((ROOT / "data" / "tone" / "batches").glob("*.jsonl")):
        texts += [r["text"] for r in map(orjson.loads, path.read_bytes().splitlines()) if r.get("labels")]
    d = Detector()
    return [(t, v.to_dict()) for t, v in zip(texts, d.check_many(texts), strict=True) if v.flagged], d


def write_input(out: Path, n_items: int, seed: int = 0) -> tuple[Path, Path, Path]:
    rng = random.Random(seed)
    flagged, d = verdicts()
    versions = {"lexicon_version": d.lexicon_version, "model_version": d.model_version}
    n_calls = int(n_items * 0.3) // 3
    n_utt = n_items - 3 * n_calls
    utt, calls, convs = out / "utterances.out.jsonl", out / "calls.out.jsonl", out / "calls.jsonl"
    day = "2026-05-{:02d}T{:02d}:{:02d}:00+08:00"
    with utt.open("wb") as f:
        for i in range(n_utt):
            text, v = flagged[i % len(flagged)]
            f.write(orjson.dumps({"id": f"u{i}", "text": text, "channel": rng.choice(("chat", "call")), "agent_id": f"A{rng.randrange(400)}",
                                  "timestamp": day.format(1 + i % 28, i % 24, i % 60), **v, "mode": "qa", **versions}) + b"\n")
    with calls.open("wb") as fc, convs.open("wb") as fv:
        for c in range(n_calls):
            turns, violations, t = [], [], 0.0
            for k in range(8):
                if k % 2 == 0:
                    text = "你好 我想 问一下 这个 订单 怎么 还没 到"
                    turns.append({"speaker": "customer", "start": t, "end": t + 3.0, "text": text})
                else:
                    text, v = flagged[(c * 3 + k) % len(flagged)]
                    turns.append({"speaker": "agent", "start": t, "end": t + 3.0, "text": text})
                    if len(violations) < 3:
                        violations.append({"turn": k, "speaker": "agent", "start": t, "end": t + 3.0, "text": text, **v, "deduction": 5.0})
                t += 3.5
            conv = {"conversation_id": f"call{c}", "channel": "call", "agent_id": f"A{rng.randrange(400)}", "turns": turns}
            fv.write(orjson.dumps(conv) + b"\n")
            fc.write(orjson.dumps({"channel": "call", "agent_id": conv["agent_id"], "conversation_id": conv["conversation_id"],
                                   "flagged": True, "violations": violations, "score": 85.0, "passed": True,
                                   "started_at": day.format(1 + c % 28, c % 24, c % 60), **versions}) + b"\n")
    return utt, calls, convs


def baseline(paths: list[Path]) -> float:
    """Reading and validating the lines, no database: what any import must spend."""
    from review import records

    t = time.perf_counter()
    for path in paths:
        for line in path.read_bytes().splitlines():
            records.parse(orjson.loads(line))
    return time.perf_counter() - t


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100)[p - 1] * 1000 if len(xs) > 1 else xs[0] * 1000


def run(url: str, inputs: tuple[Path, Path, Path], base: float, decisions: int, pages: int) -> None:
    from review import db
    from review.importer import import_files
    from review.models import User
    from review.queue import claim_next, decide

    engine = db.engine_for(url)
    db.upgrade(engine)
    utt, calls, convs = inputs
    with db.sessions(engine)() as s:
        t = time.perf_counter()
        r = import_files(s, [utt, calls], conversations=[convs])
        took = time.perf_counter() - t
        t = time.perf_counter()
        again = import_files(s, [utt, calls])
        took_again = time.perf_counter() - t
    print(f"  import    {r.added:,} items ({r.conversations:,} calls with context) in {took:.1f} s = {r.added / took:,.0f} items/s"
          f"  ({took / base:.1f}x the {base:.1f} s baseline of parsing alone)")
    print(f"  re-import {again.duplicates:,} duplicates, {again.added} added, in {took_again:.1f} s")
    with db.sessions(engine)() as s:
        reviewer = User(username="bench", role="reviewer")
        s.add(reviewer)
        s.commit()
        claims, decides, steps = [], [], []
        for i in range(decisions):
            t0 = time.perf_counter()
            item = claim_next(s, reviewer.id)
            t1 = time.perf_counter()
            if i % 4:
                decide(s, item.id, reviewer.id, "confirm", second_share=0.1)
            else:
                decide(s, item.id, reviewer.id, "reject", reason="innocent_sense", note="bench")
            t2 = time.perf_counter()
            claims.append(t1 - t0)
            decides.append(t2 - t1)
            steps.append(t2 - t0)
    for name, xs in (("claim_next", claims), ("decide", decides), ("claim+decide", steps)):
        print(f"  {name:13s} p50 {pct(xs, 50):6.2f} ms   p95 {pct(xs, 95):6.2f} ms   ({len(xs):,} with {r.added:,} items)")
    queue_pages(engine, pages)
    engine.dispose()


QUEUES = ("", "sort=score", "sort=uncertainty", "category=impatient", "source=pinyin&sort=score", "agent=A7",
          "channel=chat&score_min=0.5&score_max=0.9", "date_from=2026-05-03&date_to=2026-05-05", "state=done")


def queue_pages(engine, n: int) -> None:  # noqa: ANN001
    """GET /queue with 100,000 items, as a lead (every team's items): p50/p95 per query."""
    import re

    from fastapi.testclient import TestClient

    from review.users import add_user
    from review.web import create_app

    add_user(engine, "bench-lead", "lead", [], "bench-password")
    client = TestClient(create_app(engine, secret="bench"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench-lead", "password": "bench-password", "csrf_token": token})

    def timed(path: str) -> list[float]:
        xs = []
        for _ in range(n):
            t = time.perf_counter()
            r = client.get(path)
            xs.append(time.perf_counter() - t)
            assert r.status_code == 200, (path, r.status_code)
        return xs

    floor = pct(timed("/healthz"), 50)
    print(f"  web: GET /healthz p50 {floor:.2f} ms (the baseline)")
    for q in QUEUES:
        xs = timed(f"/queue?{q}")
        print(f"  GET /queue?{q:42s} p50 {pct(xs, 50):6.2f} ms   p95 {pct(xs, 95):6.2f} ms   ({pct(xs, 50) / floor:.0f}x baseline)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000, help="flagged items to import")
    ap.add_argument("--decisions", type=int, default=2000, help="claim + decide steps timed")
    ap.add_argument("--pages", type=int, default=100, help="GET /queue requests timed per query")
    ap.add_argument("--pg-url", help="a PostgreSQL database to use (emptied tables expected); default: start our own server")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = write_input(tmp, args.items)
        base = baseline(list(inputs[:2]))
        print("SQLite (file, WAL, synchronous=NORMAL)")
        run(f"sqlite:///{tmp / 'bench.db'}", inputs, base, args.decisions, args.pages)
        if args.no_pg:
            return
        server = None
        url = args.pg_url
        if url is None:
            from pgserver import PostgresServer, find_bindir

            server = PostgresServer(find_bindir(), fsync=True)
            server.start()
            url = server.new_database()
        try:
            print("PostgreSQL" + (" (our own server, fsync on)" if server else ""))
            run(url, inputs, base, args.decisions, args.pages)
        finally:
            if server:
                server.stop()


if __name__ == "__main__":
    main()
