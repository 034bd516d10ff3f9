"""`jiyu scan --html REPORT.html`: one self-contained page for trainers.

Each flagged call with the turns around every violation, evidence highlighted (hover for rule,
severity and the polite alternative), timestamps, the call's score; filters by category and
agent run in inline JavaScript. No external assets: the file can be mailed or archived.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path

from .lexicon import CATEGORY_NAMES_ZH

CONTEXT = 2  # turns shown before and after each violating turn

STYLE = """
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} .meta{color:#666;font-size:.9em}
.filters{margin:1em 0;padding:.6em;background:#f4f4f4;border-radius:6px}
.call{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.call h2{font-size:1.05em;margin:.2em 0} .fail{color:#b00020} .pass{color:#2e7d32}
.turn{margin:.25em 0;padding:.2em .4em;border-left:3px solid transparent}
.turn.flag{border-left-color:#e53935;background:#fff6f6}
.who{display:inline-block;min-width:5em;color:#555} .t{color:#999;font-size:.85em;margin-right:.5em}
mark{padding:0 .15em;border-radius:3px} mark.disrespectful{background:#ffcdd2} mark.unfriendly{background:#ffe0b2}
mark.impatient{background:#fff59d} mark.impolite{background:#d1c4e9}
.tag{font-size:.8em;border-radius:3px;padding:0 .3em;margin-left:.4em;background:#eee}
"""

SCRIPT = """
function applyFilters(){
  var c=document.getElementById('cat').value, a=document.getElementById('agent').value, n=0;
  document.querySelectorAll('.call').forEach(function(el){
    var ok=(!c||el.dataset.cats.split(' ').indexOf(c)>=0)&&(!a||el.dataset.agent===a);
    el.style.display=ok?'':'none'; if(ok)n++;});
  document.getElementById('shown').textContent=n;
}
document.getElementById('cat').addEventListener('change',applyFilters);
document.getElementById('agent').addEventListener('change',applyFilters);
"""


def _fmt_time(t: float | None) -> str:
    return "" if t is None else f"{int(t // 60):02d}:{t % 60:05.2f}"


def _highlight(text: str, evidence: list[dict]) -> str:
    """The turn's text with evidence spans wrapped in <mark>; overlapping spans keep the first."""
    out, pos = [], 0
    for e in sorted(evidence, key=lambda e: (e["start"], -e["end"])):
        if e["start"] < pos:
            continue
        tip = f"{e['category']} · {e['rule_id']} · severity {e['severity']}" + (f" · 建议：{e['suggestion']}" if e.get("suggestion") else "")
        out.append(html.escape(text[pos : e["start"]]))
        out.append(f'<mark class="{e["category"]}" title="{html.escape(tip)}">{html.escape(text[e["start"]:e["end"]])}</mark>')
        pos = e["end"]
    out.append(html.escape(text[pos:]))
    return "".join(out)


def call_section(report: dict, turns: list[dict], agent: str) -> dict:
    """One flagged call's part of the page: its id, agent, categories, and as HTML its violating
    turns with the turns around them. Built where the call is judged (a scan worker), so the
    parent only appends it to the page."""
    show: set[int] = set()
    for v in report["violations"]:
        show.update(range(max(0, v["turn"] - CONTEXT), min(len(turns), v["turn"] + CONTEXT + 1)))
    by_turn = {v["turn"]: v for v in report["violations"]}
    cats = {lab for v in report["violations"] for lab in v["labels"]}
    verdict = "<span class='pass'>pass</span>" if report["passed"] else "<span class='fail'>fail</span>"
    parts = [
        f"<section class='call' data-id='{html.escape(str(report['conversation_id']))}' data-cats='{' '.join(sorted(cats))}'"
        f" data-agent='{html.escape(agent)}'>"
        f"<h2>{html.escape(str(report['conversation_id']))} · agent {html.escape(agent or '—')} · score {report['score']:g} {verdict}</h2>"
    ]
    last = None
    for i in sorted(show):
        t = turns[i]
        if last is not None and i != last + 1:
            parts.append("<div class='turn'>…</div>")
        last = i
        v = by_turn.get(i)
        text = _highlight(t.get("text", ""), v["evidence"]) if v else html.escape(t.get("text", ""))
        tags = "".join(f"<span class='tag'>{lab}</span>" for lab in v["labels"]) + f"<span class='tag'>{v['decision']}</span>" if v else ""
        parts.append(
            f"<div class='turn{' flag' if v else ''}' data-turn='{i}'><span class='t'>{_fmt_time(t.get('start'))}</span>"
            f"<span class='who'>{html.escape(str(t.get('speaker', '')))}</span> {text}{tags}</div>"
        )
    parts.append("</section>")
    return {"id": str(report["conversation_id"]), "agent": agent, "cats": sorted(cats), "html": "\n".join(parts)}


class HtmlReport:
    """The page, written as calls arrive, so memory stays flat however many calls are flagged.

    Sections go to `REPORT.html.parts` (one JSON line per call, whole-line writes like the other
    outputs); `close` writes the head (counts and filters are known only at the end), copies the
    sections after it, moves the finished page into place and removes the parts file. With
    `--resume`, the parts of the calls already in the output are kept, so the page still shows
    every flagged call once.
    """

    def __init__(self, path: str | Path, resume: bool = False, done: set[str] = frozenset()) -> None:
        self.path = Path(path)
        self.parts_path = self.path.with_name(self.path.name + ".parts")
        self.cats: set[str] = set()  # the filters, known in full only at the end
        self.agents: set[str] = set()
        self.count = 0
        if resume and self.parts_path.exists():  # keep the parts of calls already in the output, streamed
            with open(self.parts_path, encoding="utf-8") as src, tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.parts_path.parent, delete=False
            ) as kept:
                for line in src:
                    if line.endswith("\n") and (part := json.loads(line))["id"] in done:
                        kept.write(line)
                        self._note(part)
            os.replace(kept.name, self.parts_path)
        self.parts = open(self.parts_path, "a" if resume else "w", encoding="utf-8")

    def add(self, part: dict) -> None:
        """One call's part (see call_section), on disk before the call's output line."""
        self.parts.write(json.dumps(part, ensure_ascii=False) + "\n")
        self.parts.flush()
        self._note(part)

    def _note(self, part: dict) -> None:
        self.cats.update(part["cats"])
        self.agents.add(part["agent"])
        self.count += 1

    def close(self, summary: dict, versions: dict) -> None:
        self.parts.close()
        cats, agents, count = self.cats, self.agents, self.count
        head = [
            "<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>",
            "<title>jiyu 忌语 QA report</title>",
            f"<style>{STYLE}</style></head><body>",
            "<h1>jiyu 忌语 QA report</h1>",
            f"<p class='meta'>{summary['scored']} records scored, {summary['flagged']} flagged, {summary['skipped']} skipped"
            + (f", {summary['resumed']} from an earlier run" if summary.get("resumed") else "") + " · "
            f"lexicon {html.escape(str(versions.get('lexicon_version')))} · model {html.escape(str(versions.get('model_version')))}</p>",
            "<div class='filters'>Category <select id='cat'><option value=''>all</option>",
            *[f"<option value='{c}'>{c} {CATEGORY_NAMES_ZH.get(c, '')}</option>" for c in sorted(cats)],
            "</select> Agent <select id='agent'><option value=''>all</option>",
            *[f"<option value='{html.escape(a)}'>{html.escape(a)}</option>" for a in sorted(agents - {""})],
            f"</select> · showing <span id='shown'>{count}</span> of {count} flagged calls</div>",
        ]
        tail = [
            f"<script>{SCRIPT}</script>",
            f"<script type='application/json' id='jiyu-summary'>{html.escape(json.dumps(summary, ensure_ascii=False))}</script>",
            "</body></html>",
        ]
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as out, open(self.parts_path, encoding="utf-8") as parts:
            out.write("\n".join(head) + "\n")
            for line in parts:  # streamed: one call's section at a time
                out.write(json.loads(line)["html"] + "\n")
            out.write("\n".join(tail))
        os.replace(partial, self.path)  # a crash never leaves half a page under the report's name
        self.parts_path.unlink()
