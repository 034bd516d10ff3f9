"""The tone classifier: exported inference equals scikit-learn, loading refuses stale models,
training is deterministic, and fusion keeps the lexicon's guarantees."""

import json
import shutil

import numpy as np
import pytest

from detector import Detector, corpus, realtext
from detector.normalise import fold
from detector.tone import MODEL_DIR, ModelError, ToneModel, sentence_units, without


def test_when_dev_lines_scored_then_numpy_inference_equals_sklearn(tone):
    from detector.train import load_fitted

    saved = load_fitted()
    rows = corpus.load()
    splits = corpus.read_splits()
    texts = [r.text for r in rows if splits[r.id] == "dev"][:300]
    X = saved["vectorizer"].transform([tone.featurizer(t) for t in texts])
    ours = np.array([tone.proba(t) for t in texts])
    for k, cat in enumerate(tone.categories):
        theirs = saved["classifiers"][cat].predict_proba(X)[:, 1]
        assert np.abs(theirs - ours[:, k]).max() < 1e-5, cat


def test_when_model_file_changed_then_load_refuses_and_says_how_to_rebuild(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL_DIR, d)
    (d / "tone-vocab.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelError, match="does not match the sha256.*jiyu train"):
        ToneModel.load(d)


def test_when_model_format_is_newer_then_load_refuses(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL_DIR, d)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = 99
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="model format 99.*jiyu train"):
        Detector(model_dir=d)


def test_when_manifest_read_then_it_records_versions_hashes_and_thresholds(tone):
    m = tone.manifest
    import sklearn

    assert m["sklearn_version"] == sklearn.__version__
    assert m["training_data_sha256"] == corpus.data_hash()
    assert m["real_data_sha256"] == realtext.data_hash() and m["real_corpora"] == list(realtext.CORPORA)
    for mode in ("qa", "realtime"):
        for cat in tone.categories:
            t = m["thresholds"][mode][cat]
            assert 0 < t["review"] <= t["violation"] < 1


def test_when_trained_twice_then_weights_are_byte_identical(tmp_path):
    from detector.train import train

    a = train(tmp_path / "a", log=lambda *_: None)
    b = train(tmp_path / "b", log=lambda *_: None)
    assert a["files"]["tone.npz"] == b["files"]["tone.npz"]
    assert a["files"]["tone-vocab.json"] == b["files"]["tone-vocab.json"]
    assert a["thresholds"] == b["thresholds"]


def test_when_lexicon_hit_is_severe_then_violation_whatever_the_classifier(detector):
    for mode in ("qa", "realtime"):
        v = detector.check("老东西", mode=mode)
        assert v.decision == "violation" and "disrespectful" in v.labels


class _Recorder:
    """Stands in for the classifier: records what it was shown, finds everything rude."""

    def __init__(self, real: ToneModel):
        self.real, self.seen = real, []
        self.categories, self.thresholds, self.version = real.categories, real.thresholds, real.version

    def units_proba(self, units, below=None, sure=()):
        self.seen += units
        return np.full((len(units), len(self.categories)), 0.999)


def test_when_lexicon_judges_words_innocent_then_classifier_never_sees_them():
    d = Detector()
    d.tone = recorder = _Recorder(d.tone)
    d.check("病号服在二楼领取")  # allowlisted
    d.check("按规定不能对顾客说“老东西”")  # a mention
    d.check("我不知道您是否方便")  # a context veto
    shown = " ".join(recorder.seen)
    assert "病号" not in shown and "老东西" not in shown and "不知道" not in shown
    assert "二楼领取" in shown


def test_when_one_sentence_drives_the_classifier_then_evidence_spans_that_sentence(detector):
    text = "好的，明白。你自己不会看公告吗？活动链接我发到群里了。"
    v = detector.check(text, mode="qa")
    clf = [e for e in v.evidence if e.source == "classifier"]
    assert clf, v
    assert all(e.text == text[e.start : e.end] == "你自己不会看公告吗" for e in clf)


def test_when_classifier_off_then_no_model_and_no_classifier_evidence():
    d = Detector(classifier=False)
    assert d.model_version is None
    assert all(e.source != "classifier" for e in d.check("你自己不会看公告吗，这点小钱也计较").evidence)


def test_when_text_has_sentences_then_units_split_at_marks_and_join_short_fragments():
    folded = fold(" 好的，收到。 你别着急！\n谢谢 ")
    assert folded == "好的收到。你别着急!。谢"  # 谢谢 collapses to 谢; the line break is a sentence end too
    assert [folded[a:b] for a, b in sentence_units(folded)] == ["好的收到", "你别着急!。谢"]
    assert without("abcdefgh", 1, 7, [(2, 4), (6, 9)]) == "bef"


def test_when_features_counted_fast_then_they_equal_the_training_features(tone):
    from collections import Counter

    for r in corpus.load():
        folded = fold(r.text)
        slow = Counter(i for i in map(tone.vocab.get, tone.featurizer.from_folded(folded)) if i is not None)
        assert tone._counts(folded) == slow, r.text


def test_when_sklearn_version_differs_then_fitted_model_is_refused_with_the_way_out(tmp_path, monkeypatch):
    import sklearn

    from detector.train import load_fitted

    monkeypatch.setattr(sklearn, "__version__", "0.0.1")
    with pytest.raises(ModelError, match=r"fitted with scikit-learn 1\.9\.1, this is 0\.0\.1: install scikit-learn==1\.9\.1 or rebuild"):
        load_fitted()


@pytest.mark.parametrize("left", ["", "我", "嗯 那个 我", "。"])
def test_when_almost_nothing_is_left_of_a_sentence_then_the_classifier_does_not_judge_it(tone, left):
    _, probs = tone.sentence_probs(fold(left))
    assert probs.max() == 0.0
    _, probs = tone.sentence_probs(fold("我跟你说清楚点，别再问了"), hidden=[(1, 12)])  # only 我 left
    assert probs.max() == 0.0
    assert tone.sentence_probs(fold("别再问了"))[1].max() > 0.5  # what is left is still judged


def test_when_bounded_then_upper_proba_is_never_below_the_real_probability(tone):
    rows = corpus.load()
    splits = corpus.read_splits()
    folded = [fold(r.text) for r in rows if splits[r.id] == "dev"]
    checked = 0
    for f in folded:
        upper = tone.upper_proba(f)
        if upper is not None:
            assert (upper >= tone.proba_folded(f) - 1e-12).all(), f
            checked += 1
    assert checked > 0.9 * len(folded)


def test_when_classifier_skips_bounded_sentences_then_verdicts_are_unchanged(tone, monkeypatch):
    rows = corpus.load()
    splits = corpus.read_splits()
    texts = [r.text for r in rows if splits[r.id] == "dev"]
    d = Detector(tone=tone)
    bounded = {m: d.check_many(texts, m) for m in ("qa", "realtime")}
    monkeypatch.setattr(ToneModel, "_upper_many", lambda self, texts: np.full((len(texts), len(self.categories)), np.nan))
    for mode, verdicts in bounded.items():
        assert d.check_many(texts, mode) == verdicts


def test_when_text_has_whitespace_then_no_bound_is_claimed(tone):
    # jieba's whitespace tokens are dropped, so words either side form a bigram that is not a
    # substring: the bound would not cover it
    assert tone.upper_proba("你好 再见") is None and tone.upper_proba("你好再见") is not None


def test_when_texts_judged_in_a_batch_then_each_verdict_equals_its_own(tone):
    rows = corpus.load()
    splits = corpus.read_splits()
    texts = [r.text for r in rows if splits[r.id] == "dev"]
    d = Detector(tone=tone)
    for mode in ("qa", "realtime"):
        assert d.check_many(texts, mode) == [d.check(t, mode) for t in texts]


@pytest.mark.parametrize(
    "a, b",
    [
        ("亲 订单[订单x]已经发出了哦", "亲 订单[数字x]已经发出了哦"),  # anonymised placeholders, whichever kind
        ("#E-s[数字x] 好的呢", "[链接x] 好的呢"),
        ("这款99元 不包邮", "这款1299元 不包邮"),  # prices and order numbers: one number token
        ("单号123456789012发下呢", "单号8发下呢"),
    ],
)
def test_when_placeholders_or_numbers_differ_then_the_classifier_sees_the_same_features(tone, a, b):
    assert tone.featurizer(a) == tone.featurizer(b)
    assert np.allclose(tone.proba(a), tone.proba(b))


class _Fixed:
    """Stands in for the classifier: every sentence gets the same probabilities (one per category)."""

    def __init__(self, real: ToneModel, p):
        self.p, self.categories, self.thresholds, self.version = p, real.categories, real.thresholds, real.version

    def units_proba(self, units, below=None, sure=()):
        return np.tile(np.asarray(self.p, dtype=float), (len(units), 1))


def test_when_utterance_is_short_and_uncued_then_the_classifier_needs_its_violation_bar():
    d = Detector()
    t = d.tone.thresholds["qa"]
    cats = [c for c in d.tone.categories if t[c]["review"] + 1e-3 < t[c]["violation"]]
    assert cats
    # over the review bar and under the violation bar of the categories that have room between
    between = [t[c]["review"] + 1e-3 if c in cats else 0.0 for c in d.tone.categories]
    d.tone = _Fixed(d.tone, between)
    assert d.check("单号发下呢", mode="qa").decision == "pass"  # short, no lexicon hit
    assert d.check("这个订单我们已经帮您催过仓库了，今天之内会发出", mode="qa").decision == "review"
    assert d.check("有完没完", mode="qa").flagged  # short but cued by the lexicon: the usual bar
    d.tone = _Fixed(d.tone, [t[c]["violation"] + 1e-3 if c in cats else 0.0 for c in d.tone.categories])
    assert d.check("单号发下呢", mode="qa").flagged  # at the violation bar a short line is judged too
