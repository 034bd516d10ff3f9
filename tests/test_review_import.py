"""`jiyu review import`: real `jiyu scan` output into the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from detector.cli import main as jiyu
from review import db
from review.importer import import_files
from review.models import Conversation, Evidence, Item
from review.queue import Filters, counts

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="session")
def scanned(tmp_path_factory) -> dict[str, Path]:
    """What `jiyu scan` writes for the examples: call reports and utterance verdicts."""
    out = tmp_path_factory.mktemp("scan")
    for name in ("conversations", "utterances"):
        assert jiyu(["scan", str(EXAMPLES / f"{name}.jsonl"), "-o", str(out / f"{name}.out.jsonl"), "-q"]) == 0
    return {"calls": out / "conversations.out.jsonl", "utterances": out / "utterances.out.jsonl"}


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def expected_items(scanned: dict[str, Path]) -> int:
    """One item per flagged utterance, one per violating turn of a call."""
    return (sum(r["flagged"] for r in _records(scanned["utterances"]))
            + sum(len(r["violations"]) for r in _records(scanned["calls"])))


def _import(store, paths, **kwargs):  # noqa: ANN001, ANN003, ANN202
    with db.sessions(store)() as s:
        return import_files(s, [Path(p) for p in paths], **kwargs)


def _count(store, model) -> int:  # noqa: ANN001
    with db.sessions(store)() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_when_scan_output_is_imported_then_each_flagged_record_is_one_item_with_its_evidence(store, scanned):
    r = _import(store, [scanned["utterances"], scanned["calls"]])
    n = expected_items(scanned)
    assert n > 10 and r.added == n and r.bad == 0
    assert r.unflagged == sum(not rec["flagged"] for rec in _records(scanned["utterances"])) + sum(
        not rec["violations"] for rec in _records(scanned["calls"]))
    spans = sum(len(rec["evidence"]) for rec in _records(scanned["utterances"]) if rec["flagged"]) + sum(
        len(v["evidence"]) for rec in _records(scanned["calls"]) for v in rec["violations"])
    assert _count(store, Evidence) == spans
    u = next(rec for rec in _records(scanned["utterances"]) if rec["flagged"])
    with db.sessions(store)() as s:
        item = s.scalars(select(Item).where(Item.source_id == u["id"])).one()
        assert (item.text, item.decision, item.score, item.labels) == (u["text"], u["decision"], u["score"], u["labels"])
        assert (item.mode, item.lexicon_version, item.model_version) == (u["mode"], u["lexicon_version"], u["model_version"])
        assert [(e.start, e.end, e.text, e.category, e.source, e.rule_id, e.severity, e.suggestion) for e in item.evidence] == [
            (e["start"], e["end"], e["text"], e["category"], e["source"], e["rule_id"], e["severity"], e.get("suggestion"))
            for e in sorted(u["evidence"], key=lambda e: e["start"])]
        assert all(item.text[e.start:e.end] == e.text for e in item.evidence)
        # The queue's filters find items by an evidence span's source and rule.
        pinyin = {i for i in s.scalars(select(Item.id).where(*Filters(source="pinyin").where()))}
        assert pinyin and pinyin == set(s.scalars(select(Evidence.item_id).where(Evidence.source == "pinyin")))
        assert counts(s)["items"] == n


def test_when_the_same_records_are_imported_again_then_nothing_is_added_twice(store, scanned, tmp_path):
    first = _import(store, [scanned["utterances"], scanned["calls"]])
    again = _import(store, [scanned["utterances"], scanned["calls"]])
    assert (again.added, again.duplicates, again.conversations) == (0, first.added, 0)
    # The key is the record's content, not the file: a renamed copy in another order adds nothing either.
    copy = tmp_path / "renamed.jsonl"
    lines = scanned["calls"].read_text(encoding="utf-8").splitlines() + scanned["utterances"].read_text(encoding="utf-8").splitlines()
    copy.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
    assert _import(store, [copy]).added == 0
    assert _count(store, Item) == first.added
    # A record whose verdict differs (another lexicon version) is another item.
    rec = next(r for r in _records(scanned["utterances"]) if r["flagged"])
    (tmp_path / "v2.jsonl").write_text(json.dumps({**rec, "lexicon_version": "other"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert _import(store, [tmp_path / "v2.jsonl"]).added == 1


@pytest.mark.parametrize("line, message", [
    ("not json at all", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"id": "x", "flagged": true}', "neither an utterance verdict"),
    ('{"text": "有完没完", "decision": "violation", "score": "high", "labels": [], "evidence": []}', "score: expected a number"),
    ('{"text": "有完没完", "decision": "maybe", "score": 1, "evidence": []}', "decision: 'maybe'"),
    ('{"text": "有完没完", "decision": "violation", "score": 1, "evidence": [{"start": 0}]}', "evidence[0].end: missing"),
    ('{"conversation_id": "c9", "violations": [{"turn": "3", "text": "x", "decision": "violation", "score": 1, "evidence": []}]}',
     "violations[0].turn: expected an integer"),
])
def test_when_a_line_is_bad_then_it_is_reported_with_file_and_line_and_the_rest_imported(store, scanned, tmp_path, line, message):
    good = [ln for ln in scanned["utterances"].read_text(encoding="utf-8").splitlines() if '"flagged":true' in ln]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([good[0], line, *good[1:]]) + "\n", encoding="utf-8")
    reported: list[str] = []
    r = _import(store, [path], report=reported.append)
    assert (r.added, r.bad) == (len(good), 1)
    assert len(reported) == 1 and reported[0].startswith(f"{path}:2: ") and message in reported[0], reported


def test_when_calls_come_with_their_conversations_then_items_carry_the_context_turns(store, scanned):
    source = {c["conversation_id"]: c for c in _records(EXAMPLES / "conversations.jsonl")}
    r = _import(store, [scanned["calls"]], conversations=[EXAMPLES / "conversations.jsonl"])
    flagged_calls = [c for c in _records(scanned["calls"]) if c["violations"]]
    assert (r.conversations, r.context, r.problems) == (len(flagged_calls), len(flagged_calls), [])
    with db.sessions(store)() as s:
        items = s.scalars(select(Item).where(Item.kind == "call_turn")).all()
        assert len(items) == sum(len(c["violations"]) for c in flagged_calls)
        for item in items:
            turns = item.conversation.turns
            assert turns == source[item.conversation_id]["turns"]
            assert turns[item.turn_index]["text"] == item.text and turns[item.turn_index]["speaker"] == item.speaker
            assert item.start_time == turns[item.turn_index]["start"]
            assert {t["speaker"] for t in turns} >= {"agent", "customer"}
            assert item.agent_id == source[item.conversation_id].get("agent_id")
            assert item.conversation.report["agent_speaker"] and "violations" not in item.conversation.report


def test_when_conversations_come_later_then_a_second_import_adds_only_the_context(store, scanned):
    first = _import(store, [scanned["calls"]])
    assert first.context == 0 and first.added > 0
    with db.sessions(store)() as s:
        assert s.scalar(select(func.count()).select_from(Conversation).where(Conversation.turns.is_not(None))) == 0
    later = _import(store, [scanned["calls"]], conversations=[EXAMPLES / "conversations.jsonl"])
    assert (later.added, later.context) == (0, first.conversations)


def test_when_the_conversations_file_does_not_match_then_the_call_is_imported_without_context(store, scanned, tmp_path):
    changed = tmp_path / "edited.jsonl"
    convs = _records(EXAMPLES / "conversations.jsonl")
    for c in convs:
        for t in c["turns"]:
            t["text"] += "。"
    changed.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in convs[1:]), encoding="utf-8")
    r = _import(store, [scanned["calls"]], conversations=[changed])
    assert r.added > 0 and r.context == 0
    assert any("not in the --conversations" in p for p in r.problems)  # the first call is missing
    assert any("not the flagged turn's text" in p for p in r.problems)


def test_when_jiyu_review_import_runs_then_it_creates_the_store_reports_and_exits_by_strict(tmp_path, scanned, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(scanned["utterances"].read_text(encoding="utf-8") + "{oops\n", encoding="utf-8")
    assert jiyu(["review", "import", str(bad), "--db", url]) == 0
    out = capsys.readouterr()
    assert f"{bad}:{len(_records(scanned['utterances'])) + 1}: not JSON" in out.err
    assert jiyu(["review", "import", str(bad), "--db", url, "--strict", "-q"]) == 1
    out = capsys.readouterr()
    assert out.err == "" and "imported 0 items" in out.out
    assert jiyu(["review", "stats", "--json", "--db", url]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] == stats["state"]["pending"] == sum(r["flagged"] for r in _records(scanned["utterances"]))


def test_when_the_store_is_missing_or_unreachable_then_the_cli_says_so_without_a_traceback(tmp_path, capsys):
    assert jiyu(["review", "stats", "--db", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "no review store here yet" in capsys.readouterr().err
    assert jiyu(["review", "import", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert jiyu(["review", "stats", "--db", "mysql://x@y/z"]) == 2
    assert "only SQLite and PostgreSQL" in capsys.readouterr().err
    assert jiyu(["review", "stats", "--db", f"postgresql+psycopg://nobody@/x?host={tmp_path}&port=1"]) == 2
    assert "database error" in capsys.readouterr().err


def _parsers(parser, path=()):  # noqa: ANN001, ANN202
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_when_review_help_is_asked_then_every_option_is_explained_and_every_command_has_examples():
    from detector.cli import build_parser

    review = next(p for path, p in _parsers(build_parser()) if path == ("review",))
    seen = list(_parsers(review, ("review",)))
    assert {path for path, _ in seen} >= {("review", "db", "upgrade"), ("review", "import"), ("review", "stats")}
    for path, parser in seen:
        assert parser.epilog and "examples:" in parser.epilog and "jiyu review" in parser.epilog, path
        for action in parser._actions:
            assert action.help, (path, action.dest)
