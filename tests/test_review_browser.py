"""The review workbench in a real Chromium against a real `jiyu review serve`: sign in, filter the
queue, review with the keyboard (confirm, relabel, reject with a reason, undo, skip), export a
coaching CSV, and check the database. A screenshot of each page is saved under the test's tmp
dir and copied to /tmp/review_screens/ for people to look at."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from browser import CHROMIUM, Browser
from review import db
from review.models import Item, Review

ROOT = Path(__file__).resolve().parents[1]
SCREENS = Path("/tmp/review_screens")
PASSWORD = "s3cret-password"

pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no chromium on this machine (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jiyu(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> str:
    done = subprocess.run([sys.executable, "-m", "detector.cli", *args], input=stdin, capture_output=True, text=True, cwd=cwd,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def workbench(tmp_path_factory):
    """`jiyu scan` on examples/, `jiyu review import`, two users, and `jiyu review serve` running."""
    tmp = tmp_path_factory.mktemp("review-web")
    url = f"sqlite:///{tmp / 'review.db'}"
    jiyu("scan", str(ROOT / "examples" / "utterances.jsonl"), "-o", str(tmp / "utt.out.jsonl"), "-q")
    jiyu("scan", str(ROOT / "examples" / "conversations.jsonl"), "-o", str(tmp / "calls.out.jsonl"), "-q")
    jiyu("review", "import", str(tmp / "utt.out.jsonl"), str(tmp / "calls.out.jsonl"),
         "--conversations", str(ROOT / "examples" / "conversations.jsonl"), "--db", url)
    jiyu("review", "users", "add", "lin", "--role", "lead", "--password-stdin", "--db", url, stdin=PASSWORD + "\n")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "JIYU_REVIEW_SECRET"}  # the secret file is made
    proc = subprocess.Popen([sys.executable, "-m", "detector.cli", "review", "serve", "--db", url, "--port", str(port),
                             "--second-share", "0"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(proc.stdout.read())
            time.sleep(0.2)
        yield base, url, tmp
    finally:
        proc.terminate()
        log = proc.communicate(timeout=20)[0]
        # texts never reach the server's log (access lines carry paths and filters only)
        for text in ("我也不知道", "有完没完", "问别任去"):
            assert text not in log


def shoot(browser: Browser, tmp: Path, name: str) -> None:
    path = browser.screenshot(tmp / f"{name}.png")
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)


def wait_path(browser: Browser, fragment: str) -> str:
    where = browser.wait_for(f"document.readyState === 'complete' && location.href.includes({fragment!r}) && location.href")
    assert where, f"never reached {fragment}: at {browser.js('location.href')}"
    return where


def item_id(browser: Browser) -> int:
    browser.wait_for("document.readyState === 'complete' && /^\\/items\\/\\d+$/.test(location.pathname)")
    return int(browser.js("location.pathname").split("/")[2])


def press_and_move(browser: Browser, *keys: str) -> int:
    """Press keys on an item page; the id of the item the page moves to."""
    before = browser.js("location.href")
    for k in keys:
        browser.key(k)
    assert browser.wait_for(f"location.href !== {before!r} && document.readyState === 'complete'"), f"{keys} did not move on"
    return item_id(browser)


def test_when_a_lead_reviews_in_the_browser_with_the_keyboard_then_the_database_has_every_decision(workbench, tmp_path):
    base, url, tmp = workbench
    secret = Path(url.removeprefix("sqlite:///") + ".secret")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    with Browser(tmp_path / "profile") as b:
        b.open(f"{base}/queue")
        wait_path(b, "/login")
        assert b.js("document.documentElement.lang") == "zh"
        shoot(b, tmp_path, "01-login")
        b.js(f"document.querySelector('input[name=username]').value = 'lin';"
             f"document.querySelector('input[name=password]').value = {PASSWORD!r};"
             "document.querySelector('form.login').requestSubmit()")
        wait_path(b, "/queue")
        assert b.wait_for("document.querySelectorAll('#items tbody tr[data-href]').length") == 20
        # filter: impatient items said on calls, highest score first, as a trainer would pick them in the form
        b.js("document.querySelector('select[name=category]').value = 'impatient';"
             "document.querySelector('input[name=channel]').value = 'call';"
             "document.querySelector('select[name=sort]').value = 'score';"
             "document.getElementById('filters').requestSubmit()")
        wait_path(b, "category=impatient")
        rows = b.wait_for("[...document.querySelectorAll('#items tbody tr[data-href]')].map(r => +r.children[0].textContent)")
        with db.sessions(db.engine_for(url))() as s:  # an item is in when any of its evidence is of the category
            expected = [i.id for i in sorted(s.scalars(select(Item)).all(), key=lambda i: (-i.score, i.id))
                        if i.channel == "call" and any(e.category == "impatient" for e in i.evidence)]
        assert rows == expected and len(rows) >= 6
        shoot(b, tmp_path, "02-queue-filtered")

        b.key("Enter")  # start reviewing this queue
        first = item_id(b)
        assert b.wait_for("document.querySelectorAll('#text mark').length") >= 1
        shoot(b, tmp_path, "03-item")
        second = press_and_move(b, "c")  # confirm as scored
        third = press_and_move(b, "2", "c")  # relabel to the 2nd category (unfriendly), confirm
        fourth = press_and_move(b, "r", "1")  # a false alarm: innocent sense
        assert press_and_move(b, "u") == third  # undo: back to it, claimed again
        assert press_and_move(b, "r", "4") == fourth  # a false alarm after all, but an ASR error
        b.key("r")
        b.wait_for("document.getElementById('decide').classList.contains('rejecting')")
        shoot(b, tmp_path, "05-item-rejecting")
        b.key("Escape")
        fifth = press_and_move(b, "c")
        skipped = fifth
        sixth = press_and_move(b, "j")  # skip: the next one, this one back in the queue
        assert sixth != skipped

        with db.sessions(db.engine_for(url))() as s:
            reviews = s.execute(select(Review.item_id, Review.decision, Review.category, Review.reason, Review.undone_at)
                                .order_by(Review.id)).all()
            assert [(r.item_id, r.decision, r.category, r.reason, r.undone_at is not None) for r in reviews] == [
                (first, "confirm", None, None, False),
                (second, "confirm", "unfriendly", None, False),
                (third, "reject", None, "innocent_sense", True),
                (third, "reject", None, "asr_error", False),
                (fourth, "confirm", None, None, False),
            ]
            items = {i.id: i for i in s.scalars(select(Item)).all()}
            assert (items[second].outcome, items[second].final_category) == ("confirmed", "unfriendly")
            assert (items[third].state, items[third].outcome) == ("done", "rejected")
            assert items[skipped].claimed_by is None and items[skipped].state == "pending"
            agent = next(i.agent_id for i in items.values() if i.outcome == "confirmed" and i.agent_id)
            confirmed_text = next(i.text for i in items.values() if i.outcome == "confirmed" and i.agent_id == agent)

            call_turn = next(i.id for i in items.values() if i.kind == "call_turn" and i.state == "pending")

        b.open(f"{base}/items/{call_turn}")  # a call: the turns around, the customer's distinct from the agent's
        assert b.wait_for("document.querySelectorAll('.turn.customer').length > 0 && document.querySelectorAll('.turn.flagged').length")
        assert b.js("getComputedStyle(document.querySelector('.turn.customer')).backgroundColor") != \
            b.js("getComputedStyle(document.querySelector('.turn.agent')).backgroundColor")
        shoot(b, tmp_path, "04-item-call-context")
        b.open(f"{base}/coaching/{agent}")
        assert agent in b.wait_for("document.querySelector('h1') && document.querySelector('h1').textContent")
        shoot(b, tmp_path, "06-coaching")
        csv = b.js("fetch(document.getElementById('export-csv').href).then(r => r.arrayBuffer())"
                   ".then(buf => { const u = new Uint8Array(buf); return [u[0], u[1], u[2], new TextDecoder().decode(u)]; })")
        assert csv[:3] == [0xEF, 0xBB, 0xBF]  # the BOM: Excel reads it as UTF-8
        assert confirmed_text in csv[3] and agent in csv[3]
        for name, path in (("07-dashboard", "/dashboard"), ("08-audit", "/audit"), ("09-appeals", "/appeals"),
                           ("10-teaching", "/teaching"), ("11-queue-all", "/queue?state=all")):
            b.open(base + path)
            b.wait_for("document.readyState === 'complete'")
            assert b.js("document.querySelector('.flash.error')") is None
            shoot(b, tmp_path, name)
            if path == "/audit":
                audit = b.js("[...document.querySelectorAll('table.audit tbody tr')].map(r => r.children[3].textContent)")
        requests = list(b.requests)
    assert audit.count("decide") == 5 and audit.count("undo") == 1
    # offline: nothing but the server itself was asked for
    assert requests and all(r.startswith(base) or r.startswith("data:") for r in requests), requests
    assert any(r.endswith("/static/app.js") for r in requests) and any(r.endswith("/static/app.css") for r in requests)
