"""A real `jiyu serve` on a free loopback port, spoken to over HTTP; and the OpenAPI schema fuzzed."""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.settings import Settings
from detector import Detector

from browser import CHROMIUM, Browser

ROOT = Path(__file__).resolve().parents[1]
KEY = "k-server-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    # keys set, and the docs opened to browsers as an operator would (JIYU_PUBLIC_PATHS)
    env = {**os.environ, "JIYU_API_KEYS": KEY, "JIYU_PUBLIC_PATHS": "/healthz,/readyz,/docs,/openapi.json"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector.cli", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read())
            time.sleep(0.2)
        else:
            raise AssertionError("server did not become ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_when_real_server_runs_then_http_clients_get_verdicts(server):
    r = httpx.post(f"{server}/v1/check", json={"text": "有完没完啊你"}, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json()["results"][0]["decision"] == "violation"
    assert httpx.post(f"{server}/v1/check", json={"text": "您好"}).status_code == 401


def test_when_requests_are_concurrent_then_results_equal_sequential(server):
    texts = [f"第{i}位：" + t for i in range(30) for t in ("有完没完", "您好，请稍等", "问别任去", "你自己不会看公告吗", "老东西")]
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server, headers=headers) as c:
        sequential = [c.post("/v1/check", json={"text": t}).json()["results"][0] for t in texts]
    with ThreadPoolExecutor(16) as pool, httpx.Client(base_url=server, headers=headers, limits=httpx.Limits(max_connections=16)) as c:
        concurrent = list(pool.map(lambda t: c.post("/v1/check", json={"text": t}).json()["results"][0], texts))
    assert concurrent == sequential


@pytest.mark.skipif(not CHROMIUM, reason="no chromium on this machine")
def test_when_docs_opened_offline_then_swagger_ui_renders_every_operation_from_local_files(server, tmp_path):
    with Browser(tmp_path) as browser:  # every host name but loopback resolves to nothing
        browser.open(f"{server}/docs")
        operations = browser.wait_for("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)")
        requests = list(browser.requests)
    assert {"/v1/check", "/v1/conversations", "/v1/lexicon"} <= set(operations or []), operations
    assert requests and all(u.startswith(server + "/") or u.startswith("data:") for u in requests), requests
    assert httpx.get(f"{server}/docs/assets/index.html").status_code == 404  # only the page's own files are served


def test_when_served_beyond_loopback_without_keys_then_refused():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIYU_API_KEYS")}
    r = subprocess.run([sys.executable, "-m", "detector.cli", "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "refusing to listen on 0.0.0.0 without API keys" in r.stderr


_app = create_app(Settings(api_keys=(KEY,)))
_app.state.detector = Detector(mode="realtime")  # ready before the first generated request
schema = schemathesis.openapi.from_asgi("/openapi.json", _app, headers={"Authorization": f"Bearer {KEY}"})  # keys set: the schema needs one


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_when_schema_fuzzed_then_never_a_server_error(case):
    response = case.call(headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])
