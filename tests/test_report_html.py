"""The trainers' HTML report: self-contained, evidence highlighted, filters work."""

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.marks, self.calls, self.options, self.external, self._in_mark = [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.external.append(a[key])
        if tag == "mark":
            self._in_mark = [a.get("class"), a.get("title"), ""]
        elif tag == "section":
            self.calls.append(a)
        elif tag == "option":
            self.options.append(a.get("value"))

    def handle_data(self, data):
        if self._in_mark is not None:
            self._in_mark[2] += data

    def handle_endtag(self, tag):
        if tag == "mark" and self._in_mark is not None:
            self.marks.append(tuple(self._in_mark))
            self._in_mark = None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report.html"
    r = subprocess.run([sys.executable, "-m", "detector.cli", "scan", "--no-classifier", "examples/conversations.jsonl",
                        "-o", str(out.with_suffix(".jsonl")), "--html", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()]
    return out, rows


def test_when_report_written_then_every_flagged_call_and_evidence_span_is_on_the_page(report):
    path, rows = report
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    flagged = [r for r in rows if r["flagged"]]
    assert [c["data-agent"] for c in page.calls] == [r.get("agent_id", "") for r in flagged]
    spans = [(e["category"], e["text"]) for r in flagged for v in r["violations"] for e in v["evidence"]]
    assert sorted((cls, text) for cls, _, text in page.marks) == sorted(spans)
    assert all("severity" in title for _, title, _ in page.marks)
    assert page.external == []  # self-contained: no external assets
    assert not list(path.parent.glob("*.partial"))  # the page is moved into place whole
    assert {"", *{lab for r in flagged for v in r["violations"] for lab in v["labels"]}} <= set(page.options)


@pytest.mark.skipif(not CHROMIUM, reason="no chromium on this machine: the structural test above still runs")
def test_when_opened_in_a_headless_browser_then_it_renders_all_calls(report, tmp_path):
    path, rows = report
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert dom.count("<section class=\"call\"") == sum(r["flagged"] for r in rows)
    assert "<mark" in dom
