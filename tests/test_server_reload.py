"""`jiyu serve --workers 2`: a reload reaches every worker, and the server leaves nothing behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY, ADMIN = "k-reload", "adm-reload"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_when_reloaded_under_two_workers_then_every_worker_serves_the_new_lexicon(tmp_path):
    pack = tmp_path / "acme"
    pack.mkdir()
    (pack / "rules.yaml").write_text("entries:\n  - {id: acme-001, phrase: 你自己百度, category: impatient, severity: 2}\n",
                                     encoding="utf-8")
    port = _free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "JIYU_API_KEYS": KEY, "JIYU_ADMIN_KEYS": ADMIN, "JIYU_CLASSIFIER": "0", "TMPDIR": str(temp)}
    proc = subprocess.Popen([sys.executable, "-m", "detector.cli", "serve", "--port", str(port), "--workers", "2",
                             "--lexicon", str(pack), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
    try:
        # a new connection per request: a kept-alive one stays with the worker that accepted it
        with httpx.Client(base_url=base, headers={**auth, "Connection": "close"}, timeout=10) as c:
            seen: dict[str, str] = {}
            deadline = time.monotonic() + 120
            while len(seen) < 2 and time.monotonic() < deadline:  # both workers up and answering
                try:
                    r = c.get("/v1/lexicon")
                    if r.status_code == 200:
                        seen[r.headers["x-jiyu-worker"]] = r.json()["lexicon_version"]
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.05)
            assert len(seen) == 2, seen
            old = next(iter(seen.values()))
            (pack / "rules.yaml").write_text(
                "entries:\n  - {id: acme-001, phrase: 你自己百度, category: impatient, severity: 2, variants: [你自己谷歌]}\n",
                encoding="utf-8")
            r = c.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)  # a busy CI machine
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["all_workers_switched"] and body["previous_lexicon_version"] == old
            assert sorted(body["workers"]) == sorted(seen) and set(body["workers"].values()) == {body["lexicon_version"]}
            # after the 200, every answer from every worker is the new lexicon
            for _ in range(40):
                r = c.post("/v1/check", json={"text": "你自己谷歌"})
                assert r.json()["lexicon_version"] == body["lexicon_version"], r.headers["x-jiyu-worker"]
                assert r.json()["results"][0]["flagged"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    # the metrics and state directories `jiyu serve` made are gone
    assert not [p for p in temp.iterdir() if p.name.startswith(("jiyu-metrics-", "jiyu-state-"))], list(temp.iterdir())
