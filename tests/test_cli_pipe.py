"""`jiyu scan ... | head`: the reader leaving early is not an error."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_when_the_reader_stops_early_then_quiet_exit_0(tmp_path):
    src = tmp_path / "replies.jsonl"  # far more output than a pipe holds
    src.write_text("".join(json.dumps({"id": i, "text": "有完没完，问别人去"}, ensure_ascii=False) + "\n" for i in range(5000)),
                   encoding="utf-8")
    p = subprocess.Popen([sys.executable, "-m", "detector.cli", "scan", "--no-classifier", str(src)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()  # as `head -1` does
    err = p.stderr.read().decode()
    assert first.startswith(b"{") and p.wait(timeout=60) == 0 and "Broken pipe" not in err, err
