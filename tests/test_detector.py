"""The Python API: Detector.check / check_many / check_conversation and the Verdict contract."""

import re

import pytest

from detector import Detector
from detector.conversation import ConversationError
from detector.speakers import NoAgentError


def test_when_check_many_then_verdicts_in_input_order(lexicon_detector):
    texts = ["您好", "有完没完", "", "老东西", "谢谢"]
    assert [v.flagged for v in lexicon_detector.check_many(texts)] == [False, True, False, True, False]


def test_when_text_is_empty_then_it_passes(lexicon_detector):
    v = lexicon_detector.check("")
    assert v.decision == "pass" and v.evidence == () and v.labels == ()


def test_when_text_is_not_a_string_then_type_error_names_it(lexicon_detector):
    with pytest.raises(TypeError, match="text must be a string, got int"):
        lexicon_detector.check(5)


def test_when_two_categories_then_most_severe_label_first(lexicon_detector):
    v = lexicon_detector.check("老东西，有完没完")  # severity 3 disrespectful, severity 2 impatient
    assert v.labels == ("disrespectful", "impatient")
    assert [e.text for e in v.evidence] == ["老东西", "有完没完"]


def test_when_homophone_then_review_in_both_modes_and_violation_needs_characters(lexicon_detector):
    assert lexicon_detector.check("问别任去", mode="qa").decision == "review"
    assert lexicon_detector.check("问别任去", mode="realtime").decision == "review"
    assert lexicon_detector.check("问别人去", mode="realtime").decision == "violation"


def test_when_severity_one_hit_then_qa_reviews_it(lexicon_detector):
    v = lexicon_detector.check("不知道。", mode="qa")
    assert v.decision == "review" and v.evidence[0].rule_id == "impa-009"


def test_when_mode_unknown_then_value_error():
    with pytest.raises(ValueError, match="mode must be one of"):
        Detector(mode="strict")


def test_when_verdict_serialised_then_contract_fields_present(lexicon_detector):
    d = lexicon_detector.check("有完没完").to_dict()
    assert {"flagged", "decision", "score", "labels", "evidence"} <= set(d)
    assert d["evidence"][0]["suggestion"]


CALL = {
    "conversation_id": "c9",
    "channel": "call",
    "agent_id": "A1",
    "turns": [
        {"speaker": "客户", "start": 0.0, "end": 1.5, "text": "你们是不是傻，有完没完"},
        {"speaker": "坐席", "start": 1.6, "end": 3.0, "text": "您好，请您慢慢说"},
        {"speaker": "客户", "start": 3.1, "end": 4.0, "text": "快点"},
        {"speaker": "坐席", "start": 4.1, "end": 6.0, "text": "老东西，问别人去"},
    ],
}


def test_when_conversation_checked_then_customer_words_never_count_against_agent(lexicon_detector):
    report = lexicon_detector.check_conversation(CALL)
    assert [v.turn for v in report.violations] == [3]
    assert report.violations[0].speaker == "坐席" and report.violations[0].start == 4.1
    assert report.turns_judged == 2
    # default sheet: disrespectful severity 3 costs 20 and is fatal
    assert report.deductions == 20.0 and report.score == 80.0 and report.fatal and not report.passed
    assert report.violations[0].deduction == 20.0
    assert report.to_dict()["agent_id"] == "A1"


def test_when_roles_given_then_those_speakers_are_judged(lexicon_detector):
    report = lexicon_detector.check_conversation(CALL, roles=["customer"])
    assert [v.turn for v in report.violations] == [0]


@pytest.mark.parametrize(
    "conv,message",
    [
        ({"turns": []}, "conversation_id: Field required"),
        ({"conversation_id": "x", "turns": [{"speaker": "agent"}]}, "turns[0].text: Field required"),
        ({"conversation_id": "x", "turns": [{"speaker": "agent", "text": 3}]}, "turns[0].text: Input should be a valid string"),
        ([1, 2], "a conversation must be a JSON object, got list"),
    ],
)
def test_when_conversation_malformed_then_error_names_the_field(lexicon_detector, conv, message):
    with pytest.raises(ConversationError, match=re.escape(message)):
        lexicon_detector.check_conversation(conv)


def test_when_agent_repeats_the_customers_words_then_not_the_agents_violation(lexicon_detector):
    call = {"conversation_id": "r1", "turns": [
        {"speaker": "customer", "text": "你们就是一帮老东西，有完没完"},
        {"speaker": "agent", "text": "您是说有完没完是吗？我理解您着急"},
        {"speaker": "agent", "text": "有完没完"},
    ]}
    report = lexicon_detector.check_conversation(call)
    # turn 1 repeats the customer's phrase; turn 2 says it again on its own account... still right
    # after the same customer turn, so it is dropped too: only the customer said it first
    assert [v.turn for v in report.violations] == []
    call["turns"].insert(2, {"speaker": "customer", "text": "那你们快点处理"})
    report = lexicon_detector.check_conversation(call)
    assert [v.turn for v in report.violations] == [3]


def test_when_agent_speakers_given_then_site_names_count_as_agents(lexicon_detector):
    call = {"conversation_id": "s1", "turns": [{"speaker": "工号1024", "text": "问别人去"}]}
    with pytest.raises(NoAgentError, match="工号1024 \\(1 turn\\).*--agent-speakers"):
        lexicon_detector.check_conversation(call)  # never a silent pass: nobody sounded like an agent
    assert lexicon_detector.check_conversation(call, agent_speakers=["工号1024"]).violations


def test_when_cache_on_then_verdicts_match_uncached_per_mode(detector):
    cached = Detector(cache_size=64, tone=detector.tone)
    texts = ["问别人去", "您好，请问有什么可以帮您？", "有完没完啊，同一个问题你都问了五遍了", "x" * 500]
    for mode in ("qa", "realtime"):
        assert cached.check_many(texts * 2, mode) == detector.check_many(texts * 2, mode)
        assert [cached.check(t, mode) for t in texts] == detector.check_many(texts, mode)
    info = cached.cache_info()
    # 3 short texts x 2 modes kept (the long one never is); the second pass per mode is all hits
    assert info.currsize == 6 and info.hits == 6
    with pytest.raises(TypeError):
        cached.check(123)


@pytest.mark.parametrize("text", [
    "嗯 您的意思是 那个师傅说您 老糊涂了 门禁卡都不会刷 是吧",
    "我理解的是，您觉得我们客服都是骗子，一直在糊弄您，对吗？",
    "我跟您确认一下，您觉得快递员态度太差，还把您的包裹扔在门口，是吗？",
])
def test_when_agent_reads_the_customers_words_back_then_nothing_is_held_against_the_agent(detector, text):
    v = detector.check(text)
    assert not v.flagged, [(e.source, e.text) for e in v.evidence]


def test_when_a_retort_follows_the_read_back_then_the_retort_is_still_flagged(detector):
    v = detector.check("您是说我态度不好对吧？你爱投诉就投诉去")
    assert v.flagged and all("态度不好" not in e.text for e in v.evidence if e.source != "classifier")
    assert any("投诉" in e.text for e in v.evidence)


def test_when_calls_judged_together_then_each_report_equals_its_own_and_a_bad_call_keeps_its_error(detector):
    from detector.conversation import ConversationError

    calls = [
        {"conversation_id": "a", "turns": [{"speaker": "customer", "text": "你们是骗子吧"}, {"speaker": "agent", "text": "您说我们是骗子？我们不是"}]},
        {"conversation_id": "b", "turns": [{"speaker": "agent", "text": "有完没完啊"}]},
        {"conversation_id": "c", "turns": "not a list"},
        {"conversation_id": "d", "turns": [{"speaker": "坐席", "text": "您好，请问有什么可以帮您？"}, {"speaker": "客户", "text": "问别人去"}]},
    ]
    together = detector.check_conversations(calls)
    assert isinstance(together[2], ConversationError)
    with pytest.raises(ConversationError):
        detector.check_conversation(calls[2])
    assert [r for i, r in enumerate(together) if i != 2] == [detector.check_conversation(c) for i, c in enumerate(calls) if i != 2]
    assert together[1].flagged and not together[3].flagged  # the customer's 问别人去 is not the agent's
