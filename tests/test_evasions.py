"""Evasions beyond spacing and script: look-alike and split characters, mixed pinyin, two-syllable
homophones aimed at the customer, internet and dialect spellings, initials, repeated characters.

Each table row is (text, rule id expected or None for "must pass", evidence span or "" for any);
innocent rows sit beside the evasions they could be confused with.
"""

import pytest
import yaml

from detector import Detector

CASES = [
    # look-alike characters (形近字): one swapped in a phrase of >= 3 characters
    ("问别入去，这不归我管", "impa-001", "问别入去"),
    ("老东酉，让一让", "disr-002", "老东酉"),
    ("我在烤东西，等一下", None, ""),  # 烤东西 leaves the word 东西 standing: not 老东西
    ("你要不要检查一下", None, ""),  # 检 joins 查 into 检查: not 不要脸
    ("我不跟他一般见识", None, ""),  # 般 joins 一 into 一般: not 没见识
    ("一菲 有事儿吗", None, ""),  # 吗 is a function character: not 事儿妈
    ("你也醉了吧", None, ""),  # 醉 followed by 了 is a verb: not 你也配
    # split characters (拆字): a lexicon character written as its two components, side by side
    ("你这个脑歹戋", "disr-111", "脑歹戋"),
    ("没爹女马教的东西", "disr-136", "没爹女马教"),
    ("脑 歹 戋", "disr-111", "脑 歹 戋"),
    ("脑歹和戋", None, ""),  # the parts must sit together
    ("闻别人去", "impa-001", "闻别人去"),  # disguised in its first character: 别人去 is looked up, 闻 checked before it
    ("冇完没完", "impa-002", "冇完没完"),
    # mixed hanzi / typed pinyin per syllable
    ("ni是sha子吗", "disr-009", "sha子"),
    ("有wan没wan啊", "impa-002", "有wan没wan"),
    ("你个sha逼", "disr-112", "sha逼"),
    ("你个傻B", "disr-112", "傻B"),
    ("shazi", None, ""),  # two syllables wholly in pinyin: as likely 沙子
    ("washa逼", None, ""),  # sha is inside a longer Latin word
    # two-syllable homophones only when aimed at the customer
    ("你个傻纸", "disr-009", "傻纸"),
    ("你这个呆纸", "disr-010", "呆纸"),
    ("你是个秃纸吧", "disr-184", "秃纸"),
    ("沙子太烫了", None, ""),
    ("你看这个沙子", None, ""),
    ("你是兔子吗", None, ""),
    ("傻纸", None, ""),
    # internet and dialect spellings, folded before matching
    ("你肿么这么笨", "disr-115", "你肿么这么笨"),
    ("你咋这么笨", "disr-115", "你咋这么笨"),
    ("木有零钱找你", "impo-004", "木有零钱找你"),
    ("着啥急啊", "impa-007", "着啥急"),
    ("你算啥东西", "disr-133", "你算啥东西"),
    ("这件是酱紫色的", None, ""),  # 酱紫 is also a colour
    ("酱油在三号货架", None, ""),
    ("我们这边木有这个型号，抱歉", None, ""),
    # listed initials, with Latin word boundaries
    ("ywmw啊", "impa-002", "ywmw"),
    ("Y W M W", "impa-002", "Y W M W"),
    ("ＹＷＭＷ", "impa-002", "ＹＷＭＷ"),
    ("wbrq，我很忙", "impa-001", "wbrq"),
    ("ywmwx", None, ""),
    ("abcwbrq", None, ""),
]


@pytest.mark.parametrize("text,rule_id,span", CASES, ids=[c[0] for c in CASES])
def test_when_evasion_or_its_innocent_twin_checked_then_verdict_as_expected(lexicon_detector, text, rule_id, span):
    evidence = lexicon_detector.evidence(text)
    if rule_id is None:
        assert not evidence, [(e.text, e.rule_id, e.source) for e in evidence]
        return
    found = {e.rule_id: e for e in evidence}
    assert rule_id in found, [(e.text, e.rule_id, e.source) for e in evidence]
    assert found[rule_id].text == span


def test_when_disguised_by_character_then_evidence_is_weaker_than_the_phrase(lexicon_detector):
    plain = lexicon_detector.evidence("问别人去")[0]
    disguised = lexicon_detector.evidence("问别入去")[0]
    assert (plain.source, disguised.source) == ("lexicon", "pinyin")
    assert disguised.score < plain.score


def test_when_spelling_folds_then_original_text_is_untouched_for_the_classifier(lexicon_detector):
    # the fold is a view for the matcher only: the normalised text (what the classifier reads) keeps 肿么
    lexical = lexicon_detector._lexical("你肿么这么笨")
    assert lexical.norm.text == "你肿么这么笨" and lexical.evidence[0].text == "你肿么这么笨"


def _pack(tmp_path, entries=(), spellings=()):
    (tmp_path / "extra.yaml").write_text(
        yaml.safe_dump({"entries": list(entries), **({"spellings": list(spellings)} if spellings else {})}, allow_unicode=True),
        encoding="utf-8",
    )
    return Detector([tmp_path], classifier=False)


REPEATS = [
    {"id": "impa-901", "phrase": "行行行", "category": "impatient", "severity": 2, "note": "test: one character repeated"},
]  # 快点快点 is impa-159 of the default pack


@pytest.mark.parametrize(
    "text,rule_id",
    [
        ("行行行，知道了", "impa-901"),
        ("行 行 行", "impa-901"),
        ("行行行行行", "impa-901"),
        ("快点快点，后面排着呢", "impa-159"),
        ("快点快点快点", "impa-159"),
        ("快 点 快 点", "impa-159"),
        ("您看这样行吗", None),
        ("去银行办", None),
        ("行行好吧", None),
        ("快点吧", None),
    ],
)
def test_when_phrase_is_built_from_repeats_then_it_matches_only_its_repeats(tmp_path, text, rule_id):
    d = _pack(tmp_path, REPEATS)
    ids = {e.rule_id for e in d.evidence(text)} & {"impa-901", "impa-159"}
    assert ids == ({rule_id} if rule_id else set())


def test_when_repeat_phrase_matches_then_span_covers_every_repeat(tmp_path):
    d = _pack(tmp_path, REPEATS)
    assert [e.text for e in d.evidence("好吧。行行行") if e.rule_id == "impa-901"] == ["行行行"]


def test_when_a_stutter_is_longer_than_the_gap_bound_then_the_phrase_still_matches(lexicon_detector):
    assert [e.rule_id for e in lexicon_detector.evidence("有有有有有有有有有完没完")] == ["impa-002"]


def test_when_rule_turns_lookalikes_off_then_only_its_characters_match(tmp_path, lexicon_detector):
    rule, _ = lexicon_detector.lexicon.rules["impa-001"]
    d = _pack(tmp_path, [{**rule.model_dump(exclude_defaults=True), "lookalikes": False}])  # same id: replaces it
    assert [e.rule_id for e in d.evidence("问别人去")] == ["impa-001"]
    assert lexicon_detector.evidence("问别入去") and not d.evidence("问别入去")


def test_when_pack_adds_a_spelling_then_it_reaches_the_phrases(tmp_path):
    d = _pack(tmp_path, spellings=[{"spelling": "肿莫", "standard": "怎么", "note": "test"}])
    assert not Detector(classifier=False).evidence("你肿莫这么笨")
    assert [e.rule_id for e in d.evidence("你肿莫这么笨")] == ["disr-115"]
