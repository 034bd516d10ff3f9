"""Start-up: how long a fresh process takes to import jiyu, build a Detector, answer `jiyu check`.

    .venv/bin/python bench/startup.py [--runs 9] [--root OTHER_CHECKOUT]

Each case runs in its own fresh interpreter, the cases interleaved round by round (a noisy
minute hits them all alike); the median of the runs is reported, in seconds and as a ratio to
`python -c pass` measured in the same rounds (the interpreter's own floor):

- `import detector`;
- `from detector import Detector; Detector()` with a cold cache (a new, empty JIYU_CACHE_DIR
  each run) and with a warm one; the constructor's own time, measured inside the process, beside it;
- `jiyu check 你好` with a warm cache, through the console script's entry point (`main()`);
- `jiyu check 有完没完` warm: a text the tone classifier must segment, so jieba's table is loaded.

Caches go to temporary JIYU_CACHE_DIRs (the user's own is never touched). `--root` times
another checkout's code instead (e.g. main, for a before/after on the same machine state).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMED = "from detector import Detector; import time; t=time.perf_counter(); Detector(); print(time.perf_counter()-t)"
CLI = "import sys; from detector.cli import main; sys.argv=['jiyu', 'check', {text!r}]; main()"
CASES = {
    "python -c pass (floor)": ("pass", "none"),
    "import detector": ("import detector", "warm"),
    "Detector(), cold cache": (TIMED, "cold"),
    "Detector(), warm cache": (TIMED, "warm"),
    "jiyu check 你好, warm": (CLI.format(text="你好"), "warm"),
    "jiyu check 有完没完, warm": (CLI.format(text="有完没完"), "warm"),
}


def run(code: str, cache: str, root: Path = ROOT) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system: what a busy neighbour distorts less) and stdout."""
    env = {**os.environ, "PYTHONPATH": str(root), "JIYU_CACHE_DIR": cache}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code is timed (default: this one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jiyu-bench-") as tmp:
        warm = str(Path(tmp) / "warm")
        run(CLI.format(text="有完没完"), warm, args.root)  # fills the warm cache: lexicon, pinyin, tone, jieba
        wall: dict[str, list[float]] = {name: [] for name in CASES}
        cpu: dict[str, list[float]] = {name: [] for name in CASES}
        inner: dict[str, list[float]] = {name: [] for name in CASES}
        for r in range(args.runs):
            for name, (code, cache) in CASES.items():
                where = str(Path(tmp) / f"cold-{r}") if cache == "cold" else warm if cache == "warm" else str(Path(tmp) / "none")
                seconds, used, out = run(code, where, args.root)
                wall[name].append(seconds)
                cpu[name].append(used)
                if code == TIMED:
                    inner[name].append(float(out.split()[-1]))
    floor = statistics.median(wall["python -c pass (floor)"])
    cpu_floor = statistics.median(cpu["python -c pass (floor)"])
    print(f"{args.root}: {args.runs} runs of each, interleaved; medians for a fresh process: wall time (its spread), CPU time")
    print(f"{'case':30} {'wall s':>7} {'× floor':>7} {'min – max':>14} {'CPU s':>7} {'× floor':>7}   Detector() alone")
    for name in CASES:
        m, c = statistics.median(wall[name]), statistics.median(cpu[name])
        alone = f"{statistics.median(inner[name]):.3f} s" if inner[name] else ""
        print(f"{name:30} {m:7.3f} {m / floor:7.1f} {min(wall[name]):6.3f} – {max(wall[name]):.3f} {c:7.3f} {c / cpu_floor:7.1f}   {alone}")


if __name__ == "__main__":
    main()
