"""jiyu (忌语): finds forbidden service language in Chinese customer-service speech and text.

    from detector import Detector
    d = Detector()
    d.check("有完没完啊你")       # Verdict(decision, score, labels, evidence)
"""

from .detector import Detector
from .lexicon import CATEGORIES, Lexicon, LexiconError
from .verdict import CallReport, Evidence, TurnViolation, Verdict

__all__ = ["CATEGORIES", "CallReport", "Detector", "Evidence", "Lexicon", "LexiconError", "TurnViolation", "Verdict"]
__version__ = "0.1.0"
