"""The review web UI over HTTP (FastAPI TestClient): every route, sign-in and its rate limit,
session cookies, CSRF, roles, team isolation, decisions through both review rounds and appeals,
exports, masking, bad input (4xx with a message, never a 500), and concurrent reviewers on SQLite
and PostgreSQL."""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from review import db
from review.auth import RateLimit
from review.models import Appeal, Item, Review, Team, TeachingExample, WebSession
from review.users import add_user
from review.web import create_app
from test_review_store import add_items

PASSWORD = "correct-horse-1"
JSON = {"Accept": "application/json"}


def make_app(engine, **kwargs):  # noqa: ANN001, ANN003, ANN201
    return create_app(engine, secret="test-secret", **kwargs)


def team_id(engine, name: str) -> int:  # noqa: ANN001
    with db.sessions(engine)() as s:
        return s.scalar(select(Team.id).where(Team.name == name))


@pytest.fixture
def web(store):
    """A migrated store with users (admin, lead, reviewers of teams A and B) and 40 items, half each team's."""
    add_user(store, "admin", "admin", [], PASSWORD)
    add_user(store, "lead", "lead", [], PASSWORD)
    add_user(store, "ra", "reviewer", ["A"], PASSWORD)
    add_user(store, "ra2", "reviewer", ["A"], PASSWORD)
    add_user(store, "rb", "reviewer", ["B"], PASSWORD)
    a, b = team_id(store, "A"), team_id(store, "B")
    ids = add_items(store, 40)
    with db.sessions(store)() as s:
        s.execute(update(Item).where(Item.id.in_(ids[:20])).values(team_id=a))
        s.execute(update(Item).where(Item.id.in_(ids[20:])).values(team_id=b))
        s.commit()
    return store, ids


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Signs in through the form; the page's CSRF token."""
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post("/login", data={"username": name, "password": password, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf-token" content="([^"]*)"', client.get("/queue").text).group(1)


def signed_in(engine, name: str, **kwargs) -> tuple[TestClient, str]:  # noqa: ANN001, ANN003
    client = TestClient(make_app(engine, **kwargs))
    return client, login(client, name)


def post(client: TestClient, csrf: str, url: str, **data) -> object:  # noqa: ANN003
    return client.post(url, data=data, headers={**JSON, "X-CSRF-Token": csrf})


def claim(client: TestClient, csrf: str, query: str = "") -> int | None:
    r = post(client, csrf, f"/queue/claim?{query}")
    assert r.status_code == 200, r.text
    m = re.match(r"/items/(\d+)", r.json()["next"])
    return int(m.group(1)) if m else None


GET_ROUTES = ["/queue", "/items/1", "/dashboard", "/appeals", "/coaching", "/coaching/A1", "/coaching/A1/export.csv",
              "/coaching/A1/export.html", "/teaching", "/audit", "/audit.csv"]
POST_ROUTES = ["/queue/claim", "/items/1/claim", "/items/1/decide", "/items/1/skip", "/undo", "/items/1/appeal",
               "/appeals/1/resolve", "/items/1/teach", "/logout"]


# -- sign-in, sessions, CSRF ----------------------------------------------------------------


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_not_signed_in_then_pages_redirect_to_login_and_posts_get_401(web):
    client = TestClient(make_app(web[0]))
    for path in GET_ROUTES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        assert client.get(path, headers=JSON).status_code == 401
    for path in POST_ROUTES:
        r = client.post(path, headers=JSON)
        assert r.status_code == 401 and "sign in" in r.json()["detail"], path
    assert client.get("/login").status_code == 200 and client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_signed_in_then_the_cookie_is_httponly_lax_and_logout_ends_the_session(web):
    client = TestClient(make_app(web[0]))
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post("/login", data={"username": "lead", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue"  # never an open redirect
    cookie = r.headers["set-cookie"]
    assert "jiyu_review=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    stolen = client.cookies.get("jiyu_review")
    csrf = re.search(r'name="csrf-token" content="([^"]*)"', client.get("/queue").text).group(1)
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    other = TestClient(make_app(web[0]))
    other.cookies.set("jiyu_review", stolen)  # the old cookie is dead server-side, signature or not
    assert other.get("/queue", follow_redirects=False).status_code == 303
    forged = TestClient(make_app(web[0]))
    forged.cookies.set("jiyu_review", stolen[:-2] + "xx")
    assert forged.get("/queue", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_the_login_form_lacks_its_token_then_400(web):
    client = TestClient(make_app(web[0]))
    r = client.post("/login", data={"username": "lead", "password": PASSWORD}, headers=JSON)
    assert r.status_code == 400 and "form expired" in r.json()["detail"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_sign_ins_fail_repeatedly_then_they_are_refused_per_user_and_per_ip(web):
    client = TestClient(make_app(web[0], rate_limit=RateLimit(per_user=3, per_ip=5)))

    def token() -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)

    def attempt(name: str, password: str = "wrong-password") -> int:
        return client.post("/login", data={"username": name, "password": password, "csrf_token": token()},
                           follow_redirects=False).status_code

    assert [attempt("lead") for _ in range(4)] == [401, 401, 401, 429]
    assert attempt("lead", PASSWORD) == 429  # even the right password waits
    r = client.post("/login", data={"username": "lead", "password": PASSWORD, "csrf_token": token()})
    assert int(r.headers["retry-after"]) > 0
    assert [attempt("nobody1"), attempt("nobody2"), attempt("ra")] == [401, 401, 429]  # the address's 5 are spent


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_a_post_lacks_the_csrf_token_then_403_and_nothing_changes(web):
    engine, _ = web
    client, csrf = signed_in(engine, "ra")
    item = claim(client, csrf)
    for headers, data in (({}, {}), ({"X-CSRF-Token": "wrong"}, {}), ({}, {"csrf_token": "wrong"})):
        r = client.post(f"/items/{item}/decide", data={"decision": "confirm", **data}, headers={**JSON, **headers})
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert client.post("/queue/claim", headers=JSON).status_code == 403
    with db.sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 0
    # the form field works as well as the header
    r = client.post(f"/items/{item}/decide", data={"decision": "confirm", "csrf_token": csrf}, headers=JSON)
    assert r.status_code == 200


# -- roles and teams ------------------------------------------------------------------------


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_a_reviewer_opens_lead_pages_then_403(web):
    client, csrf = signed_in(web[0], "ra")
    for path in ("/dashboard", "/audit", "/audit.csv", "/queue?stage=lead"):
        assert client.get(path, headers=JSON).status_code == 403, path
    assert post(client, csrf, "/queue/claim?stage=lead").status_code == 403
    assert post(client, csrf, "/appeals/1/resolve", status="upheld").status_code == 403
    assert post(client, csrf, "/items/1/teach").status_code == 403


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_a_reviewer_works_then_they_see_and_claim_only_their_teams_items(web):
    engine, ids = web
    client, csrf = signed_in(engine, "rb")
    listed = {int(x) for x in re.findall(r'data-href="/items/(\d+)', client.get("/queue?state=all").text)}
    assert listed == set(ids[20:40])
    assert client.get(f"/items/{ids[0]}", headers=JSON).status_code == 404
    assert post(client, csrf, f"/items/{ids[0]}/claim").status_code == 404
    claimed, item = [], claim(client, csrf)
    while item is not None:
        claimed.append(item)
        nxt = post(client, csrf, f"/items/{item}/decide", decision="reject", reason="other").json()["next"]
        item = int(re.match(r"/items/(\d+)", nxt).group(1)) if nxt.startswith("/items/") else None
    assert sorted(claimed) == ids[20:]
    lead, lcsrf = signed_in(engine, "lead")
    assert {int(x) for x in re.findall(r'data-href="/items/(\d+)', lead.get("/queue?state=all&page=1").text)} >= set(ids[:10])
    with db.sessions(engine)() as s:
        agent_a = s.scalar(select(Item.agent_id).where(Item.id == ids[0]))
        s.execute(update(Item).where(Item.agent_id == agent_a, Item.team_id != team_id(engine, "A")).values(agent_id="only-A"))
        s.commit()
    assert client.get(f"/coaching/{agent_a}", headers=JSON).status_code == 404  # team B sees no agent of team A
    assert lead.get(f"/coaching/{agent_a}").status_code == 200


# -- decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_a_reviewer_decides_then_one_request_records_it_and_hands_the_next_item(web):
    engine, ids = web
    client, csrf = signed_in(engine, "ra")
    first = claim(client, csrf, "sort=score")
    assert "decide" in client.get(f"/items/{first}").text
    r = post(client, csrf, f"/items/{first}/decide", decision="confirm", category="impolite", severity="3", note="很典型",
             queue="sort=score")
    body = r.json()
    assert r.status_code == 200 and body["state"] == "done" and re.match(r"/items/\d+\?sort=score$", body["next"])
    second = int(re.match(r"/items/(\d+)", body["next"]).group(1))
    assert second != first
    for data, message in (({"decision": "reject"}, "reason"), ({"decision": "maybe"}, "decision"),
                          ({"decision": "confirm", "category": "rude"}, "category"),
                          ({"decision": "confirm", "severity": "9"}, "severity"),
                          ({"decision": "confirm", "severity": "x"}, "severity")):
        r = post(client, csrf, f"/items/{second}/decide", **data)
        assert r.status_code == 400 and message in r.json()["detail"], data
    assert post(client, csrf, f"/items/{first}/decide", decision="confirm").status_code == 409  # decided, not claimed
    r = post(client, csrf, f"/items/{second}/decide", decision="reject", reason="quoting")
    assert r.status_code == 200
    r = post(client, csrf, "/undo")
    assert r.status_code == 200 and r.json()["item"] == second
    with db.sessions(engine)() as s:
        item = s.get(Item, first)
        assert (item.outcome, item.final_category, item.final_severity) == ("confirmed", "impolite", 3)
        assert s.get(Item, second).state == "pending" and s.get(Item, second).claimed_by is not None
    # a plain form post (no JavaScript) gets a redirect to the next item
    r = client.post(f"/items/{second}/decide", data={"decision": "confirm", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/items/")
    other, ocsrf = signed_in(engine, "ra2")
    assert post(other, ocsrf, "/undo").status_code == 409  # nothing of theirs to undo


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_skipping_then_the_next_item_is_another_and_the_skipped_one_is_free(web):
    engine, _ = web
    client, csrf = signed_in(engine, "ra")
    first = claim(client, csrf)
    r = post(client, csrf, f"/items/{first}/skip")
    nxt = int(re.match(r"/items/(\d+)", r.json()["next"]).group(1))
    assert nxt != first
    with db.sessions(engine)() as s:
        assert s.get(Item, first).claimed_by is None


def test_when_second_review_disagrees_then_a_lead_settles_it_and_kappa_is_on_the_dashboard(web):
    engine, _ = web
    a, acsrf = signed_in(engine, "ra", second_share=1.0)
    b, bcsrf = signed_in(engine, "ra2", second_share=1.0)
    decided = []
    for i in range(4):
        item = claim(a, acsrf)
        assert post(a, acsrf, f"/items/{item}/decide", decision="confirm").json()["state"] == "second_review"
        decided.append(item)
    assert claim(a, acsrf, "stage=second") is None  # never your own item in second review
    for i in range(4):
        item = claim(b, bcsrf, "stage=second")
        assert item in decided
        page = b.get(f"/items/{item}").text
        assert "审核记录" not in page  # blind: the first decision is not shown
        data = {"decision": "confirm"} if i < 3 else {"decision": "reject", "reason": "asr_error"}
        post(b, bcsrf, f"/items/{item}/decide", **data)
    lead, lcsrf = signed_in(engine, "lead", second_share=1.0)
    disputed = claim(lead, lcsrf, "stage=lead")
    assert disputed is not None and "审核记录" in lead.get(f"/items/{disputed}").text
    assert post(lead, lcsrf, f"/items/{disputed}/decide", decision="reject", reason="asr_error").json()["state"] == "done"
    page = lead.get("/dashboard").text
    assert "4 条经过两人独立审核" in page and "ra" in page and "ra2" in page


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_an_agent_appeals_then_a_lead_overturns_and_teaching_and_audit_record_it(web):
    engine, _ = web
    with db.sessions(engine)() as s:
        s.execute(update(Item).values(text="请拨 13812345678 工号 一零二三 有完没完"))
        s.commit()
    client, csrf = signed_in(engine, "ra")
    item = claim(client, csrf)
    post(client, csrf, f"/items/{item}/decide", decision="confirm")
    lead, lcsrf = signed_in(engine, "lead")
    assert post(lead, lcsrf, f"/items/{item}/teach", note="新人必看").status_code == 200
    assert post(lead, lcsrf, f"/items/{item}/teach").status_code == 409  # once
    assert post(client, csrf, f"/items/{item}/appeal", reason="").status_code == 400
    assert post(client, csrf, f"/items/{item}/appeal", reason="顾客先骂人").status_code == 200
    assert "顾客先骂人" in lead.get("/appeals").text
    with db.sessions(engine)() as s:
        appeal = s.scalar(select(Appeal.id))
        taught = s.scalar(select(TeachingExample.text))
    assert "13812345678" not in taught and "一零二三" not in taught and "有完没完" in taught
    assert post(lead, lcsrf, f"/appeals/{appeal}/resolve", status="maybe").status_code == 400
    assert post(lead, lcsrf, f"/appeals/{appeal}/resolve", status="overturned", note="误判").status_code == 200
    assert post(lead, lcsrf, f"/appeals/{appeal}/resolve", status="upheld").status_code == 409
    with db.sessions(engine)() as s:
        assert s.get(Item, item).outcome == "rejected"
    csv = lead.get("/audit.csv")
    assert csv.content.startswith(b"\xef\xbb\xbf") and "appeal_overturned" in csv.text and "teach" in csv.text
    assert "appeal_overturned" in lead.get("/audit?action=appeal_overturned").text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_coaching_is_exported_then_csv_has_a_bom_and_html_stands_alone(web):
    engine, _ = web
    client, csrf = signed_in(engine, "ra")
    item = claim(client, csrf)
    post(client, csrf, f"/items/{item}/decide", decision="confirm", category="impatient")
    with db.sessions(engine)() as s:
        agent, text = s.execute(select(Item.agent_id, Item.text).where(Item.id == item)).one()
    assert agent in client.get("/coaching").text
    page = client.get(f"/coaching/{agent}").text
    assert text in page and "不耐烦" in page
    csv = client.get(f"/coaching/{agent}/export.csv")
    assert csv.content.startswith(b"\xef\xbb\xbf") and text in csv.content.decode("utf-8-sig")
    assert "attachment" in csv.headers["content-disposition"]
    html = client.get(f"/coaching/{agent}/export.html")
    assert text in html.text and "<style>" in html.text and "/static/" not in html.text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_masking_is_on_then_phone_and_id_numbers_are_hidden_in_pages(web):
    engine, ids = web
    with db.sessions(engine)() as s:
        s.execute(update(Item).values(text="电话 13812345678 身份证 11010519491231002X"))
        s.commit()
    client, _ = signed_in(engine, "lead", mask=True)
    for page in (client.get("/queue").text, client.get(f"/items/{ids[0]}").text):
        assert "13812345678" not in page and "11010519491231002X" not in page
        assert "******5678 身份证 **************002X" in page  # the last four kept (a highlight may cut the first star off)
    plain, _ = signed_in(engine, "lead")
    assert "3812345678 身份证 11010519491231002X" in plain.get(f"/items/{ids[0]}").text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_reviewing_then_no_text_reaches_the_logs(web, caplog):
    engine, _ = web
    with db.sessions(engine)() as s:
        s.execute(update(Item).values(text="秘密文本不进日志"))
        s.commit()
    caplog.set_level(logging.DEBUG)
    client, csrf = signed_in(engine, "ra")
    item = claim(client, csrf)
    client.get(f"/items/{item}")
    post(client, csrf, f"/items/{item}/decide", decision="reject", reason="other", note="n")
    client.get("/queue")
    assert "秘密文本" not in caplog.text


# -- bad input: 4xx with a message, never a 500 ---------------------------------------------

BAD_GETS = ["/queue?score_min=abc", "/queue?score_max=2", "/queue?score_min=nan", "/queue?date_from=2026-02-30",
            "/queue?category=rude", "/queue?sort=random", "/queue?stage=third", "/queue?state=lost", "/queue?page=0",
            "/queue?page=x", "/queue?agent=" + "A" * 300, "/items/abc", "/items/99999999999999999999999",
            "/items/-1", "/audit?item=x", "/appeals?status=maybe", "/coaching/" + "x" * 200, "/no-such-page"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_when_requests_are_bad_then_4xx_with_a_message(web):
    client, csrf = signed_in(web[0], "admin")
    for path in BAD_GETS:
        r = client.get(path, headers=JSON)
        assert 400 <= r.status_code < 500 and r.json()["detail"], (path, r.status_code, r.text[:200])
        page = client.get(path)
        assert 400 <= page.status_code < 500 and "<html" in page.text, path
    h = {**JSON, "X-CSRF-Token": csrf}
    bad_posts = [
        ("/items/1/decide", {"content": b"\xff\xfe", "headers": {**h, "Content-Type": "application/x-www-form-urlencoded"}}),
        ("/items/1/decide", {"content": b"[1, 2]", "headers": {**h, "Content-Type": "application/json"}}),
        ("/items/1/decide", {"content": b"{bad json", "headers": {**h, "Content-Type": "application/json"}}),
        ("/items/1/decide", {"content": b"x", "headers": {**h, "Content-Type": "text/plain"}}),
        ("/items/1/decide", {"content": b"a=" + b"x" * 70_000, "headers": {**h, "Content-Type": "application/x-www-form-urlencoded"}}),
        ("/items/99999999999999999999999/decide", {"data": {"decision": "confirm"}, "headers": h}),
        ("/appeals/99999/resolve", {"data": {"status": "upheld"}, "headers": h}),
        ("/items/99999/appeal", {"data": {"reason": "x"}, "headers": h}),
        ("/items/99999/teach", {"data": {}, "headers": h}),
        ("/undo", {"data": {}, "headers": h}),
        ("/queue/claim?score_min=x", {"data": {}, "headers": h}),
    ]
    for path, kwargs in bad_posts:
        r = client.post(path, **kwargs)
        assert 400 <= r.status_code < 500 and r.json()["detail"], (path, r.status_code, r.text[:200])


# -- concurrent reviewers through HTTP (SQLite and PostgreSQL) --------------------------------


def test_when_two_reviewers_claim_concurrently_then_no_item_is_handed_out_twice(web):
    engine, ids = web
    with db.sessions(engine)() as s:
        s.execute(update(Item).values(team_id=team_id(engine, "A")))
        s.commit()
    clients = [signed_in(engine, name) for name in ("ra", "ra2")]
    got: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def run(k: int) -> None:
        client, csrf = clients[k]
        start.wait()
        item = claim(client, csrf)
        while item is not None:  # every item handed out is decided, and the answer hands out the next
            got[k].append(item)
            r = post(client, csrf, f"/items/{item}/decide", decision="confirm")
            assert r.status_code == 200, r.text
            m = re.match(r"/items/(\d+)", r.json()["next"])
            item = int(m.group(1)) if m else None
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, range(2)))
    both = got[0] + got[1]
    assert len(both) == len(set(both)) and sorted(both) == sorted(ids)


def test_when_four_reviewers_decide_concurrently_then_no_5xx_and_no_decision_is_lost(web):
    engine, ids = web
    with db.sessions(engine)() as s:
        s.execute(update(Item).values(team_id=team_id(engine, "A")))
        s.commit()
    add_user(engine, "ra3", "reviewer", ["A"], PASSWORD)
    add_user(engine, "ra4", "reviewer", ["A"], PASSWORD)
    clients = [signed_in(engine, name) for name in ("ra", "ra2", "ra3", "ra4")]
    statuses: list[int] = []
    accepted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def run(k: int) -> None:
        client, csrf = clients[k]
        start.wait()
        r = post(client, csrf, "/queue/claim")
        while True:
            with lock:
                statuses.append(r.status_code)
            m = re.match(r"/items/(\d+)", r.json().get("next", ""))
            if not m:
                return
            item = int(m.group(1))
            r = post(client, csrf, f"/items/{item}/decide", **({"decision": "confirm"} if item % 2 else {"decision": "reject", "reason": "other"}))
            if r.status_code == 200:
                with lock:
                    accepted.append(item)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(run, range(4)))
    assert all(s < 500 for s in statuses) and statuses.count(200) == len(statuses)
    assert sorted(accepted) == sorted(ids)  # every item decided once, by one reviewer
    with db.sessions(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Review).where(Review.undone_at.is_(None))) == len(ids)
        assert s.scalar(select(func.count()).select_from(Item).where(Item.state == "done")) == len(ids)
        assert s.scalar(select(func.count()).select_from(WebSession)) == 4


# -- the commands ---------------------------------------------------------------------------


def test_when_users_are_added_from_the_command_line_then_they_sign_in_and_serve_needs_one(tmp_path, monkeypatch, capsys):
    import io

    from detector.cli import main as jiyu

    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert jiyu(["review", "serve", "--db", url]) == 2  # no users, no terminal to ask on
    assert "users add" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert jiyu(["review", "users", "add", "wang", "--role", "reviewer", "--team", "华东一组", "--password-stdin", "--db", url]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert jiyu(["review", "users", "add", "wang", "--role", "reviewer", "--team", "华东一组", "--password-stdin", "--db", url]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert jiyu(["review", "users", "add", "wang", "--role", "lead", "--password-stdin", "--db", url]) == 2  # exists
    capsys.readouterr()
    assert jiyu(["review", "users", "list", "--db", url]) == 0
    assert "华东一组" in capsys.readouterr().out
    engine = db.engine_for(url)
    client, csrf = signed_in(engine, "wang")
    monkeypatch.setattr("sys.stdin", io.StringIO("another-password\n"))
    assert jiyu(["review", "users", "passwd", "wang", "--password-stdin", "--db", url]) == 0
    assert client.get("/queue", follow_redirects=False).status_code == 303  # the old session ended
    assert login(TestClient(make_app(engine)), "wang", "another-password")  # the new password signs in
    engine.dispose()
