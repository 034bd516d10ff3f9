"""The shipped lexicon and organisation packs, as a QA team maintains them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detector import Detector, Lexicon, LexiconError
from detector.lexicon_check import check_lexicon

ROOT = Path(__file__).resolve().parents[1]


def test_when_shipped_lexicon_checked_then_no_problems():
    lexicon, problems = check_lexicon()
    assert problems == [], "\n".join(map(str, problems))


def test_when_shipped_lexicon_loaded_then_it_has_the_promised_breadth():
    lex = Lexicon.load()
    ours = [r for r, _ in lex.rules.values() if r.source != "seed"]
    assert len(ours) >= 200
    assert len(lex.allow) >= 120
    assert all(n >= 40 for n in lex.counts().values()), lex.counts()
    assert len(lex.patterns) >= 3


# The 18 numbered examples of the seed standard, each with the category we mapped it to.
SEED_EXAMPLES = [
    ("喂！", "impolite"), ("老头儿", "disrespectful"), ("土老冒儿", "disrespectful"),
    ("你吃饱了撑的呀！", "unfriendly"), ("谁让你不看着点儿。", "unfriendly"), ("问别人去！", "impatient"),
    ("听见没有，长耳朵干嘛使的。", "disrespectful"), ("我就这态度！", "unfriendly"),
    ("有能耐你告去，随便告哪都不怕。", "unfriendly"), ("有完没完。", "impatient"),
    ("到底要不要，想好了没有。", "impatient"), ("喊什么，等会儿！", "impatient"),
    ("没看我正忙着吗，着什么急。", "impatient"), ("我解决不了，愿意找谁就找谁去！", "unfriendly"),
    ("不知道。", "impatient"), ("刚才和你说过了，怎么还问？", "impatient"),
    ("有意见，找经理去。", "impolite"), ("到点了，你快点儿。", "impatient"),
]


@pytest.mark.parametrize("text,category", SEED_EXAMPLES)
def test_when_seed_example_said_then_flagged_with_its_mapped_category(lexicon_detector, text, category):
    v = lexicon_detector.check(text)
    assert v.flagged and v.labels[0] == category, (v.labels, [e.rule_id for e in v.evidence])


def test_when_lexicon_checked_then_every_seed_example_rule_explains_its_category():
    lex = Lexicon.load()
    seed = [r for r, _ in lex.rules.values() if r.source == "seed"]
    notes = " ".join(r.note for r in seed)
    for n in range(2, 19):  # (1) 喂 lives in patterns.yaml
        assert f"举例({n})" in notes, f"seed example {n} has no rule note"


def _pack(tmp_path: Path, files: dict[str, str]) -> Path:
    pack = tmp_path / "pack"
    pack.mkdir()
    for name, text in files.items():
        (pack / name).write_text(text, encoding="utf-8")
    return pack


def test_when_pack_adds_overrides_and_disables_then_detector_follows_it(tmp_path):
    pack = _pack(tmp_path, {
        "pack.yaml": "name: acme\ndisable: [impa-001]\n",
        "rules.yaml": (
            "entries:\n"
            "  - {id: acme-001, phrase: 你自己百度, category: impatient, severity: 2, suggestion: 我来为您查询。}\n"
            "  - {id: impa-002, phrase: 有完没完, category: impatient, severity: 3, suggestion: 请稍候。}\n"
        ),
    })
    d = Detector([pack], classifier=False)
    assert d.check("你自己百度").evidence[0].rule_id == "acme-001"
    assert d.check("有完没完").evidence[0].severity == 3
    assert not d.check("问别人去").flagged
    assert d.lexicon_version != Detector(classifier=False).lexicon_version


BAD_PACKS = [
    ("entries:\n  - {id: x-1, phrase: 甲乙丙, category: rude, severity: 2}\n", "rules.yaml:2: category: Input should be"),
    ("entries:\n  - {id: x-1, phrase: 甲乙丙, category: impolite, severity: 2, colour: red}\n", "rules.yaml:2: colour: unknown field"),
    ("entries:\n  - {id: x-1, phrase: 甲乙丙, category: impolite, severity: 5}\n", "rules.yaml:2: severity: Input should be less than or equal to 3"),
    ("entries:\n  - {id: x-1, phrase: 甲乙丙, category: impolite, severity: 2}\n  - {id: x-1, phrase: 甲乙丁, category: impolite, severity: 2}\n", "rules.yaml:3: duplicate id 'x-1'"),
    ("entries:\n  - {id: x-1, phrase: '!!', category: impolite, severity: 2}\n", "rules.yaml:2: x-1: '!!' normalises to nothing"),
    ("entries:\n  - {id: x-1, phrase: 有完没完, category: impolite, severity: 2}\n", "rules.yaml:2: x-1: '有完没完' normalises to '有完没完', already a phrase of impa-002"),
    ("allow:\n  - {phrase: 风和日丽}\n", "rules.yaml:2: allow '风和日丽' suppresses nothing"),
    ("allow:\n  - {phrase: 甲乙丙}\nentries:\n  - {id: x-1, phrase: 甲乙丙, category: impolite, severity: 2}\n", "rules.yaml:4: x-1: '甲乙丙' does not match itself"),
    (
        "patterns:\n  - {id: x-p1, anchor: 走, regex: '你走', category: impolite, severity: 2, examples: [走开]}\n",
        "rules.yaml:2: x-p1: example '走开' does not trigger the pattern",
    ),
    ("patterns:\n  - {id: x-p1, anchor: 走, regex: '你(走', category: impolite, severity: 2, examples: [你走]}\n", "regex does not compile"),
    ("entries: [\n", "rules.yaml:2: cannot parse"),
    ("entries:\n  - {id: x-1, phrase: 甲乙丙, category: impolite, severity: 2, initials: [abc]}\n", "rules.yaml:2: x-1: initials 'abc' are not the pinyin initials"),
    ("entries:\n  - {id: x-1, phrase: 甲乙丙, category: impolite, severity: 2, lookalikes: maybe}\n", "rules.yaml:2: lookalikes: Input should be a valid boolean"),
    ("spellings:\n  - {spelling: 酱, standard: 这样, note: too short}\n", "rules.yaml:2: spelling: String should have at least 2 characters"),
    ("spellings:\n  - {spelling: 酱酱, standard: 这样, note: one character once folded}\n", "rules.yaml:2: spelling '酱酱' normalises to '酱': a spelling needs two or more characters"),
    ("spellings:\n  - {spelling: 怎么, standard: 怎麼, note: the same once folded}\n", "rules.yaml:2: spelling '怎么' normalises to its own standard form"),
    ("spellings:\n  - {spelling: 肿么, standard: 怎么}\n", "rules.yaml:2: note: Field required"),
    ("spellings:\n  - {spelling: 肿么, standard: 怎么, note: a}\n  - {spelling: 肿么, standard: 怎样, note: b}\n", "rules.yaml:3: spelling '肿么' listed twice"),
    ("spellings:\n  - {spelling: 肿么, standard: 怎么, note: a, colour: red}\n", "rules.yaml:2: colour: unknown field"),
]


@pytest.mark.parametrize("text,message", BAD_PACKS, ids=[m.split(": ", 1)[-1][:30] for _, m in BAD_PACKS])
def test_when_pack_is_broken_then_check_names_file_line_and_problem(tmp_path, text, message):
    pack = _pack(tmp_path, {"rules.yaml": text})
    _, problems = check_lexicon([pack])
    assert any(message in str(p) for p in problems), "\n".join(map(str, problems))
    with pytest.raises(LexiconError):
        Detector([pack], classifier=False)


def test_when_lexicon_check_command_runs_on_a_broken_pack_then_exit_1_with_file_line(tmp_path):
    pack = _pack(tmp_path, {"rules.yaml": BAD_PACKS[1][0]})
    r = subprocess.run([sys.executable, "-m", "detector.cli", "lexicon", "check", str(pack)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and f"{pack}/rules.yaml:2: colour: unknown field" in r.stdout
    ok = subprocess.run([sys.executable, "-m", "detector.cli", "lexicon", "check"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout


def test_when_verdict_reported_then_lexicon_version_is_a_content_hash(tmp_path):
    pack = _pack(tmp_path, {"rules.yaml": "entries:\n  - {id: x-1, phrase: 你自己百度, category: impatient, severity: 2}\n"})
    v1 = Lexicon.load([pack]).version
    (pack / "rules.yaml").write_text("entries:\n  - {id: x-1, phrase: 你自己百度去, category: impatient, severity: 2}\n", encoding="utf-8")
    assert Lexicon.load([pack]).version != v1
    assert json.dumps(v1)  # a plain string
