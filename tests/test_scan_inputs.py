"""No silent passes: every call judged or reported, every input read or refused with the reason."""

import json
from pathlib import Path

import pytest

from detector import cli
from detector.speakers import infer_agent

ROOT = Path(__file__).resolve().parents[1]
RUDE_AGENT = "有完没完啊你，自己查去"


def run(capfd, *args: str) -> tuple[int, list[dict], str]:
    """`jiyu scan --no-classifier ARGS` in this process: exit code, output records, stderr."""
    code = cli.main(["scan", "--no-classifier", *args])
    out, err = capfd.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def diarised(cid: str, agent: str, customer: str, agent_id: str | None = None) -> dict:
    call = {"conversation_id": cid, "turns": [
        {"speaker": agent, "text": "您好，很高兴为您服务，工号3306，请问有什么可以帮您"},
        {"speaker": customer, "text": "喂，我的快递三天了还没到，你们怎么回事"},
        {"speaker": agent, "text": RUDE_AGENT},
        {"speaker": customer, "text": "你这什么态度"},
    ]}
    return {**call, "agent_id": agent_id} if agent_id else call


# -- 1. calls with no agent identified --------------------------------------------------------


@pytest.mark.parametrize("agent,customer", [("SPEAKER_00", "SPEAKER_01"), ("spk1", "spk0"), ("张三", "李四")])
def test_when_speakers_are_unnamed_then_agent_inferred_recorded_and_judged(tmp_path, capfd, agent, customer):
    code, (report,), _ = run(capfd, write_jsonl(tmp_path / "c.jsonl", [diarised("c1", agent, customer)]))
    assert code == 0
    assert report["agent_speaker"] == agent and report["agent_inferred"] is True
    assert report["agent_confidence"] >= 0.75 and "工号" in report["agent_cues"]
    assert [v["turn"] for v in report["violations"]] == [2] and report["score"] < 100


def test_when_inference_off_then_unnamed_call_is_a_bad_record_naming_speakers_and_flag(tmp_path, capfd):
    errors = tmp_path / "errors.jsonl"
    code, rows, err = run(capfd, write_jsonl(tmp_path / "c.jsonl", [diarised("c1", "SPEAKER_00", "SPEAKER_01")]),
                          "--no-infer-agent", "--errors", str(errors))
    assert rows == [] and code == 2  # the file's only call could not be judged: never "0 scored, exit 0"
    assert "SPEAKER_00 (2 turns), SPEAKER_01 (2 turns)" in err and "--agent-speakers" in err
    (bad,) = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert bad["kind"] == "no_agent" and bad["id"] == "c1"


def test_when_srt_has_no_speaker_prefixes_then_no_pass_but_an_error(tmp_path, capfd):
    srt = tmp_path / "call.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\n您好，这里是顺达快递客服\n\n"
                   "2\n00:00:04,000 --> 00:00:05,000\n有完没完\n", encoding="utf-8")
    code, rows, err = run(capfd, str(srt))
    assert code == 2 and rows == []
    assert "none of the 2 turns names its speaker" in err


def test_when_calls_mix_named_inferred_and_unknown_then_summary_counts_each(tmp_path, capfd):
    summary = tmp_path / "summary.json"
    calls = [diarised("named", "坐席", "客户", "A1"), diarised("guessed", "SPEAKER_00", "SPEAKER_01", "A2"),
             {"conversation_id": "lost", "turns": [{"speaker": "spk0", "text": "好的"}, {"speaker": "spk1", "text": "嗯"}]}]
    code, rows, err = run(capfd, write_jsonl(tmp_path / "c.jsonl", calls), "--summary", str(summary))
    assert code == 0 and [r["conversation_id"] for r in rows] == ["named", "guessed"]
    totals = json.loads(summary.read_text(encoding="utf-8"))
    assert totals["calls_agent_inferred"] == 1 and totals["calls_no_agent"] == 1 and totals["skipped"] == 1
    assert "agent inferred in 1 call(s), no agent found in 1" in err


def test_when_inferring_on_bundled_calls_then_the_customer_is_never_named_agent():
    """The costly error is blaming the customer; on every bundled call with known roles, renamed as
    diarisation would name them, the inference is right or abstains."""
    calls = [json.loads(line) for line in (ROOT / "examples/conversations.jsonl").read_text(encoding="utf-8").splitlines()]
    right = 0
    for call in calls:
        names = {}
        for t in call["turns"]:
            names.setdefault(t["speaker"], f"SPEAKER_{len(names):02d}")
        turns = [{**t, "speaker": names[t["speaker"]]} for t in call["turns"]]
        agent = next(names[s] for s in names if s in ("agent", "坐席", "客服"))
        guess = infer_agent(turns, set(names.values())).speaker
        assert guess in (agent, None), call["conversation_id"]
        right += guess == agent
    assert right >= len(calls) // 2


# -- 2. format detection ------------------------------------------------------------------------


def test_when_txt_lines_carry_speaker_prefixes_then_read_as_a_transcript(tmp_path, capfd):
    txt = tmp_path / "call.txt"
    txt.write_text("坐席：您好，很高兴为您服务\n客户：你们有完没完，天天打电话\n坐席：好的，给您添麻烦了，我这边登记一下\n", encoding="utf-8")
    code, (report,), _ = run(capfd, str(txt))
    assert code == 0 and report["conversation_id"] == "call"
    assert report["violations"] == []  # the customer's 有完没完 is not the agent's


def test_when_txt_is_plain_utterances_then_one_verdict_per_line(tmp_path, capfd):
    txt = tmp_path / "replies.txt"
    txt.write_text("您好\n有完没完\n注意：明天停水\n", encoding="utf-8")
    _, rows, _ = run(capfd, str(txt))
    assert [r["flagged"] for r in rows] == [False, True, False]


# -- 3. encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-8-sig"])
def test_when_csv_saved_by_excel_in_any_encoding_then_read(tmp_path, capfd, encoding):
    src = tmp_path / "replies.csv"
    src.write_bytes("id,text\n1,有完没完\n2,您好，请问有什么可以帮您\n".encode(encoding))
    code, rows, _ = run(capfd, str(src))
    assert code == 0 and [(r["id"], r["text"], r["flagged"]) for r in rows] == [("1", "有完没完", True), ("2", "您好，请问有什么可以帮您", False)]


def test_when_plain_text_is_gbk_then_read(tmp_path, capfd):
    src = tmp_path / "replies.txt"
    src.write_bytes("您好\n问别人去\n".encode("gbk"))
    _, rows, _ = run(capfd, str(src))
    assert [r["text"] for r in rows] == ["您好", "问别人去"] and rows[1]["flagged"]


def test_when_encoding_given_then_it_applies_to_jsonl_too(tmp_path, capfd):
    src = tmp_path / "r.jsonl"
    src.write_bytes(json.dumps({"id": 1, "text": "有完没完"}, ensure_ascii=False).encode("gbk") + b"\n")
    _, (row,), _ = run(capfd, str(src), "--encoding", "gbk")
    assert row["text"] == "有完没完" and row["flagged"]


def test_when_file_cannot_be_decoded_as_told_then_exit_2_with_the_reason(tmp_path, capfd):
    src = tmp_path / "replies.txt"
    src.write_bytes("您好\n问别人去\n有完没完\n".encode("gbk"))
    code, rows, err = run(capfd, str(src), "--encoding", "utf-8")
    assert code == 2 and rows == []
    assert "cannot decode as utf-8" in err


def test_when_encoding_unknown_or_file_binary_then_exit_2(tmp_path, capfd):
    src = tmp_path / "r.txt"
    src.write_text("您好\n", encoding="utf-8")
    code, _, err = run(capfd, str(src), "--encoding", "klingon")
    assert code == 2 and "--encoding 'klingon'" in err
    src.write_bytes("您好\n".encode("utf-16-le"))  # no BOM: NUL bytes everywhere
    code, _, err = run(capfd, str(src))
    assert code == 2 and "NUL" in err


# -- 4. wrong column or field -------------------------------------------------------------------


def test_when_csv_lacks_the_text_column_then_exit_2_naming_columns_and_flag(tmp_path, capfd):
    src = tmp_path / "r.csv"
    src.write_text("id,reply\n1,有完没完\n", encoding="utf-8")
    code, rows, err = run(capfd, str(src))
    assert code == 2 and rows == []
    assert "no column 'text'; the header has id, reply" in err and "--text-column" in err


def test_when_no_jsonl_line_has_the_field_then_exit_2_naming_fields_and_flag(tmp_path, capfd):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "content": "有完没完"}, {"id": 2, "content": "您好"}])
    code, rows, err = run(capfd, src)
    assert code == 2 and rows == []
    assert "'text'" in err and "content" in err and "--text-field" in err
    code, rows, _ = run(capfd, src, "--text-field", "content")
    assert code == 0 and len(rows) == 2


def test_when_columns_name_an_unknown_key_then_refused(tmp_path, capfd):
    src = tmp_path / "t.csv"
    src.write_text("call,who,said\nc1,agent,您好\n", encoding="utf-8")
    code, _, err = run(capfd, str(src), "--columns", "conversation_id=call,speaker=who,txt=said")
    assert code == 2 and "unknown name(s) txt" in err and "agent_id" in err


def test_when_turns_csv_maps_agent_id_then_taken_from_the_agents_rows(tmp_path, capfd):
    src = tmp_path / "t.csv"
    src.write_text("call,who,said,staff\nc1,customer,你好,\nc1,agent,问别人去,A42\nc1,customer,嗯,C9\n", encoding="utf-8")
    code, (report,), _ = run(capfd, str(src), "--columns", "conversation_id=call,speaker=who,text=said,agent_id=staff")
    assert code == 0 and report["agent_id"] == "A42" and report["flagged"]


# -- 6. conversations ---------------------------------------------------------------------------


def test_when_turns_empty_then_a_bad_record(tmp_path, capfd):
    src = write_jsonl(tmp_path / "c.jsonl", [{"conversation_id": "e", "turns": []}, diarised("ok", "坐席", "客户")])
    code, rows, err = run(capfd, src)
    assert code == 0 and [r["conversation_id"] for r in rows] == ["ok"]
    assert "no turns" in err


def test_when_a_customer_turn_has_no_text_then_it_alone_is_skipped(tmp_path, capfd):
    call = diarised("c1", "坐席", "客户")
    del call["turns"][3]["text"]
    call["turns"][1]["text"] = None
    errors = tmp_path / "errors.jsonl"
    code, (report,), err = run(capfd, write_jsonl(tmp_path / "c.jsonl", [call]), "--errors", str(errors))
    assert code == 0 and [v["turn"] for v in report["violations"]] == [2]
    assert [t["turn"] for t in report["skipped_turns"]] == [1, 3]
    assert "turn 3 (客户): text missing; that turn skipped" in err
    assert len(errors.read_text(encoding="utf-8").splitlines()) == 2


def test_when_an_agent_turn_has_no_text_then_the_call_is_a_bad_record(tmp_path, capfd):
    call = diarised("c1", "坐席", "客户")
    call["turns"][2]["text"] = 42
    code, rows, err = run(capfd, write_jsonl(tmp_path / "c.jsonl", [call]))
    assert rows == [] and "turns[2].text" in err


def test_stdin_is_read_with_format_detected(monkeypatch, capfd):
    import io
    import sys

    data = json.dumps({"id": "x", "text": "问别人去"}, ensure_ascii=False) + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode()), encoding="utf-8"))
    monkeypatch.setattr("detector.inputs._STDIN", __import__("detector.inputs", fromlist=["_Stdin"])._Stdin())
    code, (row,), _ = run(capfd, "-")
    assert code == 0 and row["id"] == "x" and row["flagged"]
