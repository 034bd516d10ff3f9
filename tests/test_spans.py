"""Property tests: every evidence span slices the ORIGINAL input exactly, whatever the script."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector import Detector
from detector.matcher import phrase_key
from detector.normalise import MAX_GAP, fold, normalise

PHRASES = ["有完没完", "老东西", "问别人去", "我也不知道", "病秧子", "有意见找经理去", "你买得起吗"]
NOISE = [" ", "\u200b", "\u3000", "*", "·", "…", "😡", "👍🏻", "\u0301", "~", "-", "_", "★"]
TRADITIONAL = {"问": "問", "别": "別", "东": "東", "没": "沒", "经": "經", "买": "買", "见": "見"}
filler_text = st.text(
    alphabet=st.sampled_from(list("您好请稍等我帮您查询一下ABCxyz123，。！？　ＡＢＣ１２３①②😀🙏é\u0301繁體字")),
    max_size=12,
)


def _cuts_a_run(text: str, start: int, end: int) -> bool:
    """Does [start, end) stop inside a run the normaliser folded into one character? True when a
    kept character just outside it (past noise, within the gap bound) folds into its edge character."""
    last, first = fold(text[end - 1]), fold(text[start])
    for j in range(end + 1, min(len(text), end + MAX_GAP + 1) + 1):
        if fold(text[end - 1 : j]) == last and fold(text[end:j]):
            return True
    for i in range(start - 1, max(-1, start - MAX_GAP - 2), -1):
        if fold(text[i : start + 1]) == first and fold(text[i:start]):
            return True
    return False


def _assert_spans_slice(text: str, evidence) -> None:  # noqa: ANN001
    """The one span assertion: every span slices the original, starts and ends on a character of
    the match (not on noise), and covers whole runs of repeats (有有完没完完, not 有完没完)."""
    for e in evidence:
        assert 0 <= e.start < e.end <= len(text)
        assert e.text == text[e.start : e.end]
        assert fold(text[e.start]) and fold(text[e.end - 1]), f"{e.text!r} starts or ends on noise"
        assert not _cuts_a_run(text, e.start, e.end), f"{e.text!r} ({e.source}) cuts a run of repeats in {text!r}"


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
    _assert_spans_slice(text, evidence)
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


def test_when_repeats_are_apart_by_more_than_the_gap_bound_then_they_are_no_run(lexicon_detector):
    # within the bound the stutter is one 有 and the span starts at its first repeat; beyond it the
    # first 有 stands alone and the span starts at the 有 of 有完没完
    near = "有" + " " * MAX_GAP + "有完没完"
    assert normalise(near).text == "有完没完"
    assert [e.text for e in lexicon_detector.evidence(near)] == [near]
    far = "有" + " " * (MAX_GAP + 1) + "有完没完"
    assert normalise(far).text == "有有完没完"
    assert [e.text for e in lexicon_detector.evidence(far)] == ["有完没完"]
    assert normalise("好" + "😀" * (MAX_GAP + 1) + "好").text == "好好"


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
    _assert_spans_slice(full, evidence)
    if not any(c.isascii() and c.isalpha() for c in part):  # a half-typed two-syllable form must be unbroken (一xia 子)
        assert evidence, f"{text!r} as {full!r} was not found"


# Runs of repeats: the normaliser folds 清清楚楚 to 清楚, and a span found in the folded text must
# cover every repeat it came from, at the end of a phrase (…写得清清楚楚 was highlighted up to 清清楚,
# 说了好好好 up to 说了好) as at its start and inside it.
# phrases each matched whole by one bundled rule (你买得起吗 is not: its rule is 你买得起)
RUN_PHRASES = ["有完没完", "老东西", "问别人去", "我也不知道", "病秧子", "有意见找经理去", "说了多少遍", "烦不烦", "拿零钱来", "从未听说过"]
RUN_NOISE = [" ", "\u200b", "*", "～", "…", "😡", "\u3000"]


def _with_runs(phrase: str, data) -> tuple[str, int]:  # noqa: ANN001
    """`phrase` with each character said 1-4 times (each repeat maybe traditional or followed by
    noise), and where the last repeat of its last character ends."""
    out, end = "", 0
    for ch in phrase:
        for _ in range(data.draw(st.integers(1, 4))):
            out += TRADITIONAL.get(ch, ch) if data.draw(st.booleans()) else ch
            end = len(out)
            out += "".join(data.draw(st.lists(st.sampled_from(RUN_NOISE), max_size=2)))
    return out, end


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_when_phrase_characters_repeat_then_the_span_covers_every_repeat(lexicon_detector, data):
    phrase = data.draw(st.sampled_from(RUN_PHRASES))
    head = data.draw(filler_text) + "。"
    said, end = _with_runs(phrase, data)
    text = head + said + "！" + data.draw(filler_text)
    evidence = lexicon_detector.evidence(text)
    _assert_spans_slice(text, evidence)
    # from the first repeat of its first character to the last repeat of its last one
    assert (len(head), len(head) + end) in {(e.start, e.end) for e in evidence}, (text, [(e.text, e.rule_id) for e in evidence])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_when_a_sentence_ends_in_a_run_then_classifier_spans_cover_it(detector, data):
    # the classifier's span is its sentence: it too ends after the whole run
    phrase = data.draw(st.sampled_from(["你自己不会看吗，公告上写得清清楚楚", "我说了多少遍了，说了好好好", "有完没完完完", "烦死了了了"]))
    text = data.draw(filler_text) + "。" + _with_runs(phrase, data)[0] + data.draw(st.sampled_from(["", "！！", "。", "…"]))
    _assert_spans_slice(text, detector.evidence(text))


@pytest.fixture(scope="module")
def run_pack_detector(tmp_path_factory) -> Detector:
    """The bundled lexicon plus two phrases that end in a character the issue saw repeated."""
    pack = tmp_path_factory.mktemp("runs")
    (pack / "rules.yaml").write_text(
        "entries:\n"
        "  - {id: test-001, phrase: 写得清楚, category: impatient, severity: 1, note: a run at the end}\n"
        "  - {id: test-002, phrase: 说了好, category: impatient, severity: 1, note: a run at the end}\n",
        encoding="utf-8",
    )
    return Detector(lexicons=[pack], classifier=False)


@pytest.mark.parametrize(
    "text,evidence",
    [
        ("…写得清清楚楚", "写得清清楚楚"),
        ("公告上写得清清楚楚了", "写得清清楚楚"),
        ("说了好好好", "说了好好好"),
        ("说说说了好好好！", "说说说了好好好"),
        ("说了好 好 好，行吧", "说了好 好 好"),
    ],
)
def test_when_a_match_ends_in_a_folded_run_then_its_span_covers_the_run(run_pack_detector, text, evidence):
    assert [e.text for e in run_pack_detector.evidence(text) if e.rule_id.startswith("test-")] == [evidence]


@pytest.mark.parametrize(
    "text,evidence",
    [("有完没完完完", "有完没完完完"), ("有有有完没完", "有有有完没完"), ("我也不知道道道", "我也不知道道道"), ("滚滚滚！", "滚滚滚")],
)
def test_when_a_bundled_rule_ends_or_starts_in_a_run_then_its_span_covers_the_run(lexicon_detector, text, evidence):
    assert evidence in [e.text for e in lexicon_detector.evidence(text)]
