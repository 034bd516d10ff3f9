"""Reports a QA lead can trust: complete after --resume, for every input kind, counted right;
and the command-line habits of a mature tool (exit codes, stdin-free checks, help, versions)."""

import csv
import json
import os
import stat
from pathlib import Path

import pytest

from detector import cli

ROOT = Path(__file__).resolve().parents[1]


def run(capfd, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def calls(n: int) -> list[dict]:
    return [{"conversation_id": f"c{i}", "agent_id": f"A{i % 2}", "turns": [
        {"speaker": "客户", "text": "我的快递到哪了"},
        {"speaker": "坐席", "text": "有完没完，问别人去" if i % 2 else "您好，我帮您查一下"}]} for i in range(n)]


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))


# -- 5. reports complete ------------------------------------------------------------------------


def test_when_resumed_then_summary_covers_the_whole_output_and_files_keep_permissions(tmp_path, capfd):
    src = write_jsonl(tmp_path / "calls.jsonl", calls(6))
    out, vcsv, summary, page = tmp_path / "out.jsonl", tmp_path / "v.csv", tmp_path / "s.json", tmp_path / "r.html"
    args = ["scan", "--no-classifier", "-o", str(out), "--violations-csv", str(vcsv), "--summary", str(summary), "--html", str(page)]
    run(capfd, *args, src)
    whole = json.loads(summary.read_text(encoding="utf-8"))
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")  # as if killed after three calls
    os.chmod(vcsv, 0o640)
    os.chmod(page, 0o600)
    code, _, err = run(capfd, *args, "--resume", src)
    assert code == 0 and "6 scored (3 from an earlier run)" in err
    again = json.loads(summary.read_text(encoding="utf-8"))
    assert {k: v for k, v in again.items() if k != "resumed"} == {k: v for k, v in whole.items() if k != "resumed"}
    assert again["resumed"] == 3 and again["agents"]["A1"]["calls"] == 3
    assert stat.S_IMODE(os.stat(vcsv).st_mode) == 0o640 and stat.S_IMODE(os.stat(page).st_mode) == 0o600
    assert sorted(r["conversation_id"] for r in read_csv(vcsv)) == ["c1", "c1", "c3", "c3", "c5", "c5"]


def test_when_turn_has_several_evidence_rows_then_deduction_once_and_booleans_lowercase(tmp_path, capfd):
    src = write_jsonl(tmp_path / "calls.jsonl", calls(2))
    vcsv = tmp_path / "v.csv"
    run(capfd, "scan", "--no-classifier", src, "-o", str(tmp_path / "o.jsonl"), "--violations-csv", str(vcsv))
    rows = read_csv(vcsv)
    assert len(rows) == 2 and [r["turn_deduction"] for r in rows] == ["5.0", ""]
    assert {r["call_passed"] for r in rows} <= {"true", "false"}


def test_when_utterances_scanned_then_csv_summary_and_html_report_them(tmp_path, capfd):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": "r1", "text": "有完没完，问别人去"}, {"id": "r2", "text": "您好"}])
    vcsv, summary, page = tmp_path / "v.csv", tmp_path / "s.json", tmp_path / "r.html"
    code, _, _ = run(capfd, "scan", "--no-classifier", src, "-o", str(tmp_path / "o.jsonl"), "--violations-csv", str(vcsv),
                     "--summary", str(summary), "--html", str(page))
    assert code == 0
    rows = read_csv(vcsv)
    assert {r["id"] for r in rows} == {"r1"} and {r["evidence"] for r in rows} == {"有完没完", "问别人去"}
    assert rows[0]["text"] == "有完没完，问别人去"
    totals = json.loads(summary.read_text(encoding="utf-8"))
    assert totals["scored"] == 2 and totals["flagged"] == 1
    assert "data-id='r1'" in page.read_text(encoding="utf-8") and "data-id='r2'" not in page.read_text(encoding="utf-8")


def test_when_a_record_has_several_labels_then_each_is_counted(tmp_path, capfd):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "text": "你有完没完，老东西"}])
    summary = tmp_path / "s.json"
    _, out, _ = run(capfd, "scan", "--no-classifier", src, "--summary", str(summary))
    assert json.loads(out)["labels"] == ["disrespectful", "impatient"]
    assert json.loads(summary.read_text(encoding="utf-8"))["categories"] == {"disrespectful": 1, "impatient": 1}


def test_when_resumed_then_bad_records_are_not_reported_twice(tmp_path, capfd):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "text": "您好"}, {"id": 2}, {"id": 3, "text": "问别人去"}])
    out, errors = tmp_path / "o.jsonl", tmp_path / "e.jsonl"
    args = ["scan", "--no-classifier", src, "-o", str(out), "--errors", str(errors)]
    run(capfd, *args)
    out.write_text(out.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    code, _, err = run(capfd, *args, "--resume")
    assert code == 0 and len(errors.read_text(encoding="utf-8").splitlines()) == 1
    assert "jiyu scan: skipped" not in err and "1 skipped" in err  # counted, not reported again


# -- a mature CLI -------------------------------------------------------------------------------


def test_version_names_package_lexicon_and_models(capfd):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    out = capfd.readouterr().out
    assert e.value.code == 0 and out.startswith("jiyu 0.") and "lexicon " in out and "model " in out and "context model " in out


@pytest.mark.parametrize("text,fail_on,code", [("有完没完", "violation", 1), ("您好", "violation", 0), ("有完没完", None, 0)])
def test_check_fail_on(capfd, text, fail_on, code):
    args = ["check", "--no-classifier", text] + (["--fail-on", fail_on] if fail_on else [])
    assert run(capfd, *args)[0] == code


def test_scan_fail_on_and_quiet(tmp_path, capfd):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "text": "您好"}, {"id": 2, "text": "问别人去"}])
    code, out, err = run(capfd, "scan", "--no-classifier", src, "--fail-on", "violation", "--quiet")
    assert code == 1 and err == "" and len(out.splitlines()) == 2
    clean = write_jsonl(tmp_path / "c.jsonl", [{"id": 1, "text": "您好"}])
    assert run(capfd, "scan", "--no-classifier", clean, "--fail-on", "review")[0] == 0


@pytest.mark.parametrize("args,message", [
    (["--resume"], "without -o"),
    (["--workers", "0"], "--workers 0"),
])
def test_scan_refuses_options_that_cannot_work(tmp_path, capfd, args, message):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "text": "您好"}])
    code, _, err = run(capfd, "scan", "--no-classifier", src, *args)
    assert code == 2 and message in err


def test_output_keeps_the_text_and_kept_turn_fields(tmp_path, capfd):
    src = write_jsonl(tmp_path / "c.jsonl", [{"conversation_id": "c", "turns": [
        {"speaker": "坐席", "text": "问别人去", "asr_confidence": 0.62, "utt_id": "u7"}]}])
    _, out, _ = run(capfd, "scan", "--no-classifier", src, "--keep", "asr_confidence", "--keep", "utt_id")
    (v,) = json.loads(out)["violations"]
    assert v["text"] == "问别人去" and v["asr_confidence"] == 0.62 and v["utt_id"] == "u7"
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "text": "您好", "channel": "app"}])
    row = json.loads(run(capfd, "scan", "--no-classifier", src)[1])
    assert row["text"] == "您好" and row["channel"] == "app"


def test_errors_carry_the_id_and_plain_words(tmp_path, capfd):
    src = write_jsonl(tmp_path / "r.jsonl", [{"id": "a1", "text": 42}, {"id": "a2"}])
    errors = tmp_path / "e.jsonl"
    run(capfd, "scan", "--no-classifier", src, "--errors", str(errors))
    bad = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert [b["id"] for b in bad] == ["a1", "a2"]
    assert "got a number" in bad[0]["error"] and "is missing" in bad[1]["error"]
    assert "int" not in bad[0]["error"]


def test_every_option_has_help_and_every_command_an_example(capfd):
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        assert "examples:" in (sub.epilog or ""), name
        for action in sub._actions:
            assert action.help, f"jiyu {name} {action.option_strings or action.dest}: no help"
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    assert "JIYU_API_KEYS" in capfd.readouterr().out


def test_model_dir_is_used_by_check_scan_and_eval(tmp_path, capfd):
    """A retrained model is used where it is pointed to: a broken copy there is refused, by name."""
    import shutil

    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "models", mine)
    manifest = json.loads((mine / "manifest.json").read_text(encoding="utf-8"))
    (mine / "tone-vocab.json").write_text("[]", encoding="utf-8")  # no longer matches its sha256
    for args in (["check", "您好"], ["eval", "--split", "dev"]):
        code, _, err = run(capfd, *args, "--model-dir", str(mine))
        assert code == 2 and str(mine) in err, (args, err)
    assert manifest  # the copy is a real model directory


def test_train_never_overwrites_the_shipped_model(tmp_path, capfd, monkeypatch):
    code, _, err = run(capfd, "train", "--model-dir", str(ROOT / "models"))
    assert code == 2 and "shipped" in err
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_text("{}", encoding="utf-8")
    code, _, err = run(capfd, "train", "--model-dir", str(tmp_path / "m"))
    assert code == 2 and "--force" in err
