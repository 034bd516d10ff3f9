"""jieba's dictionary segmentation (`cut(..., HMM=False)`), the same tokens in about half the time.

jieba builds a dict of every word graph, then a route dict via `max` over a generator, then
yields tokens through nested generators; per utterance that bookkeeping costs more than the
dictionary lookups themselves. This module walks the same graph backwards in one loop over
the same `FREQ` and `total`, breaking ties exactly as jieba's `max((score, end))` does, and
applies the same block and English-run rules. tests/test_segment.py proves the tokens are
identical to jieba's on the whole tone corpus (and CrossWOZ when present).
"""

from __future__ import annotations

import io
import logging
import math
import os
from pathlib import Path

import numpy as np

from . import diskcache

log = logging.getLogger("jiyu.segment")
KEEP = 2  # jieba tables kept (8.8 MB each): the current model's, and one more while models change


def import_jieba():  # noqa: ANN201 — the jieba module
    """jieba, imported without pkg_resources.

    jieba imports pkg_resources (0.1 s, two thirds of its import) only to open its own data
    files, and falls back to a plain open() when that import fails; jiyu reads jieba's dictionary
    itself. So while jieba is first imported, pkg_resources is marked unimportable, then unmarked
    (unless something else imported it meanwhile). Called at start-up, before any thread would
    import pkg_resources.
    """
    import sys

    if "jieba" not in sys.modules and "pkg_resources" not in sys.modules:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment] — `import pkg_resources` raises ImportError
        try:
            import jieba  # noqa: F401
        finally:
            if sys.modules.get("pkg_resources", False) is None:
                del sys.modules["pkg_resources"]
    import jieba

    return jieba


def tokenizer(user_words: list[str]):  # noqa: ANN201 — an initialised jieba.Tokenizer
    """A private, initialised jieba Tokenizer with `user_words` added (kept whole).

    Building jieba's table (500,000 words and prefixes) from its dictionary takes 1.5 s; the same
    table with the user words added is kept in jiyu's disk cache (detector.diskcache) as plain
    words and counts and loads in a fraction of that. The key is jieba's version, the bytes of
    its dictionary and the user words: a new virtualenv with the same jieba reuses the entry.

    jieba's own cache (a marshal file in the shared temporary directory, which any local user
    can plant) is never read or written: on a miss the table is built from the dictionary here.
    """
    jieba = import_jieba()

    jieba.setLogLevel(logging.WARNING)  # not "Building prefix dict..." on every start
    tok = jieba.Tokenizer()
    data = (Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME).read_bytes()
    key = diskcache.digest(jieba.__version__, data, *user_words)
    table = diskcache.load("jieba", key)
    if table is not None:
        words, freqs, total = table
        tok.FREQ, tok.total = dict(zip(words.decode("utf-8").split("\n"), freqs.tolist())), total
        tok.initialized = True
        return tok
    tok.FREQ, tok.total = tok.gen_pfdict(io.BytesIO(data))  # what initialize() builds, without its temp-file cache
    tok.initialized = True
    for w in user_words:
        tok.add_word(w)  # jieba picks a frequency that keeps the word whole
    words = list(tok.FREQ)
    if not any("\n" in w for w in words):
        freqs = np.fromiter((tok.FREQ[w] for w in words), dtype=np.int64, count=len(words))
        diskcache.save("jieba", key, ("\n".join(words).encode("utf-8"), freqs, tok.total), keep=KEEP)
        _remove_old_tables()
    return tok


def _remove_old_tables() -> None:
    """Tables an earlier jiyu kept (jieba-freq-*.bin, keyed by the dictionary's path and mtime:
    8.8 MB more for every new virtualenv)."""
    for old in diskcache.cache_dir().glob("jieba-freq-*.bin"):
        try:
            os.unlink(old)
        except OSError:
            pass


class FastCut:
    def __init__(self, tokenizer) -> None:  # noqa: ANN001 — an initialised jieba.Tokenizer
        jieba = import_jieba()

        tokenizer.check_initialized()
        self.freq = tokenizer.FREQ
        self.log_total = math.log(tokenizer.total)
        self._blocks, self._skip, self._eng = jieba.re_han_default, jieba.re_skip_default, jieba.re_eng

    def cut(self, sentence: str) -> list[str]:
        re_han_default, re_skip_default = self._blocks, self._skip
        out: list[str] = []
        for blk in re_han_default.split(sentence):
            if not blk:
                continue
            if re_han_default.match(blk):
                self._cut_block(blk, out)
            else:
                for x in re_skip_default.split(blk):
                    if re_skip_default.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def _cut_block(self, s: str, out: list[str]) -> None:
        freq, log, log_total, eng = self.freq, math.log, self.log_total, self._eng
        n = len(s)
        score = [0.0] * (n + 1)
        end = [0] * (n + 1)
        for k in range(n - 1, -1, -1):
            best, best_x = None, k
            i = k
            frag = s[k]
            found = False
            while i < n and (f := freq.get(frag)) is not None:  # one probe of the big table, not two
                if f:
                    found = True
                    sc = log(f) - log_total + score[i + 1]
                    if best is None or sc > best or (sc == best and i > best_x):
                        best, best_x = sc, i
                i += 1
                frag = s[k : i + 1]
            if not found:  # jieba's DAG then holds [k] alone, scored with frequency 1
                best, best_x = log(freq.get(s[k]) or 1) - log_total + score[k + 1], k
            score[k] = best
            end[k] = best_x
        x = 0
        buf = ""
        while x < n:
            y = end[x] + 1
            word = s[x:y]
            if len(word) == 1 and eng.match(word):
                buf += word
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)
