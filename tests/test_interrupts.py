"""Ctrl-C and SIGTERM stop `jiyu scan` cleanly at any moment: no traceback, no hang, a message
saying how much was written, exit 128+signal, whole lines only, and --resume finishes the job."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINES = 120000


@pytest.fixture(scope="module")
def replies(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("interrupts") / "replies.jsonl"
    texts = ["您好，请问有什么可以帮您", "有完没完，问别人去", "好的，马上为您处理", "这个你自己看说明书"]
    src.write_text("".join(json.dumps({"id": i, "text": texts[i % 4]}, ensure_ascii=False) + "\n" for i in range(LINES)),
                   encoding="utf-8")
    return src


def scan(src: Path, out: Path, workers: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "detector.cli", "scan", "--no-classifier", str(src), "-o", str(out), "--workers", str(workers),
         "--summary", str(out.with_suffix(".summary.json")), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_when_scan_is_signalled_at_random_moments_then_it_stops_cleanly_and_resumes(replies, tmp_path, workers):
    rng = random.Random(workers)
    stopped = 0
    for attempt in range(4):
        out = tmp_path / f"out{attempt}.jsonl"
        sig = (signal.SIGINT, signal.SIGTERM)[attempt % 2]
        p = scan(replies, out, workers)
        # while the detector loads, the pool starts, records are judged and written (the
        # interpreter's own first ~50 ms, before any of jiyu runs, are not jiyu's to handle)
        time.sleep(rng.uniform(0.3, 5.0))
        p.send_signal(sig)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail(f"attempt {attempt}: scan hung after {sig.name}")
        assert "Traceback" not in err, err
        if p.returncode == 0:  # finished before the signal came
            continue
        assert p.returncode == 128 + sig, (attempt, sig.name, p.returncode, err)
        stopped += 1
        if not out.exists():  # stopped before the output was opened
            continue
        lines = out.read_text(encoding="utf-8").splitlines()
        assert all(json.loads(line)["id"] >= 0 for line in lines)  # whole lines only
        if "stopped by" in err and "record(s) in" in err:
            assert f"{len(lines)} record(s) in {out}" in err and "--resume" in err
        r = scan(replies, out, workers, "--resume")
        _, err = r.communicate(timeout=300)
        assert r.returncode == 0, err
        ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
        assert ids == list(range(LINES)), f"attempt {attempt}: resumed output is not every record once, in order"
        assert json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))["scored"] == LINES
    assert stopped >= 2, "the signals must mostly land mid-run for this test to mean anything"
