"""`jiyu train`: fit the tone classifier on the corpus's train split, deterministically.

Recipe (profanity-check's, per category): TF-IDF over detector.features (jieba words, word
bigrams, character 1–3-grams of the folded text) → LinearSVC with balanced class weights →
sigmoid calibration fitted on 5-fold cross-validated decisions (one final model, not an
ensemble, so it exports to plain arrays). Thresholds per mode and category are chosen on the
dev split by the rules in THRESHOLD_RULES; the test split is only ever scored.

scikit-learn is imported here and in evaluation only; inference (detector.tone) never needs it.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np

from . import corpus, realtext
from .extra import EvalGuard, Extra, load_extra
from .features import Featurizer, passthrough
from .lexicon import CATEGORIES, Lexicon
from .matcher import phrase_key
from .normalise import fold
from .tone import FORMAT, MODEL_DIR, ModelError, ToneModel, is_short, sha256, verify

C = 2.0
SEED = 0
# Per category, the lowest threshold on a 0.01 grid that meets every constraint on the dev split.
#   precision: of the dev lines the category flags, the share that carry the category;
#   none_fp:   share of dev `none` lines (not hard negatives) the category flags;
#   hard_fp:   share of dev hard negatives the category flags.
THRESHOLD_RULES = {
    "realtime": {"violation": {"precision": 0.95, "none_fp": 0.001, "hard_fp": 0.005, "real_fp": 0.2},
                 "review": {"precision": 0.85, "none_fp": 0.002, "hard_fp": 0.01, "real_fp": 0.4}},
    "qa": {"violation": {"precision": 0.90, "none_fp": 0.002, "hard_fp": 0.01, "real_fp": 0.5},
           "review": {"precision": 0.60, "none_fp": 0.0025, "hard_fp": 0.015, "real_fp": 1.0}},
}
#   real_fp:   a multiple of REAL_BUDGET: per real corpus, the share of its dev lines (those not
#              judged rude) the category may flag. Real traffic is overwhelmingly clean (a few
#              percent rude at most), so these budgets, not the balanced dev split, are what keep a
#              review queue worth reading: at a 3% base rate and 80% recall, 0.3% flagged per
#              category is ~90% precision. The chat and TV corpora are not agent speech and hold
#              some coarse lines nobody judged, hence their larger budgets.
REAL_BUDGET = {"crosswoz_user": 0.003, "multiwoz_zh": 0.003, "kdconv": 0.003, "cped": 0.008, "tencent_chat": 0.008}
REAL_STYLE = "real"  # the `style` of real lines turned into corpus.Example


# What `load_fitted` lets skops rebuild: scikit-learn's own estimators plus our analyzer.
SKOPS_TRUSTED = [
    "detector.features.passthrough",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
]


def load_fitted(model_dir: Path = MODEL_DIR) -> dict:
    """The fitted scikit-learn objects (vectorizer, one calibrated classifier per category).

    Only for evaluation and inspection; inference never needs them. The scikit-learn version
    must be the one that fitted them: anything else is refused with the way out.
    """
    import sklearn
    import skops.io as sio

    model = ToneModel.load(model_dir)
    manifest = model.manifest
    verify(Path(model_dir), manifest, ("tone.skops",))
    if manifest["sklearn_version"] != sklearn.__version__:
        raise ModelError(
            f"{model_dir}/tone.skops was fitted with scikit-learn {manifest['sklearn_version']}, this is {sklearn.__version__}:"
            f" install scikit-learn=={manifest['sklearn_version']} or rebuild with `jiyu train`"
        )
    return sio.load(model_dir / "tone.skops", trusted=SKOPS_TRUSTED)


def user_words(lex: Lexicon | None = None) -> list[str]:
    """The default lexicon's phrases, folded: jieba keeps them whole. Frozen into the model."""
    lex = lex or Lexicon.load()
    return sorted({phrase_key(f) for r, _ in lex.rules.values() for f in r.forms} - {""})


# Whatever the dev split allows, a calibrated probability below these never reviews or blocks:
# the dev split is small and in-domain, and real traffic is neither.
THRESHOLD_FLOORS = {"qa": {"review": 0.25, "violation": 0.6}, "realtime": {"review": 0.5, "violation": 0.8}}


def _lowest_threshold(p: np.ndarray, y: np.ndarray, none: np.ndarray, hard: np.ndarray, real: dict, rule: dict,
                      short: np.ndarray | None = None, short_bar: float = 1.0) -> float:
    """`real`: corpus -> mask of its dev lines that are negatives (judged rude ones are not).
    `short` lines are flagged only at `short_bar` (the violation threshold), whatever t is."""
    # at least one line: a budget under one line on a small corpus would forbid any flag at all
    budgets = {c: max(rule["real_fp"] * REAL_BUDGET[c] * m.sum(), 1) for c, m in real.items()}
    for t in np.round(np.arange(0.05, 1.0, 0.01), 2):
        flagged = p >= t if short is None else np.where(short, p >= max(t, short_bar), p >= t)
        if not flagged.any():
            return float(t)
        precision = (flagged & y).sum() / flagged.sum()
        if (
            precision >= rule["precision"]
            and (flagged & none).sum() <= rule["none_fp"] * max(none.sum(), 1)
            and (flagged & hard).sum() <= rule["hard_fp"] * max(hard.sum(), 1)
            and all((flagged & m).sum() <= budgets[c] for c, m in real.items())
        ):
            return float(t)
    return 0.99


def choose_thresholds(probs: np.ndarray, rows: list[corpus.Example]) -> dict:
    """Per mode, level and category, from the dev parts: the tone corpus's dev split (precision,
    none and hard negatives) and the real corpora's dev parts (their budgets)."""
    tone = np.array([r.style != REAL_STYLE for r in rows])
    none = tone & np.array([not r.labels and not r.hard_negative for r in rows])
    hard = tone & np.array([not r.labels and r.hard_negative for r in rows])
    real = {c: np.array([r.style == REAL_STYLE and r.source == c and not r.labels for r in rows]) for c in realtext.CORPORA}
    real = {c: m for c, m in real.items() if m.any()}
    short = np.array([is_short(fold(r.text)) for r in rows])
    out: dict = {}
    for mode, levels in THRESHOLD_RULES.items():
        out[mode] = {}
        for k, cat in enumerate(CATEGORIES):
            y = np.array([cat in r.labels for r in rows])
            # violation first: short lines are held to it at the review level too (tone.is_short)
            v = max(_lowest_threshold(probs[:, k], y, none, hard, real, levels["violation"]), THRESHOLD_FLOORS[mode]["violation"])
            r = max(_lowest_threshold(probs[:, k], y, none, hard, real, levels["review"], short, v), THRESHOLD_FLOORS[mode]["review"])
            out[mode][cat] = {"violation": v, "review": min(r, v)}
    return out


def real_examples(part: str, corpora: tuple[str, ...]) -> list[corpus.Example]:
    """Lines of the real corpora as training examples: negatives, unless judged rude when mined."""
    return [
        corpus.Example(x.id, x.text, x.labels, "-", REAL_STYLE, x.mined and not x.labels, "real", x.corpus, x.corpus, 0)
        for x in realtext.load(part, corpora)
    ]


def train(model_dir: Path = MODEL_DIR, corpus_dir: Path = corpus.CORPUS_DIR, log=print,  # noqa: ANN001
          real_corpora: tuple[str, ...] = tuple(realtext.CORPORA), c: float = C, extra: tuple[Path, ...] = ()) -> dict:
    """Fit on the tone corpus's train split plus the train parts of `real_corpora` (all by default;
    fewer for the leave-one-corpus-out check) plus the `extra` files' lines (detector.extra: never
    a copy of an evaluation line); thresholds from both dev parts."""
    import sklearn
    import skops.io as sio
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    started = time.perf_counter()
    rows = corpus.load(corpus_dir)
    groups = corpus.near_duplicate_groups(rows)
    splits = corpus.assign_splits(rows, corpus_dir, groups)
    if splits != corpus.read_splits(corpus_dir):
        log(f"wrote {corpus.write_splits(splits, corpus_dir)} ({len(splits)} ids)")
    leaks = corpus.leaks(rows, splits, groups)
    if leaks:
        raise corpus.CorpusError(f"near-duplicate groups span splits: {leaks[:5]}")
    part = {s: [r for r in rows if splits[r.id] == s] for s in corpus.SPLITS}
    log("corpus: " + ", ".join(f"{s} {len(v)}" for s, v in part.items()))
    real = {p: real_examples(p, real_corpora) for p in ("train", "dev")}
    log(f"real corpora {', '.join(real_corpora) or '(none)'}: train {len(real['train'])}, dev {len(real['dev'])}")
    fit_rows = part["train"] + real["train"]
    added = Extra()
    if extra:
        added = load_extra(list(extra), EvalGuard(part["dev"] + part["test"], splits, real_corpora), set(splits))
        for message in added.refused:
            log(message)
        log(f"extra: {len(added.rows)} lines for training, {len(added.refused)} refused")
        fit_rows += added.rows

    lexicon = Lexicon.load()
    words = user_words(lexicon)
    featurize = Featurizer(words)
    train_feats = [featurize(r.text) for r in fit_rows]
    vec = TfidfVectorizer(analyzer=passthrough, sublinear_tf=True, min_df=2, dtype=np.float64)
    X = vec.fit_transform(train_feats)
    log(f"features: {X.shape[1]} from {X.shape[0]} training lines")

    models, coef, intercept, cal_a, cal_b = {}, [], [], [], []
    for cat in CATEGORIES:
        y = np.array([cat in r.labels for r in fit_rows])
        clf = CalibratedClassifierCV(
            LinearSVC(C=c, class_weight="balanced", random_state=SEED),
            method="sigmoid",
            cv=StratifiedKFold(5, shuffle=True, random_state=SEED),
            ensemble=False,
        ).fit(X, y)
        inner = clf.calibrated_classifiers_[0]
        models[cat] = clf
        coef.append(inner.estimator.coef_.ravel())
        intercept.append(float(inner.estimator.intercept_[0]))
        cal_a.append(float(inner.calibrators[0].a_))
        cal_b.append(float(inner.calibrators[0].b_))

    model_dir.mkdir(parents=True, exist_ok=True)
    vocab = [None] * len(vec.vocabulary_)
    for f, i in vec.vocabulary_.items():
        vocab[i] = f
    (model_dir / "tone-vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    np.savez_compressed(
        model_dir / "tone.npz",
        idf=vec.idf_.astype(np.float32),
        coef=np.stack(coef, axis=1).astype(np.float32),
        intercept=np.array(intercept, dtype=np.float32),
        cal_a=np.array(cal_a, dtype=np.float32),
        cal_b=np.array(cal_b, dtype=np.float32),
    )
    sio.dump({"vectorizer": vec, "classifiers": models}, model_dir / "tone.skops", compression=zipfile.ZIP_DEFLATED)
    files = {name: sha256(model_dir / name) for name in ("tone.npz", "tone-vocab.json", "tone.skops")}
    manifest = {
        "format": FORMAT,
        "model_version": files["tone.npz"][:12],
        "categories": list(CATEGORIES),
        "files": files,
        "sklearn_version": sklearn.__version__,
        "training_data_sha256": corpus.data_hash(corpus_dir),
        "real_corpora": list(real_corpora),
        "real_data_sha256": realtext.data_hash(),
        "lexicon_version_for_user_words": lexicon.version,
        "user_words": words,
        "recipe": {"features": "detector.features.Featurizer", "tfidf": {"sublinear_tf": True, "min_df": 2},
                   "svm": {"C": c, "class_weight": "balanced"}, "calibration": "sigmoid, 5-fold, ensemble=False"},
        "extra": added.files,
        "counts": {**{s: len(v) for s, v in part.items()}, **{f"real_{p}": len(v) for p, v in real.items()},
                   "extra": len(added.rows)},
        "thresholds": {},
    }
    (model_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")

    # Thresholds from the dev split, scored through the inference path itself.
    model = ToneModel.load(model_dir)
    dev = part["dev"] + real["dev"]
    dev_probs = np.array([model.utterance_proba(r.text) for r in dev])
    manifest["thresholds"] = choose_thresholds(dev_probs, dev)
    manifest["training_seconds"] = round(time.perf_counter() - started, 1)
    (model_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"model {manifest['model_version']} written to {model_dir} in {manifest['training_seconds']} s")
    log("thresholds (dev): " + json.dumps(manifest["thresholds"]))
    return manifest
