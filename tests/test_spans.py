"""Property tests: every evidence span slices the ORIGINAL input exactly, whatever the script."""

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.matcher import phrase_key
from detector.normalise import MAX_GAP, fold, normalise

PHRASES = ["有完没完", "老东西", "问别人去", "我也不知道", "病秧子", "有意见找经理去", "你买得起吗"]
NOISE = [" ", "\u200b", "\u3000", "*", "·", "…", "😡", "👍🏻", "\u0301", "~", "-", "_", "★"]
TRADITIONAL = {"问": "問", "别": "別", "东": "東", "没": "沒", "经": "經", "买": "買", "见": "見"}
filler_text = st.text(
    alphabet=st.sampled_from(list("您好请稍等我帮您查询一下ABCxyz123，。！？　ＡＢＣ１２３①②😀🙏é\u0301繁體字")),
    max_size=12,
)


def _disguise(phrase: str, data) -> str:
    out = []
    for ch in phrase:
        ch = TRADITIONAL.get(ch, ch) if data.draw(st.booleans()) else ch
        if data.draw(st.booleans()) and ch.isascii():
            ch = chr(ord(ch) + 0xFEE0)  # full-width
        out.append(ch + "".join(data.draw(st.lists(st.sampled_from(NOISE), max_size=2))))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_when_text_is_disguised_then_every_span_slices_the_original(lexicon_detector, data):
    phrase = data.draw(st.sampled_from(PHRASES))
    # sentence ends keep the surrounding text from acting as context (vetoes, allowlist)
    text = data.draw(filler_text) + "。" + _disguise(phrase, data) + "！" + data.draw(filler_text)
    evidence = lexicon_detector.evidence(text)
    for e in evidence:
        assert 0 <= e.start < e.end <= len(text)
        assert e.text == text[e.start : e.end]
        # the span starts and ends on a character that is part of the match, not on noise
        assert fold(text[e.start]) and fold(text[e.end - 1])
    assert evidence, f"{phrase!r} disguised as {text!r} was not found"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_when_any_text_then_offsets_are_ordered_and_spans_slice_it(lexicon_detector, text):
    norm = normalise(text)
    assert len(norm.offsets) == len(norm.text)
    assert list(norm.offsets) == sorted(norm.offsets)
    assert all(0 <= o < len(text) for o in norm.offsets)
    for e in lexicon_detector.evidence(text):
        assert e.text == text[e.start : e.end]
        if e.source == "lexicon":
            rule = lexicon_detector.lexicon.rules[e.rule_id][0]
            assert phrase_key(e.text) in {phrase_key(f) for f in rule.forms}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_when_text_is_full_width_then_it_folds_like_half_width(text):
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    assert fold(wide) == fold(text)


def test_when_noise_gap_exceeds_bound_then_no_match(lexicon_detector):
    assert lexicon_detector.evidence("有完" + " " * MAX_GAP + "没完")
    assert not lexicon_detector.evidence("有完" + " " * (MAX_GAP + 1) + "没完")


def test_when_combining_marks_follow_a_character_then_span_keeps_them_inside():
    text = "有\u0301完没完"
    assert unicodedata.combining(text[1])
    norm = normalise(text)
    assert norm.text == "有完没完" and norm.span(0, 4) == (0, 5)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(list("那个有完没嗯啊，。！？!? ＡＢａb1①ﬁ忙著這號😤\u200b\n\u0301") + ["那个", "有有", "！！"]), max_size=12).map("".join))
def test_when_text_takes_the_fast_fold_then_it_equals_the_full_walk(text):
    from detector.normalise import _walk

    assert normalise(text) == _walk(text)


# The newer disguises: a look-alike or split character, a half-typed two-syllable phrase aimed at
# the customer, a dialect spelling. Each is (text, its disguised part), noise may go between characters.
NEW_DISGUISES = [
    ("问别入去", "问别入去"),
    ("老东酉", "老东酉"),
    ("脑歹戋", "脑歹戋"),
    ("问剐人去", "问剐人去"),
    ("没爹女马教", "没爹女马教"),
    ("你个sha逼", "sha逼"),
    ("ni是sha子", "sha子"),
    ("你个傻纸", "傻纸"),
    ("你肿么这么笨", "你肿么这么笨"),
    ("木有零钱找你", "木有零钱找你"),
    ("表酱紫，有完没完", "有完没完"),
]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_when_text_has_a_new_disguise_then_every_span_slices_the_original(lexicon_detector, data):
    text, part = data.draw(st.sampled_from(NEW_DISGUISES))
    noisy = "".join(ch + "".join(data.draw(st.lists(st.sampled_from([" ", "\u200b", "*", "～"]), max_size=1))) for ch in text)
    full = data.draw(filler_text) + "。" + noisy + "！" + data.draw(filler_text)
    evidence = lexicon_detector.evidence(full)
    for e in evidence:
        assert 0 <= e.start < e.end <= len(full)
        assert e.text == full[e.start : e.end]
        assert fold(full[e.start]) and fold(full[e.end - 1])
    if not any(c.isascii() and c.isalpha() for c in part):  # a half-typed two-syllable form must be unbroken (一xia 子)
        assert evidence, f"{text!r} as {full!r} was not found"
