"""The HTTP API in-process: every endpoint, every kind of bad input, auth, reload, metrics."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from detector import Detector
from detector.context import ContextModel

KEY, ADMIN = "k-test-123", "adm-test-456"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _ready(client: TestClient) -> None:
    for _ in range(300):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(client.get("/readyz").json())


@pytest.fixture()
def pack(tmp_path):
    d = tmp_path / "acme"
    d.mkdir()
    (d / "rules.yaml").write_text("entries:\n  - {id: acme-001, phrase: 你自己百度, category: impatient, severity: 2}\n", encoding="utf-8")
    return d


@pytest.fixture()
def client(pack):
    app = create_app(Settings(api_keys=(KEY,), admin_keys=(ADMIN,), lexicons=(str(pack),)))
    with TestClient(app) as c:
        _ready(c)
        yield c


def test_when_one_text_checked_then_verdict_masked_copy_and_versions(client):
    r = client.post("/v1/check", json={"text": "有完没完啊你"}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    v = body["results"][0]
    assert v["decision"] == "violation" and v["labels"][0] == "impatient" and v["mode"] == "realtime"
    assert v["masked"].startswith("＊＊＊＊")  # the phrase; a classifier span may cover more
    for e in v["evidence"]:
        assert v["masked"][e["start"] : e["end"]] == "＊" * (e["end"] - e["start"])
    assert [c for c, m in zip("有完没完啊你", v["masked"]) if m != "＊"] == [c for c in "有完没完啊你"[len(v["masked"].rstrip("啊你")):]]
    assert v["evidence"][0]["suggestion"]
    assert body["lexicon_version"] and body["model_version"] and body["context_version"] == ContextModel.load().version
    assert r.headers["x-request-id"] == body["request_id"]


def test_when_batch_checked_then_results_in_input_order_and_mode_honoured(client):
    texts = ["您好，请问有什么可以帮您？", "问别人去", "", "你自己百度", "问别任去"]
    r = client.post("/v1/check", json={"texts": texts, "mode": "qa"}, headers=AUTH)
    results = r.json()["results"]
    assert [x["flagged"] for x in results] == [False, True, False, True, True]
    assert all(x["mode"] == "qa" for x in results)
    assert results[3]["evidence"][0]["rule_id"] == "acme-001"  # the organisation pack is in force


BAD = [
    (b"", 422, "body: a JSON object is required"),
    (b"{bad", 400, "body is not valid UTF-8 JSON"),
    (b"\xff\xfe\x00", 400, "body is not valid UTF-8 JSON"),
    (b"[1, 2]", 422, "body: Input should be an object"),
    (b'{"text": 5}', 422, "text: Input should be a valid string"),
    (b'{"texts": ["a", 3]}', 422, "texts[1]: Input should be a valid string"),
    (b'{"text": "a", "texts": ["b"]}', 422, "body: give exactly one of 'text' or 'texts'"),
    (b"{}", 422, "body: give exactly one of 'text' or 'texts'"),
    (b'{"text": "a", "colour": 1}', 422, "colour: Extra inputs are not permitted"),
    (b'{"text": "a", "mode": "fast"}', 422, "mode: Input should be 'realtime' or 'qa'"),
    (json.dumps({"text": "好" * 10_001}).encode(), 413, "text: 10001 characters, over the limit of 10000"),
    (json.dumps({"texts": ["好"] * 257}).encode(), 413, "texts: 257 items, over the limit of 256"),
    (json.dumps({"texts": ["好", "好" * 10_001]}).encode(), 413, "texts[1]: 10001 characters"),
]


@pytest.mark.parametrize("body,status,message", BAD, ids=[m[:28] for _, _, m in BAD])
def test_when_body_is_bad_then_4xx_names_the_field(client, body, status, message):
    r = client.post("/v1/check", content=body, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"].startswith(message), r.json()
    assert r.json()["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}])
def test_when_key_missing_or_wrong_then_401(client, headers):
    r = client.post("/v1/check", json={"text": "您好"}, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in r.json()["error"]


def test_when_conversation_posted_then_only_agent_turns_judged(client):
    conv = {
        "conversation_id": "c1",
        "channel": "call",
        "turns": [
            {"speaker": "客户", "start": 0.0, "end": 1.0, "text": "你们是不是傻，有完没完"},
            {"speaker": "坐席", "start": 1.1, "end": 3.0, "text": "刚才和你说过了，怎么还问"},
        ],
    }
    r = client.post("/v1/conversations", json=conv, headers=AUTH)
    body = r.json()
    assert r.status_code == 200 and body["channel"] == "call"
    assert [v["turn"] for v in body["violations"]] == [1] and body["score"] < 100
    r = client.post("/v1/conversations", json={"conversation_id": "c2", "turns": [{"speaker": "agent"}]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "turns[0].text: Field required"


def test_when_lexicon_info_asked_then_versions_and_counts(client):
    body = client.get("/v1/lexicon", headers=AUTH).json()
    assert body["packs"] == ["default", "acme"] and body["rules"] > 300 and set(body["categories"]) == {
        "disrespectful", "unfriendly", "impatient", "impolite"}


def test_when_probes_called_then_open_without_key(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True


def test_when_not_loaded_yet_then_readyz_and_check_say_503(client):
    app = client.app
    loaded, app.state.detector = app.state.detector, None
    try:
        assert client.get("/readyz").status_code == 503
        assert client.post("/v1/check", json={"text": "您好"}, headers=AUTH).status_code == 503
    finally:
        app.state.detector = loaded


def test_when_requests_served_then_metrics_count_them(client):
    client.post("/v1/check", json={"texts": ["问别人去", "您好"]}, headers=AUTH)
    assert client.get("/metrics").status_code == 401  # keys set: /metrics is not public unless listed
    text = client.get("/metrics", headers=AUTH).text
    assert 'jiyu_requests_total{endpoint="/v1/check",method="POST",status="200"}' in text
    assert 'jiyu_decisions_total{category="impatient",decision="violation"}' in text
    assert "jiyu_request_seconds_bucket" in text


def test_when_pack_edited_and_reloaded_then_new_version_serves(client, pack):
    rules = lambda body: {e["rule_id"] for e in body["results"][0]["evidence"]}  # noqa: E731
    before = client.post("/v1/check", json={"text": "你自己谷歌"}, headers=AUTH).json()
    assert "acme-001" not in rules(before)
    (pack / "rules.yaml").write_text(
        "entries:\n  - {id: acme-001, phrase: 你自己百度, category: impatient, severity: 2, variants: [你自己谷歌]}\n", encoding="utf-8")
    r = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and r.json()["previous_lexicon_version"] == before["lexicon_version"]
    after = client.post("/v1/check", json={"text": "你自己谷歌"}, headers=AUTH).json()
    assert "acme-001" in rules(after) and after["lexicon_version"] == r.json()["lexicon_version"]


def test_when_reloaded_pack_is_broken_then_refused_and_old_keeps_serving(client, pack):
    version = client.get("/v1/lexicon", headers=AUTH).json()["lexicon_version"]
    (pack / "rules.yaml").write_text("entries:\n  - {id: acme-001, phrase: 你自己百度, category: rude, severity: 2}\n", encoding="utf-8")
    r = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 422 and f"still serving {version}" in r.json()["error"] and "rules.yaml:2" in r.json()["error"]
    ok = client.post("/v1/check", json={"text": "你自己百度"}, headers=AUTH).json()
    assert ok["lexicon_version"] == version and ok["results"][0]["flagged"]


def test_when_reload_without_admin_key_then_refused(client):
    assert client.post("/v1/admin/reload", headers=AUTH).status_code == 401
    app = create_app(Settings())
    with TestClient(app) as c:
        assert c.post("/v1/admin/reload").status_code == 403


def test_when_detector_shared_by_threads_then_results_equal_sequential():
    d = Detector()
    texts = [f"{i}号窗口：" + t for i in range(40) for t in ("有完没完", "您好，请稍等", "问别任去", "你自己不会看公告吗", "老东西")]
    sequential = [v.to_dict() for v in d.check_many(texts)]
    with ThreadPoolExecutor(8) as pool:
        concurrent = [v.to_dict() for v in pool.map(d.check, texts)]
    assert concurrent == sequential


def test_when_same_reply_sent_twice_then_cached_verdict_is_identical_and_counted(client):
    body = {"texts": ["问别人去", "您好，请问有什么可以帮您？"]}
    first = client.post("/v1/check", json=body, headers=AUTH).json()["results"]
    second = client.post("/v1/check", json=body, headers=AUTH).json()["results"]
    assert first == second and first[0]["flagged"]
    metrics = client.get("/metrics", headers=AUTH).text
    hits = next(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("jiyu_cache_hits_total"))
    assert hits >= 2
