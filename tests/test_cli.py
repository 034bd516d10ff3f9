"""The `jiyu` command, run as a user runs it: in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def jiyu(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args], capture_output=True, text=True, input=stdin, cwd=ROOT, timeout=120
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_when_check_then_category_span_rule_and_suggestion_are_printed():
    r = jiyu("check", "有完没完啊你")
    assert r.returncode == 0, r.stderr
    assert "violation" in r.stdout and "impatient" in r.stdout and "[0:4]" in r.stdout
    assert "impa-002" in r.stdout and "建议" in r.stdout


def test_when_check_json_then_contract_fields_present():
    r = jiyu("check", "--json", "喂，您好", "问别人去")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["flagged"] for line in lines] == [False, True]
    ev = lines[1]["evidence"][0]
    assert {"start", "end", "text", "category", "source", "rule_id", "severity", "suggestion"} <= set(ev)


def test_when_scan_jsonl_with_bad_lines_then_good_lines_scored_in_order_and_bad_reported(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        "\n".join(
            [
                json.dumps({"id": "a", "text": "有完没完", "agent": "A7"}, ensure_ascii=False),
                "{not json",
                json.dumps({"id": "b"}),
                json.dumps({"id": "c", "text": 42}),
                json.dumps({"id": "d", "text": ""}),
                json.dumps({"id": "e", "text": "您好，请问有什么可以帮您"}, ensure_ascii=False),
            ]
        ).encode()
        + b"\n\xff\xfe\xfd\n"
        + json.dumps({"id": "f", "text": "老东西"}, ensure_ascii=False).encode()
        + b"\n"
    )
    out, errs = tmp_path / "out.jsonl", tmp_path / "errors.jsonl"
    r = jiyu("scan", str(src), "-o", str(out), "--errors", str(errs))
    assert r.returncode == 0, r.stderr
    rows = read_jsonl(out)
    assert [row["id"] for row in rows] == ["a", "d", "e", "f"]
    assert [row["flagged"] for row in rows] == [True, False, False, True]
    assert rows[0]["agent"] == "A7" and rows[0]["lexicon_version"]
    assert {"id", "flagged", "decision", "score", "labels", "evidence"} <= set(rows[0])
    bad = read_jsonl(errs)
    assert [(b["line"], b["error"].split(":")[0]) for b in bad] == [
        (2, "invalid JSON"),
        (3, "field 'text' is missing"),
        (4, "field 'text' must be a string, got a number"),
        (7, "cannot decode as utf-8 (byte 0"),
    ]
    assert f"{src}:2: invalid JSON" in r.stderr
    assert "4 scored, 2 flagged" in r.stderr and "4 skipped" in r.stderr


def test_when_scan_text_then_one_result_per_line_with_line_number_ids(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("您好\n问别人去\n\n谢谢您\n", encoding="utf-8")
    r = jiyu("scan", str(src))
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["id"], row["flagged"]) for row in rows] == [(1, False), (2, True), (3, False), (4, False)]


def test_when_scan_csv_with_custom_column_then_scored_and_bom_ignored(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,reply\n1,"好的,马上为您办理"\n2,"有完没完"\n3,多,了\n', encoding="utf-8-sig")
    r = jiyu("scan", str(src), "--text-column", "reply")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["id"], row["flagged"]) for row in rows] == [("1", False), ("2", True)]
    assert f"{src}:4: 3 fields, header has 2" in r.stderr


def test_when_scan_conversations_then_only_agent_turns_are_judged(tmp_path):
    conv = {
        "conversation_id": "c1",
        "channel": "call",
        "turns": [
            {"speaker": "customer", "start": 0.0, "end": 2.0, "text": "你们这帮老东西，有完没完"},
            {"speaker": "agent", "start": 2.1, "end": 4.0, "text": "您好，请问有什么可以帮您"},
            {"speaker": "customer", "start": 4.1, "end": 5.0, "text": "又来了"},
            {"speaker": "坐席", "start": 5.1, "end": 7.0, "text": "刚才和你说过了，怎么还问"},
        ],
    }
    src = tmp_path / "calls.jsonl"
    src.write_text(json.dumps(conv, ensure_ascii=False) + "\n" + '{"conversation_id": "c2"}\n', encoding="utf-8")
    r = jiyu("scan", str(src), "--format", "conversations")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["conversation_id"] == "c1" and rows[0]["flagged"]
    assert [(v["turn"], v["speaker"], v["start"]) for v in rows[0]["violations"]] == [(3, "坐席", 5.1)]
    assert f"{src}:2: turns: Field required" in r.stderr
    r = jiyu("scan", str(src), "--no-classifier", "--roles", "customer")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [v["turn"] for v in rows[0]["violations"]] == [0]


def test_when_scan_bundled_example_then_every_line_scored():
    r = jiyu("scan", "examples/utterances.jsonl")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len((ROOT / "examples/utterances.jsonl").read_text().splitlines())


def test_when_input_missing_then_clear_error():
    r = jiyu("scan", "no/such/file.jsonl")
    assert r.returncode == 2 and "no/such/file.jsonl: no such file" in r.stderr


@pytest.mark.parametrize("mode", ["qa", "realtime"])
def test_when_mode_given_then_it_is_reported(mode):
    r = jiyu("check", "--json", "--no-classifier", "--mode", mode, "问别任去")
    row = json.loads(r.stdout)
    assert row["mode"] == mode
    # a homophone alone is weaker evidence than the characters: a review in both modes
    assert row["decision"] == "review"


def test_when_lexicon_pack_given_then_scan_uses_it_and_reports_its_version(tmp_path):
    pack = tmp_path / "acme"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: acme\ndisable: [impa-002]\n", encoding="utf-8")
    (pack / "rules.yaml").write_text(
        "entries:\n  - {id: acme-001, phrase: 你自己百度, category: impatient, severity: 2}\n", encoding="utf-8"
    )
    r = jiyu("check", "--json", "--no-classifier", "--lexicon", str(pack), "你自己百度", "有完没完")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["flagged"] for row in rows] == [True, False]
    assert rows[0]["evidence"][0]["rule_id"] == "acme-001"
    default = json.loads(jiyu("check", "--json", "--no-classifier", "有完没完").stdout)
    assert rows[0]["lexicon_version"] != default["lexicon_version"]


def test_when_lexicon_pack_is_broken_then_command_fails_naming_file_and_line(tmp_path):
    pack = tmp_path / "broken"
    pack.mkdir()
    (pack / "rules.yaml").write_text("entries:\n  - {id: acme-001, phrase: 你自己百度, category: rude, severity: 2}\n", encoding="utf-8")
    r = jiyu("scan", "--lexicon", str(pack), "examples/utterances.jsonl")
    assert r.returncode == 2 and f"{pack}/rules.yaml:2: category" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args,message", [
    (("eval", "no/such.jsonl"), "jiyu eval: no/such.jsonl: no such file"),
    (("scan", "tests"), "jiyu scan: tests: is a directory, not a file"),
])
def test_when_path_is_wrong_then_exit_2_with_a_clear_message(args, message):
    r = jiyu(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_when_false_alarms_on_clean_file_then_shares_by_mode_source_and_rule_and_worst_lines(tmp_path):
    src = tmp_path / "clean_day.jsonl"
    lines = [{"text": "您好，请问有什么可以帮您？"}, {"text": "有完没完啊你"}, {"text": "好的，已经为您备注了"},
             {"text": "我也不知道，问别人去"}]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n", encoding="utf-8")
    r = jiyu("eval", "--false-alarms", str(src), "--no-classifier", "--json", "--top", "1")
    assert r.returncode == 0, r.stderr
    assert "clean_day.jsonl:5: invalid JSON" in r.stderr  # reported and skipped, the rest measured
    out = json.loads(r.stdout)
    assert out["lines"] == 4 and out["skipped"] == 1
    qa = {m["mode"]: m for m in out["modes"]}["qa"]
    assert qa["flagged"] == 2 and qa["flagged_share"] == 0.5
    assert qa["by_source"] == {"lexicon": {"lines": 2, "share": 0.5}}
    assert {"impa-002", "impa-010"} <= set(qa["by_rule"])
    assert len(qa["top"]) == 1 and qa["top"][0]["text"] in ("有完没完啊你", "我也不知道，问别人去")


def test_when_false_alarms_table_then_each_mode_and_the_worst_line_are_printed(tmp_path):
    src = tmp_path / "clean.txt"
    src.write_text("您好，请问有什么可以帮您？\n有完没完啊你\n", encoding="utf-8")
    r = jiyu("eval", "--false-alarms", str(src))
    assert r.returncode == 0, r.stderr
    assert "mode qa: 1 of 2 lines flagged (50.00%)" in r.stdout and "mode realtime" in r.stdout
    assert "impa-002" in r.stdout and "有完没完啊你" in r.stdout


def test_when_false_alarms_on_conversations_then_refused_with_the_reason(tmp_path):
    src = tmp_path / "calls.jsonl"
    src.write_text('{"conversation_id": "c1", "turns": [{"speaker": "agent", "text": "好的"}]}\n', encoding="utf-8")
    r = jiyu("eval", "--false-alarms", str(src))
    assert r.returncode == 2 and "not conversations" in r.stderr


def test_when_eval_on_labelled_data_then_context_model_losses_are_shown_per_rule(tmp_path):
    src = tmp_path / "labelled.jsonl"
    rows = [{"text": "这台老东西用了十年了，还挺好用的", "labels": []}, {"text": "老东西，你别乱按了", "labels": ["disrespectful"]}]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in rows) + "\n", encoding="utf-8")
    r = jiyu("eval", str(src))
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("disr-002"))
    assert row.split()[1:] == ["1", "0", "0"]  # lost on the none line, kept on the violation, none gained
    assert "context model" in r.stdout.splitlines()[-1]
