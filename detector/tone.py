"""The tone classifier at inference time: numpy only, no scikit-learn import, no pickle.

`jiyu train` fits TF-IDF + class-balanced LinearSVC + sigmoid calibration per category with
scikit-learn, keeps the fitted objects in `models/tone.skops` (for evaluation and inspection),
and exports what inference needs — vocabulary, idf, weights, calibration — to plain arrays
(`models/tone.npz`, `models/tone-vocab.json`), listed with their sha256 in
`models/manifest.json`. Loading checks the manifest's format and the hashes of the files it
reads, so a stale or tampered model is a clear error that says how to rebuild, never a silent
wrong answer.

Per sentence of the normalised text: features (detector.features) → sublinear tf × idf,
l2-normalised → one dot product per category → calibrated probability 1 / (1 + exp(a·d + b)). That is a few dozen dictionary
lookups and one small matrix product, so one text costs microseconds, not scikit-learn's
fixed per-call overhead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import ahocorasick
import numpy as np

from . import diskcache
from .features import BIGRAM, CHAR, WORD, Featurizer, prepare
from .normalise import fold
from .resources import bundled

MODEL_DIR = bundled("models")
FORMAT = 1
REBUILD = "rebuild it with `jiyu train` (see models/MODEL_CARD.md)"
INFERENCE_FILES = ("tone.npz", "tone-vocab.json")
MIN_SENTENCE = 4
_UNIT = re.compile("[^。!?]+")
_WHITESPACE = re.compile(r"\s")
_TONELESS = re.compile(r"[\s。!?,、嗯啊呃唔]|那个")


# An utterance this short (characters that carry tone) says too little for the classifier alone:
# 单号发下呢, 嗯嗯是的呢, a bare product name. Real text is full of them and nearly all are fine,
# so without a lexicon hit it is flagged only at the category's violation threshold.
SHORT_CHARS = 8


def is_short(folded: str) -> bool:
    return len(_TONELESS.sub("", folded)) < SHORT_CHARS


def short_bar(thresholds: dict) -> dict:
    """A mode's per-category thresholds as they apply to a short uncued utterance: review only
    where violation starts (train.choose_thresholds holds dev lines to the same bar)."""
    return {c: {"review": t["violation"], "violation": t["violation"]} for c, t in thresholds.items()}


class ModelError(RuntimeError):
    pass


def sentence_units(folded: str) -> list[tuple[int, int]]:
    """The sentences of normalised text, as [start, end) in it; the classifier judges each alone.

    Sentence ends are the normaliser's markers (。 ! ?). A fragment of fewer than MIN_SENTENCE
    characters (再见, 好的) is joined to its neighbour: alone it carries too little to judge.
    """
    spans = [m.span() for m in _UNIT.finditer(folded)]
    if not spans:
        return [(0, len(folded))]
    out = [spans[0]]
    for a, b in spans[1:]:
        if out[-1][1] - out[-1][0] < MIN_SENTENCE or b - a < MIN_SENTENCE:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def without(text: str, start: int, end: int, hidden: list[tuple[int, int]]) -> str:
    """text[start:end] with the hidden ranges cut out."""
    keep = []
    pos = start
    for a, b in sorted(hidden):
        if b <= pos or a >= end:
            continue
        keep.append(text[pos : max(a, pos)])
        pos = max(pos, b)
    keep.append(text[pos:end])
    return "".join(keep)


def _stacked(counts: Sequence[Counter]) -> tuple[np.ndarray, np.ndarray | None, list[int], list[int]]:
    """Per-unit feature counts laid end to end, for one pass of array operations over all units:
    feature ids, tf weights (1 + log count, sublinear as in training; None when every count is 1),
    where each non-empty unit's run starts (for np.add.reduceat), and which units those are."""
    starts, present, n = [], [], 0
    for j, c in enumerate(counts):
        if c:
            starts.append(n)
            present.append(j)
            n += len(c)
    ids = np.fromiter(chain.from_iterable(counts), dtype=np.int64, count=n)
    tf = np.fromiter(chain.from_iterable(c.values() for c in counts), dtype=np.float64, count=n)
    return ids, (1.0 + np.log(tf) if n and tf.max() > 1 else None), starts, present


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(directory: Path, manifest: dict, names: tuple[str, ...]) -> None:
    """Each named model file exists and has the sha256 the manifest records."""
    for name in names:
        f = directory / name
        if not f.exists() or sha256(f) != manifest["files"].get(name):
            raise ModelError(f"{f}: missing or does not match the sha256 in {directory / 'manifest.json'}; {REBUILD}")


def _tables(directory: Path, k: int) -> dict:
    """What inference reads, built from the model files (ToneModel.load keeps it in the disk cache).

    The same features as Featurizer.from_folded, counted without building their names:
    character n-grams straight from an Aho-Corasick scan over the vocabulary's n-grams (in C),
    words and bigrams from two small dicts. tests/test_tone.py checks the result against
    scikit-learn on the dev split. STORE_INTS: ids live in the trie nodes, not as Python ints
    scattered over the heap (a cache miss per hit when the server's other work has pushed them out).
    """
    with np.load(directory / "tone.npz", allow_pickle=False) as arrays:
        out = {name: arrays[name].astype(np.float64, copy=False) for name in ("idf", "coef", "intercept", "cal_a", "cal_b")}
    vocab = _read_vocab(directory)
    chars = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    words, bigrams = {}, {}
    for f, i in vocab.items():
        kind, body = f[:2], f[2:]
        if kind == CHAR:
            chars.add_word(body, i)
        elif kind == WORD:
            words[body] = i
        elif kind == BIGRAM:
            bigrams[body] = i
    chars.make_automaton()
    surfaces, rows = _bound_tables(vocab, out["idf"], out["coef"], k)
    return {**out, "_chars": chars, "_words": words, "_bigrams": bigrams, "_surfaces": surfaces, "_surface_rows": rows}


def _read_vocab(directory: Path) -> dict[str, int]:
    return {f: i for i, f in enumerate(json.loads((directory / "tone-vocab.json").read_text(encoding="utf-8")))}


def _bound_tables(vocab: dict[str, int], idf: np.ndarray, coef: np.ndarray, k: int) -> tuple[ahocorasick.Automaton, np.ndarray]:
    """For `upper_proba`: every feature's surface string (a bigram a|b occurs as the substring ab),
    one Aho-Corasick scan for all of them, and per surface what its occurrences can contribute:
    the exact char n-gram weight·coefficients and squared weight, and for words and bigrams
    (which segmentation may or may not produce) the positive part only."""
    surface_of: dict[str, int] = {}
    feature, surface, is_char = [], [], []
    for f, i in vocab.items():
        kind, body = f[:2], f[2:]
        text = body.replace("|", "", 1) if kind == BIGRAM else body
        feature.append(i)
        surface.append(surface_of.setdefault(text, len(surface_of)))
        is_char.append(kind == CHAR)
    feature, surface, is_char = np.array(feature), np.array(surface), np.array(is_char)
    weight = idf[feature]
    # per surface: [what it adds to x·coef per category (at most), its chars' |x|², its words' |x|²]
    rows = np.zeros((len(surface_of), k + 2))
    contribution = weight[:, None] * np.where(is_char[:, None], coef[feature], np.maximum(coef[feature], 0.0))
    np.add.at(rows, (surface, slice(0, k)), contribution)
    np.add.at(rows, (surface, np.where(is_char, k, k + 1)), weight**2)
    surfaces = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for text, n in surface_of.items():
        surfaces.add_word(text, n)
    surfaces.make_automaton()
    return surfaces, rows


@dataclass(slots=True)
class ToneModel:
    version: str
    categories: tuple[str, ...]
    idf: np.ndarray  # (n_features,)
    coef: np.ndarray  # (n_features, n_categories)
    intercept: np.ndarray  # (n_categories,)
    cal_a: np.ndarray  # (n_categories,)
    cal_b: np.ndarray
    thresholds: dict  # mode -> category -> {"review": p, "violation": p}
    featurizer: Featurizer
    manifest: dict
    directory: Path
    _chars: ahocorasick.Automaton = field(repr=False)
    _words: dict = field(repr=False)
    _bigrams: dict = field(repr=False)
    _surfaces: ahocorasick.Automaton = field(repr=False)
    _surface_rows: np.ndarray = field(repr=False)
    _weight_power: np.ndarray = field(init=False, repr=False)
    _bound_ok: bool = field(init=False, repr=False)
    _vocab: dict | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, directory: str | Path = MODEL_DIR) -> ToneModel:
        directory = Path(directory)
        path = directory / "manifest.json"
        if not path.exists():
            raise ModelError(f"{path}: no tone model here; {REBUILD}")
        raw = path.read_bytes()
        manifest = json.loads(raw)
        if manifest.get("format") != FORMAT:
            raise ModelError(f"{path}: model format {manifest.get('format')!r}, this jiyu reads {FORMAT}; {REBUILD}")
        verify(directory, manifest, INFERENCE_FILES)  # tone.skops is checked where it is read (train.load_fitted)
        # the tables take half a second to build: kept in the disk cache, keyed by the manifest
        # (which holds the sha256 of each file, just verified), our code and the libraries
        k = len(manifest["categories"])
        key = diskcache.digest(diskcache.code_version(), *map(diskcache.library_stamp, ("numpy", "pyahocorasick")), raw)
        tables = diskcache.cached("tone", key, lambda: _tables(directory, k))
        return cls(
            version=manifest["model_version"],
            categories=tuple(manifest["categories"]),
            thresholds=manifest["thresholds"],
            featurizer=Featurizer(manifest["user_words"]),
            manifest=manifest,
            directory=directory,
            **tables,
        )

    def __post_init__(self) -> None:
        k = len(self.categories)
        self._weight_power = np.array([1.0] * k + [2.0, 2.0])
        self._bound_ok = bool((self.cal_a < 0).all())  # the bound needs calibration increasing in the decision

    @property
    def vocab(self) -> dict[str, int]:
        """Feature name -> column (read on first use: inference never needs the names)."""
        if self._vocab is None:
            verify(self.directory, self.manifest, ("tone-vocab.json",))
            self._vocab = _read_vocab(self.directory)
        return self._vocab

    def upper_proba(self, folded: str) -> np.ndarray | None:
        """An upper bound on `proba_folded(folded)` per category without segmenting, or None."""
        upper = self._upper_many([prepare(folded)])[0]
        return None if np.isnan(upper[0]) else upper

    def _upper_many(self, texts: Sequence[str]) -> np.ndarray:
        """Upper bounds (n, k) on the probabilities of prepared texts, NaN rows where none is claimed.

        With x the tf-idf vector: char n-grams are counted exactly, so their part of x·coef and of
        |x|² is exact; a word or bigram feature, if jieba produces it at all, has tf at most its
        surface's occurrences and adds at most its positive coefficients to x·coef and at most
        its square to |x|². So x·coef/|x| ≤ (A+B)/√C when A+B ≥ 0, and ≤ (A+B)/√(C+W) when
        negative; calibration is increasing in the decision (every cal_a < 0, checked). No bound
        without a known char n-gram, nor across whitespace: jieba drops whitespace tokens, so the
        words either side form a bigram that is no substring (never in normalised text; guarded).
        All texts' sums come out of one pass of array operations.
        """
        k = len(self.categories)
        if not self._bound_ok:
            return np.full((len(texts), k), np.nan)
        hits = [Counter() if _WHITESPACE.search(t) else Counter([n for _, n in self._surfaces.iter(t)]) for t in texts]
        ids, w, starts, present = _stacked(hits)
        if not present:
            return np.full((len(texts), k), np.nan)
        rows = self._surface_rows[ids]  # a copy
        if w is not None:
            rows *= w[:, None] ** self._weight_power  # tf on the sums, tf² on the squares
        sums = np.add.reduceat(rows, starts, axis=0)
        bounded = sums[:, k] > 0.0  # some char n-gram known
        if not bounded.all():
            sums, present = sums[bounded], [u for u, b in zip(present, bounded) if b]
        top = sums[:, :k]
        # divide by √C when top ≥ 0, by √(C+W) when negative
        upper = self._calibrated(top / np.sqrt(sums[:, k : k + 1] + (top < 0) * sums[:, k + 1 :]) + self.intercept)
        if len(present) == len(texts):  # the usual case: every text bounded
            return upper
        out = np.full((len(texts), k), np.nan)
        out[present] = upper
        return out

    def _counts(self, folded: str) -> Counter:
        """Feature id -> count in FOLDED text, as training counts them."""
        return self._counts_many([folded])[0]

    def _counts_many(self, folded: Sequence[str]) -> list[Counter]:
        # stage by stage over all the texts (char n-grams, then jieba, then the word tables), so
        # each table is walked while it is still in cache
        texts = [prepare(f) for f in folded]
        counts = [Counter([i for _, i in self._chars.iter(t)]) if t else Counter() for t in texts]
        segmented = [self.featurizer.words(t) for t in texts]
        words_get, bigrams_get = self._words.get, self._bigrams.get
        for c, words in zip(counts, segmented):
            get = c.get  # c[i] += 1 would call Counter.__missing__ (Python) for each new key
            for i in map(words_get, words):
                if i is not None:
                    c[i] = get(i, 0) + 1
            for a, b in zip(words, words[1:]):
                i = bigrams_get(a + "|" + b)
                if i is not None:
                    c[i] = get(i, 0) + 1
        return counts

    def decision(self, folded: str) -> np.ndarray:
        """Raw linear scores per category (before calibration) of FOLDED text."""
        return self._decisions([folded])[0]

    def _decisions(self, folded: Sequence[str]) -> np.ndarray:
        """Raw scores (n, k) of several folded texts: their features counted one by one, scored together."""
        ids, w, starts, present = _stacked(self._counts_many(folded))
        dec = np.tile(self.intercept, (len(folded), 1))
        if present:
            x = self.idf[ids] if w is None else w * self.idf[ids]
            norm = np.sqrt(np.add.reduceat(x * x, starts))
            dec[present] += np.add.reduceat(x[:, None] * self.coef[ids], starts, axis=0) / norm[:, None]
        return dec

    def _calibrated(self, dec: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(self.cal_a * dec + self.cal_b))

    def proba_folded(self, folded: str) -> np.ndarray:
        """Calibrated probability per category (in `self.categories` order) of folded text."""
        return self._calibrated(self.decision(folded))

    def proba(self, text: str) -> np.ndarray:
        """Calibrated probability per category of a whole text, in `self.categories` order."""
        return self.proba_folded(fold(text))

    def sentence_probs(self, folded: str, hidden: list[tuple[int, int]] = ()) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Each sentence of normalised text scored on its own: (units, probs of shape (n, k)).

        `hidden` ranges (normalised coordinates) are cut out first. An utterance is as rude as
        its rudest sentence: one curt sentence among polite ones must not be averaged away.
        Training chooses thresholds on exactly this quantity (`utterance_proba`).
        """
        units = sentence_units(folded)
        return units, self.units_proba([without(folded, a, b, hidden) for a, b in units])

    def units_proba(self, units: Sequence[str], below: np.ndarray | None = None, sure: Sequence[bool] = ()) -> np.ndarray:
        """Calibrated probabilities (n, k) of sentence units of normalised text, judged together.

        A unit with (almost) nothing left once the innocent parts are cut out says nothing about
        tone and reads as zeros: judged anyway, a lone 我 or 那个 can read as curt. With `below`
        (per category, the largest probability that cannot count), a unit whose upper bound stays
        at or under it everywhere is not segmented and reads as zeros too: the caller ignores it
        either way. Units marked `sure` (a forbidden phrase is in them) skip the bound: it would
        only say what the phrase already says.
        """
        out = np.zeros((len(units), len(self.categories)))
        judge = [i for i, u in enumerate(units) if len(_TONELESS.sub("", u)) >= 2]
        if below is not None:
            bounded = [i for i in judge if not (sure and sure[i])]
            if bounded:
                upper = self._upper_many([prepare(units[i]) for i in bounded])
                # NaN (no bound) compares False, so it never skips; the margin keeps a bound equal
                # to the probability (all char n-grams) from rounding below it
                skip = (upper <= below - 1e-9).all(axis=1).tolist()
                skipped = {i for i, s in zip(bounded, skip) if s}
                judge = [i for i in judge if i not in skipped]
        if judge:
            out[judge] = self._calibrated(self._decisions([units[i] for i in judge]))
        return out

    def utterance_proba(self, text: str) -> np.ndarray:
        return self.sentence_probs(fold(text))[1].max(axis=0)
