"""The schema of lexicon pack files: pydantic models that validate what a pack says.

Each model has the name and the fields of the plain record in detector.lexicon that matching
uses (tests/test_lexicon.py checks they agree); the pack loader validates an item here and keeps
its fields there. Only reading a pack imports this module, and pydantic with it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .lexicon import Category


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9]*-[a-z0-9][a-z0-9-]*$")
    category: Category
    severity: int = Field(ge=1, le=3)
    suggestion: str | None = None
    source: Literal["seed", "jiyu"] | str = "jiyu"
    note: str = ""


class PhraseRule(_Rule):
    phrase: str = Field(min_length=1)
    variants: tuple[str, ...] = ()
    initials: tuple[str, ...] = ()
    pinyin: Literal["auto", True, False] = "auto"
    lookalikes: bool = True  # False: no look-alike (形近字) or split-character (拆字) forms of this rule
    unless_before: tuple[str, ...] = ()
    unless_after: tuple[str, ...] = ()
    window: int = Field(default=6, ge=1, le=40)

    @field_validator("initials")
    @classmethod
    def _initials_are_latin(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if not re.fullmatch(r"[a-z]{2,8}", s):
                raise ValueError(f"initials must be 2-8 lowercase letters, got {s!r}")
        return v

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.phrase, *self.variants)


class PatternRule(_Rule):
    anchor: str = Field(min_length=1)
    regex: str
    examples: tuple[str, ...] = Field(min_length=1)
    counterexamples: tuple[str, ...] = ()

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"regex does not compile: {e}") from None
        return v


class AllowPhrase(_Strict):
    phrase: str = Field(min_length=1)
    note: str = ""


class Spelling(_Strict):
    """An internet or dialect spelling folded to its standard form before matching (肿么 → 怎么)."""

    spelling: str = Field(min_length=2)
    standard: str = Field(min_length=1)
    note: str = Field(min_length=1)  # what it is and where the equivalence comes from


class PackMeta(_Strict):
    name: str
    description: str = ""
    disable: tuple[str, ...] = ()
