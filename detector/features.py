"""Feature strings for the tone classifier: one function used by training AND inference.

Text is folded by the same normaliser as the lexicon path (繁→简, 全角→半角, noise skipped),
then described by jieba words, word bigrams and character 1–3-grams. Because training hands
this very function to scikit-learn as the analyzer, inference cannot drift from it.

jieba runs a private `jieba.Tokenizer` (not the global one, so other code using jieba is not
affected), initialised once and silently, with HMM off (dictionary words only: deterministic);
its dictionary route is walked by detector.segment, which gives jieba's tokens faster. Words passed in `user_words` (the lexicon's phrases, frozen into the
model at training time) stay whole.
"""

from __future__ import annotations

import re
import threading

from .normalise import fold
from .segment import FastCut, tokenizer

_lock = threading.Lock()
CHAR_NGRAMS = (1, 2, 3)


class Featurizer:
    def __init__(self, user_words: list[str]):
        self.user_words = sorted(set(w for w in user_words if len(w) >= 2))
        self._jieba = None

    def _tokenizer(self):  # noqa: ANN202
        if self._jieba is None:
            with _lock:
                if self._jieba is None:
                    tok = tokenizer(self.user_words)
                    self._cut = FastCut(tok).cut
                    self._jieba = tok
        return self._jieba

    def words(self, folded: str) -> list[str]:
        if self._jieba is None:
            self._tokenizer()
        return [w for w in self._cut(folded) if w.strip()]

    def __call__(self, text: str) -> list[str]:
        return self.from_folded(fold(text))

    def from_folded(self, folded: str) -> list[str]:
        """Features of text already folded by detector.normalise (saves a second fold)."""
        folded = prepare(folded)
        words = self.words(folded)
        feats = [WORD + w for w in words]
        feats += [BIGRAM + a + "|" + b for a, b in zip(words, words[1:])]
        n = len(folded)
        feats += [CHAR + folded[i : i + k] for k in CHAR_NGRAMS for i in range(n - k + 1)]
        return feats


# Anonymised chat logs write [订单x], [数字x], #E-s[数字x] (folded: 订单x, 数字x, es数字x); order
# numbers, prices and phone numbers are digit runs. Each becomes one typed token, so that no
# particular number or placeholder can become evidence of tone. Private-use characters: folding
# drops them from real text, so the tokens cannot collide with anything a user wrote.
PLACEHOLDER, NUMBER = "\ue000", "\ue001"
_PLACEHOLDERS = re.compile(
    # any two characters before the x ([订单x], [数字x], [姓名x] …), three for the three-character kinds
    r"[a-z]{0,3}(?:身份证|手机号|银行卡|[\u4e00-\u9fff]{2})x(?![a-z0-9])"
)
_DIGITS = re.compile(r"[0-9]+")


def prepare(folded: str) -> str:
    """Folded text as the features see it.

    您 and 你 are one feature: agents say 你 politely all the time, and a corpus where rude
    lines say 你 more often would otherwise teach the model that the pronoun is the insult.
    Placeholders and numbers become typed tokens (above).
    """
    folded = folded.replace("您", "你")
    if "x" in folded:
        folded = _PLACEHOLDERS.sub(PLACEHOLDER, folded)
    return _DIGITS.sub(NUMBER, folded)


# Feature name prefixes: jieba word, word bigram ("a|b"), character n-gram.
WORD, BIGRAM, CHAR = "w:", "b:", "c:"


def passthrough(features: list[str]) -> list[str]:
    """The analyzer handed to scikit-learn: features are computed once, by `Featurizer`."""
    return features
