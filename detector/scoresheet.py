"""QA score sheets: the points a call loses for its agent's violations (YAML, see scoresheets/)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .lexicon import Category
from .verdict import Verdict

DEFAULT_SHEET = Path(__file__).resolve().parent / "scoresheets" / "default.yaml"


class ScoreSheetError(ValueError):
    pass


class ScoreSheet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "custom"
    start: float = Field(100, ge=0)
    pass_mark: float = Field(80, ge=0)
    cap_per_call: float = Field(100, ge=0)
    review_deduction: float = Field(0, ge=0)
    deductions: dict[Category, dict[int, float]]
    fatal: tuple[Category, ...] = ()
    fatal_severity: int = Field(3, ge=1, le=3)

    @classmethod
    def load(cls, path: str | Path | None = None) -> ScoreSheet:
        path = Path(path or DEFAULT_SHEET)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls.model_validate(data)
        except (OSError, yaml.YAMLError) as e:
            raise ScoreSheetError(f"{path}: cannot read score sheet: {e}") from None
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise ScoreSheetError(f"{path}: {loc}: {first['msg']}") from None

    def turn_deduction(self, verdict: Verdict) -> float:
        """Points one judged turn costs: its most expensive category at that category's top severity."""
        if verdict.decision == "review":
            return self.review_deduction
        if verdict.decision != "violation":
            return 0.0
        worst: dict[str, int] = {}
        for e in verdict.evidence:
            worst[e.category] = max(worst.get(e.category, 0), e.severity)
        return max((self.deductions.get(c, {}).get(s, 0.0) for c, s in worst.items()), default=0.0)

    def is_fatal(self, verdict: Verdict) -> bool:
        return verdict.decision == "violation" and any(
            e.category in self.fatal and e.severity >= self.fatal_severity for e in verdict.evidence
        )
