"""The context model: whom an ambiguous phrase is aimed at (detector.context)."""

import json
import shutil

import pytest
from helpers import assert_case, case_id, load_cases

from detector import Detector
from detector.context import CONTEXT_FILE, ContextModel, ContextModelError
from detector.context_train import CONTEXT_DIR

CASES = load_cases("context.json")


@pytest.fixture(scope="module")
def plain():
    return Detector(classifier=False, context=False)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_when_phrase_in_context_then_verdict_matches(lexicon_detector, plain, case):
    assert_case(lexicon_detector.check(case["text"]), case)
    if "flagged_without_context" in case:  # the case is one the explicit frames alone get wrong
        assert plain.check(case["text"]).flagged == case["flagged_without_context"]


def test_when_rule_is_listed_unambiguous_then_the_context_model_may_not_judge_it():
    model = ContextModel.load()
    unambiguous = {line.split("\t")[0] for line in (CONTEXT_DIR / "unambiguous.txt").read_text(encoding="utf-8").splitlines()
                   if line.strip() and line.split("\t")[1].startswith("unambiguous")}
    assert len(model.rules) >= 40 and not model.rules & unambiguous


def test_when_model_trained_then_its_held_out_figures_are_recorded_and_it_keeps_the_customers_hits():
    m = ContextModel.load().meta["metrics"]["test"]
    assert m["hits"] >= 100
    assert m["customer_kept"] >= 0.95 and m["innocent_dropped"] >= 0.5


def test_when_context_file_changed_then_load_refuses_and_says_how_to_rebuild(tmp_path):
    path = tmp_path / "context.json"
    shutil.copyfile(CONTEXT_FILE, path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["threshold"] = 0.01
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ContextModelError, match="sha256.*jiyu train"):
        ContextModel.load(path)


def test_when_context_judges_a_hit_innocent_then_the_classifier_never_sees_its_words():
    from test_tone import _Recorder

    d = Detector()
    d.tone = recorder = _Recorder(d.tone)
    d.check("这台老东西用了十年了，还挺好用的")
    assert "老东西" not in " ".join(recorder.seen) and "十年" in " ".join(recorder.seen)


def test_when_context_model_trained_twice_then_files_are_identical_and_match_the_bundled_one(tmp_path):
    from detector.context_train import train_context

    a = train_context(tmp_path / "a.json", log=lambda *_: None)
    b = train_context(tmp_path / "b.json", log=lambda *_: None)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert a["version"] == ContextModel.load().version  # the shipped model is what the data gives
