"""The tone corpus: what the model is trained and measured on (data/tone)."""

from collections import Counter

import pytest

from detector import corpus
from detector.lexicon import CATEGORIES


@pytest.fixture(scope="module")
def rows():
    return corpus.load()


def test_when_corpus_loaded_then_it_meets_the_promised_size_and_spread(rows):
    per_label = Counter(label for r in rows for label in (r.labels or ("none",)))
    assert len(rows) >= 6000
    assert all(per_label[c] >= 700 for c in CATEGORIES), per_label
    assert per_label["none"] >= 3000
    assert sum(r.hard_negative for r in rows) >= 1000
    assert sum(r.hard_negative and r.labels == () for r in rows) == sum(r.hard_negative for r in rows)
    assert len({r.industry for r in rows}) >= 12
    assert {r.style for r in rows} == {"chat", "asr"}
    assert sum(len(r.labels) > 1 for r in rows) >= 100  # multi-label lines exist


def test_when_split_read_then_every_line_has_one_and_no_near_duplicates_cross(rows):
    splits = corpus.read_splits()
    assert {r.id for r in rows} <= set(splits), "run `jiyu train` to record splits for new lines"
    assert set(splits.values()) == set(corpus.SPLITS)
    assert corpus.leaks(rows, splits) == []


def test_when_every_line_read_then_it_says_how_it_was_produced(rows):
    assert all(r.source and r.kind and r.industry for r in rows)


def test_when_near_duplicates_grouped_then_similar_lines_share_a_group():
    mk = lambda i, t: corpus.Example(i, t, (), "x", "chat", False, "plain", "test", "f", 1)  # noqa: E731
    groups = corpus.near_duplicate_groups(
        [mk("a", "您好，您的快递已经到了楼下的快递柜"), mk("b", "您好，您的快递已经到了楼下的快递柜了"), mk("c", "今天天气很好")]
    )
    assert groups["a"] == groups["b"] != groups["c"]


def test_when_batch_line_is_broken_then_load_names_file_and_line(tmp_path):
    (tmp_path / "batches").mkdir()
    (tmp_path / "batches" / "x.jsonl").write_text('{"id": "x1"}\n', encoding="utf-8")
    with pytest.raises(corpus.CorpusError, match=r"x.jsonl:1: fields must be exactly"):
        corpus.load(tmp_path)
