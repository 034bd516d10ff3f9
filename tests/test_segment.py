"""detector.segment gives exactly jieba's `cut(HMM=False)` tokens, only faster."""

import json

import pytest
from helpers import SHARED
from hypothesis import given, settings
from hypothesis import strategies as st

from detector import corpus
from detector.features import Featurizer
from detector.normalise import fold
from detector.segment import FastCut
from detector.train import user_words


@pytest.fixture(scope="module")
def both():
    tok = Featurizer(user_words())._tokenizer()
    return tok, FastCut(tok)


def test_when_whole_corpus_segmented_then_tokens_equal_jiebas(both):
    tok, fast = both
    texts = [fold(r.text).replace("您", "你") for r in corpus.load()]
    crosswoz = SHARED / "corpora" / "crosswoz" / "agent_turns.jsonl"
    if crosswoz.exists():
        texts += [fold(json.loads(line)["text"]) for line in crosswoz.read_text(encoding="utf-8").splitlines()]
    diff = [t for t in texts if fast.cut(t) != tok.lcut(t, HMM=False)]
    assert diff == [], diff[:5]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("有完没完你买得起吗老东西问别人去abcXYZ019+#&._%- \t\n，。!?的了是")), max_size=30))
def test_when_any_mixed_text_segmented_then_tokens_equal_jiebas(both, text):
    tok, fast = both
    assert fast.cut(text) == tok.lcut(text, HMM=False)


def test_when_dictionary_cached_then_the_reloaded_table_is_jiebas_and_a_broken_cache_is_rebuilt(tmp_path, monkeypatch):
    from detector.segment import tokenizer

    monkeypatch.setenv("JIYU_CACHE_DIR", str(tmp_path))
    words = ["你自己百度", "问别人去"]
    built = tokenizer(words)  # from jieba; writes the cache
    (cache,) = tmp_path.glob("jieba-*.pkl")
    loaded = tokenizer(words)  # from the cache
    assert loaded.FREQ == built.FREQ and loaded.total == built.total
    assert FastCut(loaded).cut("你自己百度一下吧") == built.lcut("你自己百度一下吧", HMM=False)
    cache.write_bytes(cache.read_bytes()[:1000])  # torn
    again = tokenizer(words)
    assert again.FREQ == built.FREQ
    assert len(list(tmp_path.glob("jieba-*.pkl"))) == 1 and tokenizer(["别的词"]).FREQ != built.FREQ  # keyed by the words
