"""jiyu (忌语): finds forbidden service language in Chinese customer-service speech and text.

    from detector import Detector
    d = Detector()
    d.check("有完没完啊你")       # Verdict(decision, score, labels, evidence)
"""

from importlib import import_module

__all__ = ["CATEGORIES", "CallReport", "Detector", "Evidence", "Lexicon", "LexiconError", "TurnViolation", "Verdict"]
__version__ = "0.1.0"

# Imported on first use (PEP 562): `jiyu --help` and the CLI's signal handlers need none of it.
_HOME = {"Detector": "detector", "CATEGORIES": "lexicon", "Lexicon": "lexicon", "LexiconError": "lexicon",
         "CallReport": "verdict", "Evidence": "verdict", "TurnViolation": "verdict", "Verdict": "verdict"}


def __getattr__(name: str):  # noqa: ANN202
    if name in _HOME:
        value = getattr(import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
