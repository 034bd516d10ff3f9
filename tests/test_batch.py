"""The batch scorer for call transcripts: formats, roles, encodings, outputs, bad records, resume."""

import csv
import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures"


def jiyu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def scan(*args: str) -> tuple[list[dict], subprocess.CompletedProcess]:
    r = jiyu("scan", "--no-classifier", *args)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()], r


def flagged_turns(report: dict) -> list[tuple[int, str]]:
    return [(v["turn"], v["speaker"]) for v in report["violations"]]


def test_when_srt_scanned_then_agent_turns_judged_with_times():
    (report,), _ = scan(str(FIX / "call_0412.srt"))
    assert report["conversation_id"] == "call_0412"
    assert flagged_turns(report) == [(3, "坐席")]
    v = report["violations"][0]
    assert (v["start"], v["end"]) == (8.1, 11.9)
    assert {e["rule_id"] for e in v["evidence"]} >= {"impa-012", "impo-002"}


def test_when_vtt_scanned_then_voice_tags_give_speakers_and_clean_call_passes():
    (report,), _ = scan(str(FIX / "call_0413.vtt"))
    assert report["turns_judged"] == 2 and not report["flagged"] and report["score"] == 100


def test_when_turns_csv_with_other_column_names_then_mapped_grouped_and_ordered():
    rows, _ = scan(str(FIX / "turns.csv"), "--columns", "conversation_id=call_id,order=seq,speaker=role,start=begin,end=finish,text=content")
    assert [r["conversation_id"] for r in rows] == ["c-101", "c-102"]
    assert flagged_turns(rows[0]) == [(1, "坐席")]  # sorted by seq: the customer spoke first
    assert rows[1]["violations"] == []  # the customer's insult is not the agent's


@pytest.mark.parametrize("name,agent_args,expect", [
    ("whisper.json", [], [(2, "agent")]),
    ("funasr.json", ["--agent-speakers", "spk0"], [(2, "spk0")]),
    ("funasr.json", [], [(2, "spk0")]),  # not named: inferred from the greeting (agent_inferred in the report)
    ("assemblyai_dual.json", ["--agent-channel", "1"], [(4, "agent")]),  # the customer's 破服务 on channel 2 is not judged
    ("assemblyai_dual.json", ["--agent-speakers", "ch1"], [(4, "ch1")]),
    ("assemblyai_dual.json", [], [(4, "ch1")]),
])
def test_when_asr_json_scanned_then_segments_become_turns(name, agent_args, expect):
    (report,), _ = scan(str(FIX / name), *agent_args)
    assert flagged_turns(report) == expect
    assert report["agent_inferred"] == (not agent_args and name != "whisper.json")


def test_when_transcript_is_gbk_then_detected_and_decoded():
    (report,), _ = scan(str(FIX / "transcript_gbk.txt"), "--format", "transcript")
    assert flagged_turns(report) == [(2, "坐席")]
    (again,), _ = scan(str(FIX / "transcript_gbk.txt"), "--format", "transcript", "--encoding", "gbk")
    assert again["violations"] == report["violations"]


def test_when_csv_has_bom_then_header_still_read():
    (report,), _ = scan(str(FIX / "turns_bom.csv"))
    assert report["conversation_id"] == "b-1" and report["flagged"]


def test_when_records_are_bad_then_each_reported_with_line_and_reason_and_rest_scored(tmp_path):
    errs = tmp_path / "errors.jsonl"
    rows, r = scan(str(FIX / "bad_calls.jsonl"), "--format", "conversations", "--errors", str(errs))
    assert [x["conversation_id"] for x in rows] == ["ok-1", "ok-2"]
    bad = [(e["line"], e["error"]) for e in map(json.loads, errs.read_text(encoding="utf-8").splitlines())]
    assert bad[0] == (2, "turns[1].start: 1.0 is before the previous turn's start (5.0)")
    assert bad[1] == (3, "turns[0].text: Field required")
    assert bad[2] == (4, "turns: Field required")
    assert bad[3][0] == 5 and bad[3][1].startswith("invalid JSON")
    strict = jiyu("scan", "--no-classifier", "--strict", str(FIX / "bad_calls.jsonl"))
    assert strict.returncode == 1


def test_when_violations_csv_and_summary_asked_then_excel_ready_rows_and_per_agent_totals(tmp_path):
    vcsv, summary = tmp_path / "v.csv", tmp_path / "summary.json"
    scan(str(FIX / "turns.csv"), "--columns", "conversation_id=call_id,order=seq,speaker=role,start=begin,end=finish,text=content",
         "--violations-csv", str(vcsv), "--summary", str(summary))
    raw = vcsv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert {r["conversation_id"] for r in rows} == {"c-101"} and rows[0]["evidence"] == "问别人去"
    assert float(rows[0]["turn_deduction"]) == 5.0
    agents = json.loads(summary.read_text(encoding="utf-8"))["agents"]
    assert agents["A7"]["violations"] == 1 and agents["A8"]["violations"] == 0 and agents["A8"]["pass_rate"] == 1.0


def test_when_score_sheet_given_then_call_scores_follow_it(tmp_path):
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text(
        "name: strict\nstart: 10\npass_mark: 10\ncap_per_call: 10\n"
        "deductions: {disrespectful: {1: 1, 2: 1, 3: 1}, unfriendly: {1: 1, 2: 1, 3: 1},"
        " impatient: {1: 4, 2: 4, 3: 4}, impolite: {1: 1, 2: 1, 3: 1}}\n", encoding="utf-8")
    (report,), _ = scan(str(FIX / "call_0412.srt"), "--score-sheet", str(sheet))
    assert report["score_sheet"] == "strict" and report["score"] == 6 and not report["passed"]


def test_when_run_is_killed_and_resumed_then_every_conversation_is_written_exactly_once(tmp_path):
    src, out, vcsv = tmp_path / "calls.jsonl", tmp_path / "out.jsonl", tmp_path / "v.csv"
    texts = ["您好，请问有什么可以帮您", "问别人去", "好的，马上为您处理", "有完没完"]
    with open(src, "w", encoding="utf-8") as f:
        for i in range(6000):
            turns = [{"speaker": "customer", "start": 0, "end": 1, "text": "请问在吗"},
                     {"speaker": "agent", "start": 1, "end": 2, "text": texts[i % 4]}]
            f.write(json.dumps({"conversation_id": f"c{i}", "turns": turns}, ensure_ascii=False) + "\n")
    html = tmp_path / "report.html"
    args = [sys.executable, "-m", "detector.cli", "scan", "--no-classifier", str(src), "-o", str(out), "--violations-csv", str(vcsv),
            "--html", str(html)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = out.read_text(encoding="utf-8").count("\n")
    assert 0 < partial < 6000, "the run must be killed mid-way for this test to mean anything"
    r = subprocess.run(args + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ids = [json.loads(line)["conversation_id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids, key=lambda x: int(x[1:])) == [f"c{i}" for i in range(6000)]
    assert len(set(ids)) == 6000
    rows = list(csv.DictReader(vcsv.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 3000 and len({r["conversation_id"] for r in rows}) == 3000
    assert f"6000 scored ({partial} from an earlier run)" in r.stderr
    sections = re.findall(r"<section class='call' data-id='(c\d+)'", html.read_text(encoding="utf-8"))
    assert sorted(sections, key=lambda x: int(x[1:])) == sorted({r["conversation_id"] for r in rows}, key=lambda x: int(x[1:]))
    assert len(sections) == 3000 and not (tmp_path / "report.html.parts").exists()


def test_when_two_workers_scan_then_output_is_identical_and_in_input_order(tmp_path):
    src = tmp_path / "calls.jsonl"
    lines = ["您好，请问有什么可以帮您", "问别任去", "好的，马上为您处理", "你自己不会看公告吗"]
    with open(src, "w", encoding="utf-8") as f:
        for i in range(1500):
            turns = [{"speaker": "agent", "start": k, "end": k + 1, "text": lines[(i + k) % 4]} for k in range(3)]
            f.write(json.dumps({"conversation_id": f"w{i}", "agent_id": f"A{i % 3}", "turns": turns}, ensure_ascii=False) + "\n")
    one = jiyu("scan", str(src), "--workers", "1")
    two = jiyu("scan", str(src), "--workers", "2")
    assert one.returncode == two.returncode == 0
    assert two.stdout == one.stdout and len(one.stdout.splitlines()) == 1500


def test_when_turns_csv_breaks_encoding_mid_file_then_earlier_calls_kept_and_reason_given(tmp_path):
    src = tmp_path / "turns.csv"
    good = "conversation_id,order,speaker,start,end,text\nk-1,1,agent,0,1,问别人去\nk-2,1,agent,0,1,您好\n".encode()
    src.write_bytes(good + b"k-3,1,agent,0,1," + "您好".encode("gbk") * 40000 + b"\n")
    rows, r = scan(str(src), "--format", "turns-csv", "--encoding", "utf-8")
    assert [x["conversation_id"] for x in rows][:1] == ["k-1"] and rows[0]["flagged"]
    assert f"{src}:4: cannot decode as utf-8" in r.stderr


def test_when_a_call_carries_fields_orjson_refuses_then_they_pass_through_unchanged(tmp_path):
    src = tmp_path / "calls.jsonl"
    big = 2**70  # beyond 64 bits: a CRM id, say
    src.write_text(json.dumps({"conversation_id": "x1", "crm_id": big, "turns": [
        {"speaker": "agent", "text": "问别人去"}]}, ensure_ascii=False) + "\n", encoding="utf-8")
    (report,), _ = scan(str(src))
    assert report["crm_id"] == big and flagged_turns(report) == [(0, "agent")]
