"""Start-up caches (detector.diskcache): a warm start judges exactly as a cold one, a changed or
damaged input is rebuilt, the cache stays bounded and private, and a start imports only what it uses."""

import json
import marshal
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from detector import Detector, diskcache
from detector.compiled import KEEP
from detector.lexicon import pack_roots

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = [json.loads(line)["text"] for line in (ROOT / "examples" / "utterances.jsonl").read_text(encoding="utf-8").splitlines()]
SAMPLE += ["有完没完", "你个sha逼", "老东酉", "问别任去", "病号服在三楼", "肿么还没到", "你自己不会看公告吗", "您好，请问有什么可以帮您？"]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    from detector.detector import _pinyin_table

    path = tmp_path / "cache"
    monkeypatch.setenv("JIYU_CACHE_DIR", str(path))
    _pinyin_table.cache_clear()  # one per process: this test's comes from (and goes to) its own cache
    return path


def _pack(path: Path, phrase: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "rules.yaml").write_text(f"entries:\n  - {{id: org-x, phrase: {phrase}, category: impolite, severity: 3}}\n", encoding="utf-8")
    return path


def _small(pack: Path) -> Detector:
    return Detector([pack], include_default=False, classifier=False, context=False)


def _verdicts(d: Detector) -> list[dict]:
    return [v.to_dict() for v in d.check_many(SAMPLE)]


def test_when_a_pack_rule_is_edited_then_a_warm_cache_gives_the_new_behaviour(cache, tmp_path):
    pack = _pack(tmp_path / "org", "甲乙丙丁")
    assert Detector([pack], classifier=False).check("你这个甲乙丙丁").flagged
    assert len(list(cache.glob("lexicon-*.pkl"))) == 1  # warm from here on
    _pack(pack, "戊己庚辛")  # same file name and size, other words
    d = Detector([pack], classifier=False)
    assert d.check("你这个戊己庚辛").flagged and not d.check("你这个甲乙丙丁").flagged


def test_when_the_same_pack_is_read_from_another_folder_then_the_entry_is_reused_and_names_the_new_files(cache, tmp_path):
    _small(_pack(tmp_path / "a", "甲乙丙丁"))
    (entry,) = cache.glob("lexicon-*.pkl")
    moved = _pack(tmp_path / "b", "甲乙丙丁")
    d = _small(moved)
    assert list(cache.glob("lexicon-*.pkl")) == [entry]  # keyed by content, not by path
    assert d.lexicon.rules["org-x"][1].file == moved / "rules.yaml" and d.lexicon.packs[0].root == moved


def test_when_a_broken_pack_is_loaded_twice_then_both_times_it_is_refused(cache, tmp_path):
    from detector import LexiconError

    pack = tmp_path / "bad"
    pack.mkdir()
    (pack / "rules.yaml").write_text("entries:\n  - {id: org-x, phrase: '。', category: impolite, severity: 3}\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(LexiconError, match="normalises to nothing"):
            _small(pack)
    assert not list(cache.glob("lexicon-*.pkl"))  # only a lexicon that passed its self-check is stored


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_when_a_cache_file_is_damaged_then_it_is_rebuilt_and_the_verdicts_are_right(cache, damage):
    from detector.detector import _pinyin_table

    cold = _verdicts(Detector())
    entries = sorted(cache.glob("*.pkl"))
    assert {p.name.split("-")[0] for p in entries} >= {"lexicon", "tone", "pinyin"}
    for p in entries:
        data = bytearray(p.read_bytes())
        if damage == "truncate":
            data = data[: len(data) // 2]
        elif damage == "flip":
            data[len(data) // 2] ^= 0x40  # one bit, in the middle of the payload
        elif damage == "garbage":
            data = bytearray(os.urandom(len(data)))
        else:
            data = bytearray()
        p.write_bytes(bytes(data))
    _pinyin_table.cache_clear()  # read back (damaged) too
    assert _verdicts(Detector()) == cold
    roots = pack_roots([])
    for p in cache.glob("*.pkl"):  # each rewritten whole
        kind, key = p.stem.split("-", 1)
        assert diskcache.load(kind, key, roots) is not None, p.name


def test_when_warm_then_verdicts_are_identical_to_a_cold_build_in_another_process(cache):
    cold = _verdicts(Detector())
    code = (
        "import json, sys; from detector import Detector; "
        f"print(json.dumps([v.to_dict() for v in Detector().check_many({SAMPLE!r})], ensure_ascii=False)); "
        "print(json.dumps(sorted(m for m in ('pypinyin', 'yaml') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert json.loads(out[1]) == []  # it really was warm: nothing was compiled
    assert json.loads(out[0]) == json.loads(json.dumps(cold, ensure_ascii=False))


def test_when_many_different_packs_are_compiled_then_the_cache_keeps_only_the_last_few(cache, tmp_path):
    for i, phrase in enumerate(["甲乙丙丁", "戊己庚辛", "子丑寅卯", "辰巳午未", "申酉戌亥", "东南西北", "春夏秋冬"]):
        _small(_pack(tmp_path / f"p{i}", phrase))
        assert len(list(cache.glob("lexicon-*.pkl"))) == min(i + 1, KEEP)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary files left behind


def test_when_an_entry_is_replaced_then_the_most_recently_used_are_kept(cache, tmp_path):
    packs = [_pack(tmp_path / f"p{i}", phrase) for i, phrase in enumerate(["甲乙丙丁", "戊己庚辛", "子丑寅卯", "辰巳午未", "申酉戌亥"])]
    for p in packs[:KEEP]:
        _small(p)
    first = max(cache.glob("lexicon-*.pkl"), key=lambda p: p.stat().st_mtime_ns)  # the last written
    os.utime(first, ns=(1, 1))  # …made the oldest
    _small(packs[0])  # a hit: used again, so kept
    _small(packs[KEEP])  # a new one pushes out the least recently used
    assert len(list(cache.glob("lexicon-*.pkl"))) == KEEP
    assert not first.exists()


def test_when_the_cache_folder_is_writable_by_others_then_it_is_neither_read_nor_written(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    monkeypatch.setenv("JIYU_CACHE_DIR", str(shared))
    diskcache.save("probe", "k", {"x": 1})
    assert not list(shared.iterdir())
    mine = tmp_path / "mine"
    monkeypatch.setenv("JIYU_CACHE_DIR", str(mine))
    diskcache.save("probe", "k", {"x": 1})
    assert diskcache.load("probe", "k") == {"x": 1} and (mine.stat().st_mode & 0o777) == 0o700
    (entry,) = mine.glob("probe-*.pkl")
    os.chmod(entry, 0o666)  # an entry someone else could have rewritten
    assert diskcache.load("probe", "k") is None
    os.chmod(entry, 0o600)
    os.chmod(mine, 0o770)
    assert diskcache.load("probe", "k") is None


def test_when_jiebas_shared_temp_cache_is_planted_then_it_is_never_opened(cache, tmp_path, monkeypatch):
    from detector.segment import FastCut, tokenizer

    planted_dir = tmp_path / "tmp"
    planted_dir.mkdir()
    planted = planted_dir / "jieba.cache"
    poison = marshal.dumps(({"你": 1, "好": 1}, 2))  # a table another local user could leave there
    planted.write_bytes(poison)
    monkeypatch.setattr(tempfile, "tempdir", str(planted_dir))
    monkeypatch.setenv("TMPDIR", str(planted_dir))
    opened = []

    def hook(event, args):  # noqa: ANN001
        if event == "open" and args and str(args[0]).startswith(str(planted_dir)):
            opened.append(args[0])

    sys.addaudithook(hook)  # (audit hooks cannot be removed; this one only looks at the planted folder)
    tok = tokenizer(["问别人去"])
    assert len(tok.FREQ) > 300_000 and FastCut(tok).cut("请问别人去吧") == ["请", "问别人去", "吧"]
    assert tokenizer(["问别人去"]).FREQ == tok.FREQ  # and again from jiyu's own cache
    assert opened == []
    assert planted.read_bytes() == poison  # nor rewritten


def test_when_the_old_per_path_jieba_tables_are_there_then_a_new_table_removes_them(cache):
    from detector.segment import tokenizer

    cache.mkdir(mode=0o700)
    old = [cache / f"jieba-freq-{i:016x}.bin" for i in range(3)]  # one per virtualenv, 8.8 MB each
    for p in old:
        p.write_bytes(b"jiyu-freq-1")
    tokenizer(["问别人去"])
    assert not any(p.exists() for p in old) and len(list(cache.glob("jieba-*.pkl"))) == 1


def _modules_after(code: str) -> list[str]:
    probe = ("pypinyin", "yaml", "pydantic", "jieba", "sklearn", "pandas", "fastapi", "skops", "detector.scan", "pkg_resources")
    out = subprocess.run([sys.executable, "-c", f"{code}; import sys; print(' '.join(m for m in {probe!r} if m in sys.modules))"],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.splitlines()[-1].split()


def test_when_warm_then_a_detector_and_jiyu_check_import_only_what_they_use(cache):
    Detector()  # warms the cache
    assert _modules_after("import detector") == []
    assert _modules_after("from detector import Detector; Detector()") == []
    cli = "import sys; from detector.cli import main; sys.argv = ['jiyu', 'check', '你好']; main()"
    assert [m for m in _modules_after(cli) if m != "jieba"] == []  # jieba only if the classifier must segment
    assert _modules_after(cli.replace("你好", "有完没完")) == ["jieba"]  # without pkg_resources (0.1 s it does not use)


def test_when_the_lexicon_records_and_their_schema_are_compared_then_fields_and_defaults_agree():
    from dataclasses import MISSING, fields

    from detector import lexicon, lexicon_schema

    for name in ("PhraseRule", "PatternRule", "AllowPhrase", "Spelling", "PackMeta"):
        record = {f.name: f.default for f in fields(getattr(lexicon, name))}
        model = {k: MISSING if f.is_required() else f.default for k, f in getattr(lexicon_schema, name).model_fields.items()}
        assert record == model, name
