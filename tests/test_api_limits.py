"""The API under overload and hostile input (in-process): shed before work, limits before
parsing, deadlines, no 5xx from client behaviour, keys as bytes, one validator with jiyu scan."""

import asyncio
import json
import os
import threading
import time

import pytest
from fastapi.testclient import TestClient

from api.admission import Admission
from api.app import create_app
from api.settings import Settings, keys_configured_but_empty

KEY = "k-测试-密钥"  # a key with Chinese characters must work
AUTH = {"Authorization": f"Bearer {KEY}".encode("utf-8")}


def _ready(client: TestClient) -> None:
    for _ in range(300):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(client.get("/readyz").text)


@pytest.fixture(scope="module")
def client():
    app = create_app(Settings(api_keys=(KEY,), classifier=False, max_body_bytes=4096, max_request_chars=300,
                              request_timeout=5.0, body_timeout=1.0))
    with TestClient(app) as c:
        _ready(c)
        yield c


def post(client, path, body, headers=None, **kw):  # noqa: ANN001, ANN201
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post(path, content=data, headers={"content-type": "application/json", **AUTH, **(headers or {})}, **kw)


def test_non_ascii_key_matches_and_a_wrong_one_does_not(client):
    assert post(client, "/v1/check", {"text": "您好"}).status_code == 200
    assert post(client, "/v1/check", {"text": "您好"}, {"Authorization": b"Bearer k-\xe6\xb5\x8b"}).status_code == 401


def test_keys_guard_metrics_docs_and_openapi_but_not_the_probes(client):
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=AUTH).status_code == 200, path
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200


def test_public_paths_are_configurable():
    app = create_app(Settings(api_keys=("k",), classifier=False, public_paths=("/healthz", "/readyz", "/docs", "/openapi.json")))
    with TestClient(app) as c:
        assert c.get("/docs").status_code == 200 and c.get("/openapi.json").status_code == 200
        assert c.get("/metrics").status_code == 401


def test_key_variable_set_but_empty_is_noticed(monkeypatch):
    monkeypatch.setenv("JIYU_API_KEYS", " , ")
    assert keys_configured_but_empty("JIYU_API_KEYS")
    monkeypatch.setenv("JIYU_API_KEYS", "#secret")  # a key, not a comment, in the variable
    assert not keys_configured_but_empty("JIYU_API_KEYS") and Settings.from_env().api_keys == ("#secret",)


def test_check_requires_json_content_type(client):
    r = client.post("/v1/check", content="您好".encode(), headers={"content-type": "text/plain", **AUTH})
    assert r.status_code == 415 and r.json()["field"] == "Content-Type"


def test_declared_body_over_the_limit_is_refused_before_it_is_read(client):
    r = post(client, "/v1/check", b"{" + b" " * 5000 + b"}")
    assert r.status_code == 413 and r.json()["field"] == "body"


def test_streamed_body_over_the_limit_is_cut(client):
    def chunks():  # no Content-Length: chunked
        yield b'{"text": "'
        for _ in range(100):
            yield "您好".encode() * 20
        yield b'"}'
    r = client.post("/v1/check", content=chunks(), headers={"content-type": "application/json", **AUTH})
    assert r.status_code == 413


def test_request_character_budget(client):
    r = post(client, "/v1/check", {"texts": ["您好" * 100] * 2})
    assert r.status_code == 413 and "budget" in r.json()["error"]


@pytest.mark.parametrize("body", [
    {"conversation_id": "\ud800", "turns": [{"speaker": "agent", "text": "问别人去"}]},
    {"conversation_id": "c", "crm": "\udfff", "turns": [{"speaker": "agent", "text": "问别人去"}]},
])
def test_lone_surrogates_echoed_are_escaped_not_a_500(client, body):
    raw = json.dumps(body).encode()  # \\ud800 escapes: valid JSON, not encodable as UTF-8
    r = post(client, "/v1/conversations", raw)
    assert r.status_code == 200 and r.json()["flagged"]


@pytest.mark.parametrize("body,field", [
    ({"conversation_id": "c", "turns": []}, "turns"),
    ({"conversation_id": "c", "turns": [{"speaker": "agent", "text": "x", "start": 5, "end": 1}]}, "turns[0].end"),
    ({"conversation_id": "c", "turns": [{"speaker": "agent", "text": "x", "start": 5}, {"speaker": "agent", "text": "y", "start": 1}]},
     "turns[1].start"),
])
def test_conversations_refused_like_jiyu_scan_refuses_them(client, body, field, tmp_path):
    from detector import cli

    r = post(client, "/v1/conversations", body)
    assert r.status_code == 422 and r.json()["field"] == field
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps(body) + "\n", encoding="utf-8")
    errors = tmp_path / "e.jsonl"
    cli.main(["scan", "--no-classifier", str(src), "--errors", str(errors), "--quiet"])
    assert json.loads(errors.read_text(encoding="utf-8"))["error"] == r.json()["error"]


@pytest.mark.parametrize("raw", [b'{"conversation_id": "c", "turns": [{"speaker": "agent", "text": "x", "start": NaN}]}',
                                 b'{"conversation_id": "c", "turns": [{"speaker": "agent", "text": "x", "end": Infinity}]}'])
def test_non_finite_times_refused(client, raw):
    r = post(client, "/v1/conversations", raw)
    assert r.status_code == 422 and r.json()["field"].startswith("turns[0].")


def test_request_timeout_header_caps_the_wait(client):
    r = post(client, "/v1/check", {"text": "您好"}, {"X-Request-Timeout": "0.000001"})
    assert r.status_code == 503 and "deadline" in r.json()["error"] and r.headers["retry-after"] == "1"


# -- admission, driven directly: in flight beyond the bound is shed before the body is read ------


def _scope(path: str = "/v1/check", auth: bytes = b"") -> dict:
    headers = [(b"content-type", b"application/json")] + ([(b"authorization", auth)] if auth else [])
    return {"type": "http", "path": path, "method": "POST", "headers": headers, "state": {}}


def test_beyond_the_in_flight_bound_requests_are_shed_at_once_without_reading_the_body():
    release = asyncio.Event()

    async def app(scope, receive, send):  # noqa: ANN001, ANN202 — a handler that holds its slot
        await receive()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    gate = Admission(app, max_in_flight=2, max_body=1000, request_timeout=5, body_timeout=5)
    sent: list[list[dict]] = [[], [], []]
    body_reads = [0, 0, 0]

    async def run() -> None:
        async def one(i: int) -> None:
            async def receive():  # noqa: ANN202
                body_reads[i] += 1
                return {"type": "http.request", "body": b"{}", "more_body": False}

            async def send(message):  # noqa: ANN001, ANN202
                sent[i].append(message)

            await gate(_scope(), receive, send)

        held = [asyncio.create_task(one(0)), asyncio.create_task(one(1))]
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        await one(2)
        assert time.perf_counter() - started < 0.05
        release.set()
        await asyncio.gather(*held)

    asyncio.run(run())
    assert sent[2][0]["status"] == 503 and (b"retry-after", b"1") in sent[2][0]["headers"]
    assert body_reads[2] == 0 and [m[0]["status"] for m in sent[:2]] == [200, 200]
    assert gate.in_flight == 0 and not gate.per_key


def test_one_key_beyond_its_share_gets_429_while_others_get_through():
    release = asyncio.Event()

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        await receive()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = Admission(app, max_in_flight=4, max_body=1000, request_timeout=5, body_timeout=5, key_share=0.5)
    statuses: dict[str, list[int]] = {"noisy": [], "quiet": []}

    async def run() -> None:
        async def one(who: str) -> None:
            async def receive():  # noqa: ANN202
                return {"type": "http.request", "body": b"{}", "more_body": False}

            async def send(message):  # noqa: ANN001, ANN202
                if message["type"] == "http.response.start":
                    statuses[who].append(message["status"])

            await gate(_scope(auth=f"Bearer {who}".encode()), receive, send)

        tasks = [asyncio.create_task(one("quiet"))]
        await asyncio.sleep(0.01)
        for _ in range(3):
            tasks.append(asyncio.create_task(one("noisy")))
            await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(run())
    assert sorted(statuses["noisy"]) == [200, 200, 429] and statuses["quiet"] == [200]


def test_slow_upload_gets_408():
    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        while (await receive()).get("more_body"):
            pass

    gate = Admission(app, max_in_flight=4, max_body=1000, request_timeout=5, body_timeout=0.2)
    sent = []

    async def run() -> None:
        async def receive():  # noqa: ANN202 — one byte, then nothing for a long while
            await asyncio.sleep(0 if not sent else 5)
            sent.append("read")
            return {"type": "http.request", "body": b"{", "more_body": True}

        async def send(message):  # noqa: ANN001, ANN202
            sent.append(message)

        await asyncio.wait_for(gate(_scope(), receive, send), 3)

    asyncio.run(run())
    assert [m["status"] for m in sent if isinstance(m, dict) and m["type"] == "http.response.start"] == [408]
    assert gate.in_flight == 0


def test_client_leaving_mid_body_is_not_a_500(client):
    app = client.app
    messages = iter([{"type": "http.request", "body": b'{"te', "more_body": True}, {"type": "http.disconnect"}])
    sent = []

    async def receive():  # noqa: ANN202
        return next(messages)

    async def send(message):  # noqa: ANN001, ANN202
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/check", "raw_path": b"/v1/check", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"authorization", AUTH["Authorization"])],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": app}
    asyncio.run(app(scope, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] in ([], [499])
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'status="500"' not in metrics and 'status="499"' in metrics


def test_probes_answer_while_large_requests_are_judged():
    app = create_app(Settings(classifier=True, max_request_chars=2_000_000, max_batch=256, threads=1))
    with TestClient(app) as c:
        _ready(c)
        stop = threading.Event()

        def load() -> None:
            body = {"texts": ["您好，这个问题我们已经记录了，请您耐心等待处理结果。" * 20] * 100}
            while not stop.is_set():
                c.post("/v1/check", json=body)

        workers = [threading.Thread(target=load) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            time.sleep(0.5)
            waits = []
            for _ in range(20):
                t = time.perf_counter()
                assert c.get("/healthz").status_code == 200
                waits.append(time.perf_counter() - t)
                time.sleep(0.05)
        finally:
            stop.set()
            for w in workers:
                w.join()
        # not a timing assertion on a noisy machine: a starved loop answers in seconds, not tenths
        assert sorted(waits)[len(waits) // 2] < 1.0, waits


def test_serve_refuses_an_empty_key_variable_beyond_loopback(monkeypatch, capfd):
    from detector import cli

    monkeypatch.setenv("JIYU_API_KEYS", ",")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert "JIYU_API_KEYS is set but holds no key" in capfd.readouterr().err
    os.environ.pop("JIYU_API_KEYS", None)
