"""Lexicon reloads that reach every worker of `jiyu serve --workers N`, without stalling any.

A reload request reaches one worker. That worker compiles and checks the new packs in a
separate process (the build holds the interpreter for a second or more; in a child it cannot
freeze this worker's event loop), which leaves the result in jiyu's disk cache
(detector.compiled). If the packs pass, it publishes a new generation in the server's state
directory. Every worker polls that file and, on a new generation, builds its detector from the
cache (a load, not a rebuild) and swaps it in; each reports its generation and lexicon version
in a file of its own, so the reload can answer when all workers have switched, and which.

The state directory is JIYU_STATE_DIR (`jiyu serve` makes one for its workers); a server without
one (a test, a single embedded app) uses a private temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("jiyu.api")
POLL = 0.2  # seconds between looks at the generation file


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(obj), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old file or the new one, never half
    except FileNotFoundError:  # the directory went with a server shutting down while a load finished
        pass


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class State:
    """The generation file and one status file per worker, in one directory."""

    def __init__(self, directory: str | None = None) -> None:
        self.private = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="jiyu-state-"))
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def generation_file(self) -> Path:
        return self.dir / "generation.json"

    def generation(self) -> dict:
        return _read_json(self.generation_file) or {"generation": 0, "lexicon_version": None}

    def publish(self, lexicon_version: str) -> int:
        """The next generation (one reload at a time per server: callers hold the reload lock and
        the file's generation is only ever raised)."""
        n = self.generation()["generation"] + 1
        _write_json(self.generation_file, {"generation": n, "lexicon_version": lexicon_version, "at": time.time()})
        return n

    def report(self, generation: int, lexicon_version: str, error: str | None = None) -> None:
        _write_json(self.dir / f"worker-{os.getpid()}.json", {"pid": os.getpid(), "generation": generation,
                                                               "lexicon_version": lexicon_version, "error": error})

    def workers(self) -> dict[int, dict]:
        """The status of every live worker (files of dead ones are removed)."""
        out = {}
        for path in self.dir.glob("worker-*.json"):
            status = _read_json(path)
            if status is None:
                continue
            if _alive(status["pid"]):
                out[status["pid"]] = status
            else:
                path.unlink(missing_ok=True)
        return out

    def leave(self) -> None:
        (self.dir / f"worker-{os.getpid()}.json").unlink(missing_ok=True)
        if self.private:  # ours alone; a load still finishing may be writing into it: no error
            shutil.rmtree(self.dir, ignore_errors=True)


async def compile_elsewhere(lexicons: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """(lexicon version, problems) of the packs, built and checked in a child process; the
    compiled result lands in the disk cache for the workers to load."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from api.reload import _compile_main; _compile_main()", *lexicons,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        return None, [f"the lexicon build failed: {err.decode(errors='replace').strip()[-500:]}"]
    result = json.loads(out)
    return result["lexicon_version"], result["problems"]


def _compile_main() -> None:
    from detector import Detector, LexiconError

    try:
        d = Detector(sys.argv[1:], classifier=False, context=False)
        print(json.dumps({"lexicon_version": d.lexicon_version, "problems": []}))
    except LexiconError as e:
        print(json.dumps({"lexicon_version": None, "problems": [str(p) for p in e.problems]}))


async def wait_for_workers(state: State, generation: int, timeout: float) -> dict[int, dict]:
    """Worker statuses once all live workers are on `generation`, or when `timeout` runs out."""
    until = time.monotonic() + timeout
    while True:
        workers = state.workers()
        if all(w["generation"] >= generation for w in workers.values()) or time.monotonic() > until:
            return workers
        await asyncio.sleep(POLL / 2)
