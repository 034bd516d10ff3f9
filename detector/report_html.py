"""`jiyu scan --html REPORT.html`: one self-contained page for trainers.

Each flagged call with the turns around every violation, evidence highlighted (hover for rule,
severity and the polite alternative) and listed under its turn, timestamps, the call's score.
Categories are shown in Chinese (English on hover). A search box, filters (category, agent,
pass/fail) and sorting by score run in inline JavaScript. No external assets: the file can be
mailed or archived.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from pathlib import Path

from .lexicon import CATEGORY_NAMES_ZH

CONTEXT = 2  # turns shown before and after each violating turn
SOURCE_NAMES_ZH = {"lexicon": "词表", "pattern": "句式", "pinyin": "谐音", "classifier": "语气模型"}
DECISION_NAMES_ZH = {"violation": "违规", "review": "待复核", "pass": "通过"}

STYLE = """
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} .meta{color:#666;font-size:.9em}
.filters{margin:1em 0;padding:.6em;background:#f4f4f4;border-radius:6px;line-height:2}
.filters label{margin-right:.8em} #q{width:16em}
.call{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.call h2{font-size:1.05em;margin:.2em 0} .fail{color:#b00020} .pass{color:#2e7d32}
.turn{margin:.25em 0;padding:.2em .4em;border-left:3px solid transparent}
.turn.flag{border-left-color:#e53935;background:#fff6f6}
.who{display:inline-block;min-width:5em;color:#555} .t{color:#999;font-size:.85em;margin-right:.5em}
mark{padding:0 .15em;border-radius:3px}
.disrespectful{--c:#ffcdd2} .unfriendly{--c:#ffe0b2} .impatient{--c:#fff59d} .impolite{--c:#d1c4e9}
mark,.tag.cat{background:var(--c,#eee)}
.tone{text-decoration:underline wavy #e53935;text-underline-offset:4px}
.tag{font-size:.8em;border-radius:3px;padding:0 .3em;margin-left:.4em;background:#eee}
ul.ev{list-style:none;margin:.1em 0 .5em 6em;padding:0;font-size:.85em;color:#444}
ul.ev li{margin:.15em 0} ul.ev q{font-weight:600} ul.ev code{color:#555}
.sugg{color:#2e7d32}
"""

SCRIPT = """
(function(){
var box=document.getElementById('calls'), calls=[].slice.call(box.querySelectorAll('section.call'));
function squash(s){return s.replace(/\\s+/g,'').toLowerCase();}
var hay=calls.map(function(el){return squash((el.dataset.id||'')+' '+(el.dataset.agent||'')+' '+el.textContent);});
function val(id){return document.getElementById(id).value;}
function applyFilters(){
  var terms=val('q').toLowerCase().split(/\\s+/).filter(Boolean), c=val('cat'), a=val('agent'), r=val('result'), n=0;
  calls.forEach(function(el,i){
    var ok=(!c||(el.dataset.cats||'').split(' ').indexOf(c)>=0)&&(!a||el.dataset.agent===a)
      &&(!r||(el.dataset.passed==='true')===(r==='pass'))
      &&terms.every(function(t){return hay[i].indexOf(t)>=0;});
    el.style.display=ok?'':'none'; if(ok)n++;});
  document.getElementById('shown').textContent=n;
}
function score(el){var v=parseFloat(el.dataset.score);return isNaN(v)?null:v;}
function applySort(){
  var how=val('sort'), idx=new Map(calls.map(function(el,i){return [el,i];}));
  calls.slice().sort(function(x,y){
    var a=score(x), b=score(y);
    if(how&&a!==b){if(a===null)return 1; if(b===null)return -1; return how==='asc'?a-b:b-a;}
    return idx.get(x)-idx.get(y);  // input order among equals, and when unsorted
  }).forEach(function(el){box.appendChild(el);});
}
document.getElementById('q').addEventListener('input',applyFilters);
['cat','agent','result'].forEach(function(id){document.getElementById(id).addEventListener('change',applyFilters);});
document.getElementById('sort').addEventListener('change',applySort);
})();
"""


def _fmt_time(t: float | None) -> str:
    return "" if t is None else f"{int(t // 60):02d}:{t % 60:05.2f}"


def _cat(c: str) -> str:
    """A category's Chinese name, the English id on hover."""
    return f"<span class='tag cat {html.escape(c)}' title='{html.escape(c)}'>{html.escape(CATEGORY_NAMES_ZH.get(c, c))}</span>"


def _tip(e: dict) -> str:
    src = SOURCE_NAMES_ZH.get(e["source"], e["source"])
    tip = f"{CATEGORY_NAMES_ZH.get(e['category'], e['category'])} {e['category']} · {src} {e['rule_id']} · severity {e['severity']}"
    if e["source"] == "classifier" and e.get("score") is not None:
        tip += f" · p={e['score']:.2f}"
    return tip + (f" · 建议：{e['suggestion']}" if e.get("suggestion") else "")


def _disjoint(evidence: list[dict]) -> list[dict]:
    """Non-overlapping spans, the first (and of those the longest) winning."""
    kept, pos = [], 0
    for e in sorted(evidence, key=lambda e: (e["start"], -e["end"])):
        if e["start"] >= pos and e["end"] > e["start"]:
            kept.append(e)
            pos = e["end"]
    return kept


def _highlight(text: str, evidence: list[dict]) -> str:
    """The turn's text with the lexicon's evidence (lexicon, pattern, pinyin) in <mark>s and the
    tone classifier's spans as a wavy underline around them. Lexicon marks win: a classifier span
    is shrunk so that it never cuts one (it usually covers the whole clause they sit in)."""
    marks = _disjoint([e for e in evidence if e["source"] != "classifier"])
    tags = []  # (position, order at that position, tag): closers first, the underline outside marks
    for t in _disjoint([e for e in evidence if e["source"] == "classifier"]):
        s, end = t["start"], t["end"]
        for m in marks:  # disjoint marks: moving to one's edge never lands inside another
            if m["start"] < s < m["end"]:
                s = m["end"]
            if m["start"] < end < m["end"]:
                end = m["start"]
        if s < end:
            tags += [(s, 2, f"<span class='tone {t['category']}' title='{html.escape(_tip(t))}'>"), (end, 1, "</span>")]
    for m in marks:
        tags += [(m["start"], 3, f"<mark class='{m['category']}' title='{html.escape(_tip(m))}'>"), (m["end"], 0, "</mark>")]
    out, pos = [], 0
    for at, _, tag in sorted(tags, key=lambda x: (x[0], x[1])):
        out += [html.escape(text[pos:at]), tag]
        pos = at
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _evidence_list(evidence: list[dict]) -> str:
    """Every piece of evidence of a turn with its rule and suggestion, overlapping or not."""
    items = []
    for e in sorted(evidence, key=lambda e: (e["start"], e["end"])):
        src = e["source"]
        items.append(
            f"<li data-source='{html.escape(src)}' data-rule='{html.escape(e['rule_id'])}'>{_cat(e['category'])} "
            f"<q>{html.escape(e['text'])}</q> <code>{html.escape(e['rule_id'])}</code> "
            f"{html.escape(SOURCE_NAMES_ZH.get(src, src))} · severity {e['severity']}"
            + (f" · <span class='sugg'>建议：{html.escape(e['suggestion'])}</span>" if e.get("suggestion") else "")
            + "</li>"
        )
    return f"<ul class='ev'>{''.join(items)}</ul>" if items else ""


def call_section(report: dict, turns: list[dict], agent: str) -> dict:
    """One flagged call's part of the page: its id, agent, categories, score, pass/fail, and as
    HTML its violating turns with the turns around them. Built where the call is judged (a scan
    worker), so the parent only appends it to the page."""
    show: set[int] = set()
    for v in report["violations"]:
        show.update(range(max(0, v["turn"] - CONTEXT), min(len(turns), v["turn"] + CONTEXT + 1)))
    by_turn = {v["turn"]: v for v in report["violations"]}
    cats = {lab for v in report["violations"] for lab in v["labels"]}
    passed = bool(report["passed"])
    verdict = "<span class='pass' title='pass'>合格</span>" if passed else "<span class='fail' title='fail'>不合格</span>"
    cid = html.escape(str(report["conversation_id"]))
    parts = [
        f"<section class='call' data-id='{cid}' data-cats='{html.escape(' '.join(sorted(cats)))}'"
        f" data-agent='{html.escape(agent)}' data-score='{float(report['score'])}' data-passed='{str(passed).lower()}'>"
        f"<h2>{cid} · 坐席 agent {html.escape(agent or '—')} · 得分 score {report['score']:g} {verdict}</h2>"
    ]
    last = None
    for i in sorted(show):
        t = turns[i]
        if last is not None and i != last + 1:
            parts.append("<div class='turn'>…</div>")
        last = i
        v = by_turn.get(i)
        text = _highlight(t.get("text", ""), v["evidence"]) if v else html.escape(t.get("text", ""))
        tags = "".join(_cat(lab) for lab in v["labels"]) + (
            f"<span class='tag' title='{v['decision']}'>{DECISION_NAMES_ZH.get(v['decision'], v['decision'])}</span>") if v else ""
        parts.append(
            f"<div class='turn{' flag' if v else ''}' data-turn='{i}'><span class='t'>{_fmt_time(t.get('start'))}</span>"
            f"<span class='who'>{html.escape(str(t.get('speaker', '')))}</span> {text}{tags}</div>"
            + (_evidence_list(v["evidence"]) if v else "")
        )
    parts.append("</section>")
    return {"id": str(report["conversation_id"]), "agent": agent, "cats": sorted(cats), "score": report["score"],
            "passed": passed, "html": "\n".join(parts)}


def utterance_section(record: dict, agent: str = "") -> dict:
    """One flagged reply (utterance input) as a section of the same page: its text highlighted,
    the evidence listed, the verdict's score (0-1, higher is worse)."""
    rid = html.escape(str(record["id"]))
    cats = record["labels"]
    decision = record["decision"]
    tags = "".join(_cat(lab) for lab in cats) + f"<span class='tag' title='{decision}'>{DECISION_NAMES_ZH.get(decision, decision)}</span>"
    body = (
        f"<section class='call' data-id='{rid}' data-cats='{html.escape(' '.join(cats))}' data-agent='{html.escape(agent)}'"
        f" data-score='{float(record['score'])}' data-passed='false'>"
        f"<h2>{rid}{' · 坐席 agent ' + html.escape(agent) if agent else ''} · 分值 score {record['score']:g}</h2>"
        f"<div class='turn flag'>{_highlight(record.get('text', ''), record['evidence'])}{tags}</div>"
        + _evidence_list(record["evidence"]) + "</section>"
    )
    return {"id": str(record["id"]), "agent": agent, "cats": list(cats), "score": record["score"], "passed": False, "html": body}


def script_json(obj: object) -> str:
    """JSON to embed in a <script> element: `<`, `>` and `&` as \\u escapes, so no `</script>`
    or `<!--` can end or change the element, and JSON.parse(el.textContent) gives `obj` back."""
    return json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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
            shutil.copymode(self.parts_path, kept.name)
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
            "<div class='filters'>",
            "<label>搜索 Search <input id='q' type='search' placeholder='通话、坐席或文字 call, agent or text'></label>",
            "<label>类别 Category <select id='cat'><option value=''>全部 all</option>",
            *[f"<option value='{html.escape(c)}' title='{html.escape(c)}'>{html.escape(CATEGORY_NAMES_ZH.get(c, c))}</option>"
              for c in sorted(cats)],
            "</select></label><label>坐席 Agent <select id='agent'><option value=''>全部 all</option>",
            *[f"<option value='{html.escape(a)}'>{html.escape(a)}</option>" for a in sorted(agents - {""})],
            "</select></label><label>结果 Result <select id='result'><option value=''>全部 all</option>"
            "<option value='fail'>不合格 fail</option><option value='pass'>合格 pass</option></select></label>",
            "<label>排序 Sort <select id='sort'><option value=''>原顺序 as scanned</option>"
            "<option value='asc'>得分从低到高 score ascending</option><option value='desc'>得分从高到低 score descending</option>"
            "</select></label>",
            f"<br>显示 showing <span id='shown'>{count}</span> / {count} flagged</div>",
            "<main id='calls'>",
        ]
        tail = [
            "</main>",
            f"<script>{SCRIPT}</script>",
            f"<script type='application/json' id='jiyu-summary'>{script_json(summary)}</script>",
            "</body></html>",
        ]
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as out, open(self.parts_path, encoding="utf-8") as parts:
            out.write("\n".join(head) + "\n")
            for line in parts:  # streamed: one call's section at a time
                out.write(json.loads(line)["html"] + "\n")
            out.write("\n".join(tail))
        if self.path.exists():  # a report someone made private stays private when rewritten
            shutil.copymode(self.path, partial)
        os.replace(partial, self.path)  # a crash never leaves half a page under the report's name
        self.parts_path.unlink()
