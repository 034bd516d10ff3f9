"""`jiyu review export` and `jiyu train --extra`: review decisions back into the detector.

Unit tests of the three outputs (corpus lines, the pack proposal, the report) and of the
evaluation guard, then the feedback round trip of issue #12 item 6 on real `jiyu scan` output:
a rejected false alarm passes once the proposed pack is loaded, and a confirmed, re-labelled
item is labelled as corrected by a model retrained with the exported lines.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from detector import Detector, corpus
from detector.cli import main as jiyu
from detector.extra import EvalGuard, load_extra
from detector.lexicon_check import check_lexicon
from review import db
from review.export import CORPUS_FILE, Reviewed, Span, corpus_line, reviewed_items
from review.importer import import_files
from review.models import Evidence, Item, User
from review.proposal import forms_for, propose
from review.queue import claim_next, decide, file_appeal, resolve_appeal, undo

# An innocent sentence the bundled lexicon flags: 问别人去 (impa-001) across 去年 "last year".
INNOCENT = "您可以去问别人去年的价格"
# A real violation the shipped model labels disrespectful (review); contempt for the customer is unfriendly.
MISLABELLED = "你们这种客户最难伺候"
T0 = dt.datetime(2026, 5, 1, 9, 0)


def reviewed(item_id: int, text: str, outcome: str, *, category: str | None = None, evidence=(), reasons=(),  # noqa: ANN001
             reviewers: int = 1) -> Reviewed:
    return Reviewed(item_id=item_id, key=hashlib.sha256(f"{item_id}".encode()).hexdigest(), kind="utterance", text=text, channel=None, outcome=outcome,
                    category=category, severity=2 if category else None, scored_labels=(), evidence=tuple(evidence),
                    reviewers=reviewers, reasons=tuple(reasons), notes=(), decided_at=T0)


def spans_of(detector: Detector, text: str) -> list[Span]:
    return [Span(e.start, e.end, e.text, e.category, e.source, e.rule_id) for e in detector.evidence(text)]


def lexicon_rules(detector: Detector, text: str) -> set[str]:
    return {e.rule_id for e in detector.evidence(text) if e.source != "classifier"}


# -- corpus lines ----------------------------------------------------------------------------


def _item(session, text: str, category: str = "impatient", **kw) -> int:  # noqa: ANN001, ANN003
    item = Item(import_key=hashlib.sha256(text.encode()).hexdigest(), kind="utterance", text=text, decision="violation", score=0.9,
                labels=[category], category=category, severity=2, state="pending", extra={}, **kw)
    item.evidence = [Evidence(start=0, end=len(text), text=text, category=category, source="lexicon", rule_id="impa-001",
                              severity=2, extra={})]
    session.add(item)
    session.commit()
    return item.id


def test_when_decisions_are_exported_then_each_finished_item_is_one_corpus_line_with_its_provenance(store, tmp_path):
    with db.sessions(store)() as s:
        a, b, c = (User(username=n) for n in "abc")
        s.add_all([a, b, c])
        s.commit()
        ids = [_item(s, t) for t in ("甲有完没完", "乙问别人去", "丙到底要不要", "丁还在排队", "戊撤回的决定")]
        for reviewer, (decision, kw) in zip([a, a, a, a, a], [("confirm", {"category": "unfriendly"}),
                                                              ("reject", {"reason": "innocent_sense"}),
                                                              ("confirm", {}), (None, {}), ("confirm", {})]):
            item = claim_next(s, reviewer.id, now=T0)
            if decision:
                decide(s, item.id, reviewer.id, decision, now=T0, second_share=1.0 if item.id == ids[2] else 0.0, **kw)
        undo(s, a.id, now=T0)  # the last decision (戊) is undone: not exported
        item = claim_next(s, b.id, stage="second", now=T0)  # 丙 went to a blind second review; b agrees
        decide(s, item.id, b.id, "confirm", now=T0 + dt.timedelta(days=3))
        rows = reviewed_items(s)
        assert [r.item_id for r in rows] == ids[:3]
        lines = [corpus_line(r) for r in rows]
        assert [r.item_id for r in reviewed_items(s, min_reviewers=2)] == [ids[2]]
        assert [r.item_id for r in reviewed_items(s, since=T0 + dt.timedelta(days=1))] == [ids[2]]
        appeal = file_appeal(s, ids[0], "我是在复述客户的话", now=T0)  # an open appeal: not over, not exported
        assert [r.item_id for r in reviewed_items(s)] == ids[1:3]
        resolve_appeal(s, appeal.id, c.id, "overturned", now=T0)  # the lead overturns it: now a false alarm
        overturned = reviewed_items(s)[0]
        assert (overturned.item_id, overturned.outcome, overturned.category, overturned.reviewers) == (ids[0], "rejected", None, 2)
    assert [(x["labels"], x["hard_negative"], x["kind"]) for x in lines] == [
        (["unfriendly"], False, "review-confirmed"), ([], True, "review-rejected"), (["impatient"], False, "review-confirmed")]
    assert lines[2]["source"] == f"review: confirmed by 2 reviewer(s), item {ids[2]}"
    # the exact data/tone format: corpus.read_lines takes it without a problem
    path = tmp_path / CORPUS_FILE
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    got, problems = [], []
    corpus.read_lines(path, got, problems, {})
    assert problems == [] and [g.text for g in got] == ["甲有完没完", "乙问别人去", "丙到底要不要"]


# -- jiyu train --extra: never an evaluation line --------------------------------------------


@pytest.fixture(scope="module")
def guard() -> tuple[EvalGuard, dict, list]:
    rows, splits = corpus.load(), corpus.read_splits()
    return EvalGuard([r for r in rows if splits[r.id] != "train"], splits), splits, rows


def _lines(path: Path, *texts: str, labels=("impatient",)) -> Path:  # noqa: ANN001
    path.write_text("".join(json.dumps({"id": f"x-{i}", "text": t, "labels": list(labels), "industry": "-", "style": "chat",
                                        "hard_negative": False, "kind": "review-confirmed", "source": "review"},
                                       ensure_ascii=False) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def test_when_an_extra_line_copies_a_test_or_dev_line_then_it_is_refused_and_the_rest_is_kept(guard, tmp_path):
    g, splits, rows = guard
    test = next(r for r in rows if splits[r.id] == "test" and len(r.text) > 12)
    dev = next(r for r in rows if splits[r.id] == "dev" and len(r.text) > 12)
    near = "那么" + test.text[2:]  # two characters changed: a near copy, not the same text
    path = _lines(tmp_path / "x.jsonl", MISLABELLED, " " + test.text.replace("，", " "), dev.text, near)
    got = load_extra([path], g, set(splits))
    assert [r.text for r in got.rows] == [MISLABELLED]
    assert len(got.refused) == 3 and f"tone test line {test.id}" in got.refused[0] and f"tone dev line {dev.id}" in got.refused[1]
    assert "near copy" in got.refused[2]
    assert got.files == [{"path": str(path), "sha256": got.files[0]["sha256"], "lines": 1, "refused": 3}]


def test_when_an_extra_file_is_malformed_or_reuses_a_corpus_id_then_jiyu_train_exits_2_before_training(guard, tmp_path, capsys):
    _, splits, rows = guard
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": rows[0].id, "text": "有完没完", "labels": [], "industry": "-", "style": "chat",
                                "hard_negative": False, "kind": "x", "source": "x"}) + "\n{\"text\": 1}\n", encoding="utf-8")
    assert jiyu(["train", "--extra", str(path), "--model-dir", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1: duplicate id {rows[0].id!r}" in err and f"{path}:2: fields must be exactly" in err
    assert not (tmp_path / "m" / "manifest.json").exists()


# -- the pack proposal -----------------------------------------------------------------------


@pytest.mark.parametrize("text, start, end, first", [
    (INNOCENT, 4, 8, "问别人去年"),  # the hit cuts the word 去年: the whole word is the innocent sense
    ("这台老家伙用了十年了", 2, 5, "这台老家伙"),  # a whole-word hit: one word more (not the one-character 用)
])
def test_when_forms_are_proposed_then_the_first_is_the_hit_widened_to_whole_words(text, start, end, first):
    forms = forms_for(text, start, end, "r-1", window=6)
    assert forms[0].kind == "allow" and forms[0].text == first
    assert all(f.text != text[start:end] for f in forms)  # never the rule's own phrase: that would switch it off
    assert [f.kind for f in forms][-1] == "veto" and forms_for(text, start, end, "r-1", window=None)[-1].kind == "allow"


def test_when_a_false_alarm_is_rejected_then_the_pack_allowlists_it_and_passes_the_lexicon_check(detector, tmp_path):
    items = [reviewed(1, INNOCENT, "rejected", evidence=spans_of(detector, INNOCENT), reasons=["innocent_sense"]),
             reviewed(2, "我不知道，你问别人去", "confirmed", category="impatient",
                      evidence=spans_of(detector, "我不知道，你问别人去"))]
    proposal = propose(items, tmp_path / "pack")
    assert proposal.summary()["allowlist"] == 1 and proposal.summary()["false_alarms_unresolved"] == 0
    assert check_lexicon([tmp_path / "pack"])[1] == []
    assert jiyu(["lexicon", "check", str(tmp_path / "pack")]) == 0
    after = Detector([tmp_path / "pack"])  # what POST /v1/admin/reload builds
    assert "impa-001" in lexicon_rules(detector, INNOCENT) and after.check(INNOCENT).decision == "pass"
    assert "impa-001" in lexicon_rules(after, "我不知道，你问别人去")
    readme = (tmp_path / "pack" / "README.md").read_text(encoding="utf-8")
    assert "allowlist 问别人去年" in readme and "item 1: rejected as a false alarm (innocent_sense)" in readme


def test_when_an_allowlist_phrase_would_cost_a_known_violation_then_a_context_veto_is_proposed(lexicon_detector, tmp_path):
    rejected = "这台老家伙用了十年了"
    confirmed = "我说这台老家伙你听不懂吗"  # says 这台老家伙 too: neither that phrase nor a 这台 veto may be kept
    assert "disr-001" in lexicon_rules(lexicon_detector, rejected) & lexicon_rules(lexicon_detector, confirmed)
    items = [reviewed(1, rejected, "rejected", evidence=spans_of(lexicon_detector, rejected), reasons=["innocent_sense"]),
             reviewed(2, confirmed, "confirmed", category="disrespectful", evidence=spans_of(lexicon_detector, confirmed))]
    proposal = propose(items, tmp_path / "pack")
    (target,) = proposal.targets
    assert (target.form.kind, target.form.side, target.form.text) == ("veto", "after", "十年")
    assert len(target.tried) == 2 and all("would lose disr-001" in why for why in target.tried)
    assert check_lexicon([tmp_path / "pack"])[1] == []
    after = Detector([tmp_path / "pack"], classifier=False)
    assert "disr-001" not in lexicon_rules(after, rejected) and "disr-001" in lexicon_rules(after, confirmed)
    assert "disr-001: unless_after 十年" in (tmp_path / "pack" / "README.md").read_text(encoding="utf-8")


def test_when_a_confirmed_classifier_only_phrase_recurs_then_it_becomes_a_candidate_once_it_reaches_min_repeats(detector, tmp_path):
    texts = ["这价格你也嫌贵？", "这价格你也嫌贵", "这价格，你也嫌贵！"]
    assert all({e.source for e in detector.evidence(t)} == {"classifier"} for t in texts)
    items = [reviewed(i, t, "confirmed", category="unfriendly", evidence=spans_of(detector, t)) for i, t in enumerate(texts, 1)]
    assert propose(items, tmp_path / "p4", min_repeats=4).summary()["candidates"] == 0
    proposal = propose(items, tmp_path / "p3", min_repeats=3)
    (c,) = proposal.candidates
    assert (c.phrase, c.category, c.dropped, [r.item_id for r in c.items]) == ("这价格你也嫌贵", "unfriendly", None, [1, 2, 3])
    assert check_lexicon([tmp_path / "p3"])[1] == []
    assert c.id in lexicon_rules(Detector([tmp_path / "p3"], classifier=False), "这价格你也嫌贵啊")
    # a candidate that would flag a rejected item is not proposed
    rejected = reviewed(9, "这价格你也嫌贵的话可以看看活动款", "rejected", evidence=[Span(0, 7, "这价格你也嫌贵", "unfriendly",
                                                                                       "classifier", "tone-unfriendly")])
    proposal = propose([*items, rejected], tmp_path / "p5", min_repeats=3)
    assert proposal.candidates[0].dropped.startswith("would flag 1 known-innocent line")
    assert not (tmp_path / "p5" / "candidates.yaml").exists()


def test_when_a_rejection_blames_the_speaker_then_no_lexicon_entry_is_made_and_the_readme_says_why(detector, tmp_path):
    items = [reviewed(1, "有完没完啊你", "rejected", evidence=spans_of(detector, "有完没完啊你"), reasons=["wrong_speaker"])]
    proposal = propose(items, tmp_path / "pack")
    assert proposal.targets == [] and len(proposal.listed) == 1
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["README.md", "pack.yaml"]
    assert "speaker attribution" in (tmp_path / "pack" / "README.md").read_text(encoding="utf-8")
    assert check_lexicon([tmp_path / "pack"])[1] == []


def test_when_export_gets_a_bad_since_then_it_exits_2_with_a_message(tmp_path, capsys):
    assert jiyu(["review", "export", str(tmp_path / "out"), "--since", "yesterday", "--db", f"sqlite:///{tmp_path / 'r.db'}"]) == 2
    assert "--since 'yesterday'" in capsys.readouterr().err


# -- the round trip (issue #12, item 6) ------------------------------------------------------


def test_when_review_decisions_are_exported_then_the_pack_passes_the_false_alarm_and_a_retrained_model_relabels_the_miss(tmp_path, capsys):
    from detector.train import train

    # 1. a real scan: the innocent sentence flagged, the violation mislabelled, others as they come
    src = tmp_path / "replies.jsonl"
    texts = [INNOCENT, MISLABELLED, "有完没完啊你", "您好，请问有什么可以帮您"]
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
                   encoding="utf-8")
    assert jiyu(["scan", str(src), "-o", str(tmp_path / "scanned.jsonl"), "-q"]) == 0
    scanned = {r["text"]: r for r in map(json.loads, (tmp_path / "scanned.jsonl").read_text(encoding="utf-8").splitlines())}
    assert scanned[INNOCENT]["flagged"] and scanned[INNOCENT]["evidence"][0]["rule_id"] == "impa-001"
    assert scanned[MISLABELLED]["flagged"] and scanned[MISLABELLED]["labels"][0] == "disrespectful"

    # 2. import, then a reviewer rejects the false alarm and corrects the category
    url = f"sqlite:///{tmp_path / 'review.db'}"
    engine = db.engine_for(url)
    db.upgrade(engine)
    with db.sessions(engine)() as s:
        assert import_files(s, [tmp_path / "scanned.jsonl"]).added == 3
        qa = User(username="qa")
        s.add(qa)
        s.commit()
        while (item := claim_next(s, qa.id)) is not None:
            if item.text == INNOCENT:
                decide(s, item.id, qa.id, "reject", reason="innocent_sense", note="去年 is last year")
            elif item.text == MISLABELLED:
                decide(s, item.id, qa.id, "confirm", category="unfriendly")
            else:
                decide(s, item.id, qa.id, "confirm")
        assert s.scalar(select(Item.final_category).where(Item.text == MISLABELLED)) == "unfriendly"
    engine.dispose()

    # 3. export; the pack passes the lexicon check, and loaded, the same text passes
    out = tmp_path / "feedback"
    assert jiyu(["review", "export", str(out), "--db", url]) == 0
    lines = [json.loads(x) for x in (out / CORPUS_FILE).read_text(encoding="utf-8").splitlines()]
    assert {x["text"]: (x["labels"], x["hard_negative"]) for x in lines} == {
        INNOCENT: ([], True), MISLABELLED: (["unfriendly"], False), "有完没完啊你": (["impatient"], False)}
    assert jiyu(["lexicon", "check", str(out / "pack")]) == 0
    before, with_pack = Detector(), Detector([out / "pack"])
    assert before.check(INNOCENT).flagged and with_pack.check(INNOCENT).decision == "pass"
    assert with_pack.check("你问别人去").flagged  # the rule itself still stands

    # 4. retrain with the exported lines (the tone model only: the shipped context model stays)
    model = tmp_path / "model"
    manifest = train(model, extra=(out / CORPUS_FILE,), log=lambda m: None)
    assert manifest["counts"]["extra"] == 3 and manifest["extra"][0]["refused"] == 0
    retrained = Detector(model_dir=model)
    assert before.check(MISLABELLED).labels[0] == "disrespectful"
    assert retrained.check(MISLABELLED).labels[0] == "unfriendly"

    # 5. the before/after report with the retrained model; the test split's figures printed
    capsys.readouterr()
    assert jiyu(["review", "export", str(tmp_path / "feedback2"), "--db", url, "--model-dir", str(model)]) == 0
    err = capsys.readouterr().err
    test_line = next(line for line in err.splitlines() if line.startswith("test split:"))
    report = (tmp_path / "feedback2" / "report.md").read_text(encoding="utf-8")
    assert "| figure | now | with the pack | retrained | retrained with the pack |" in report
    changed = report.split("## Changed verdicts on the reviewed items")[1].split("##")[0]
    assert INNOCENT in changed and MISLABELLED in changed and "violation unfriendly" in changed
    with capsys.disabled():
        print(f"\nfeedback round trip, {test_line}")
