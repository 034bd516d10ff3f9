"""Lexicon packs: YAML files of phrase rules, context patterns and allowlisted phrases.

A `Lexicon` is the layered result of one or more packs (the bundled default first): a later
pack adds rules, replaces a rule with the same id, or disables earlier rules by id. Loading
never guesses: every schema problem becomes a `Problem` naming file and line, and
`Lexicon.load` raises `LexiconError` with all of them. See lexicons/README.md for the format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Literal


from .resources import bundled

CATEGORIES = ("disrespectful", "unfriendly", "impatient", "impolite")
CATEGORY_NAMES_ZH = {"disrespectful": "不尊重", "unfriendly": "不友好", "impatient": "不耐烦", "impolite": "不客气"}
DEFAULT_PACK = bundled("lexicons") / "default"

Category = Literal["disrespectful", "unfriendly", "impatient", "impolite"]


# The rules as matching reads them: plain frozen records. The pack files are validated by the
# pydantic models of the same names and fields in detector.lexicon_schema (imported only when a
# pack is read): a start whose compiled lexicon is cached never imports pydantic.
# tests/test_lexicon.py checks that both sides have the same fields and defaults.


@dataclass(frozen=True, slots=True, kw_only=True)
class _Record:
    def model_dump(self, exclude_defaults: bool = False) -> dict:
        """The fields as a dict (as pydantic's model_dump): without those at their default."""
        return {
            f.name: getattr(self, f.name) for f in fields(self)
            if not (exclude_defaults and f.default is not MISSING and getattr(self, f.name) == f.default)
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule(_Record):
    id: str
    category: Category
    severity: int
    suggestion: str | None = None
    source: str = "jiyu"
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PhraseRule(_Rule):
    phrase: str
    variants: tuple[str, ...] = ()
    initials: tuple[str, ...] = ()
    pinyin: Literal["auto", True, False] = "auto"
    lookalikes: bool = True  # False: no look-alike (形近字) or split-character (拆字) forms of this rule
    unless_before: tuple[str, ...] = ()
    unless_after: tuple[str, ...] = ()
    window: int = 6

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.phrase, *self.variants)


@dataclass(frozen=True, slots=True, kw_only=True)
class PatternRule(_Rule):
    anchor: str
    regex: str
    examples: tuple[str, ...]
    counterexamples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowPhrase(_Record):
    phrase: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Spelling(_Record):
    """An internet or dialect spelling folded to its standard form before matching (肿么 → 怎么)."""

    spelling: str
    standard: str
    note: str  # what it is and where the equivalence comes from


@dataclass(frozen=True, slots=True, kw_only=True)
class PackMeta(_Record):
    name: str
    description: str = ""
    disable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Where:
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Problem:
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class LexiconError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("invalid lexicon:\n" + "\n".join(f"  {p}" for p in problems))


@lru_cache(maxsize=1)
def _line_loader() -> type:
    """Safe YAML loader that records the line of every mapping under the key '__line__' (PyYAML
    is imported here: a start whose compiled lexicon is cached reads no YAML)."""
    import yaml

    class LineLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node, deep=False):  # noqa: ANN001
            mapping = super().construct_mapping(node, deep=deep)
            mapping["__line__"] = node.start_mark.line + 1
            return mapping

    return LineLoader


@dataclass(slots=True)
class Pack:
    root: Path
    meta: PackMeta
    rules: list[tuple[PhraseRule, Where]] = field(default_factory=list)
    patterns: list[tuple[PatternRule, Where]] = field(default_factory=list)
    allow: list[tuple[AllowPhrase, Where]] = field(default_factory=list)
    spellings: list[tuple[Spelling, Where]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


_SECTIONS = {"entries": PhraseRule, "patterns": PatternRule, "allow": AllowPhrase, "spellings": Spelling}


def _validation_problems(err, where: Where) -> list[Problem]:  # noqa: ANN001 — a pydantic ValidationError
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(Problem(where, f"{loc}: {msg}" if loc else msg))
    return out


def load_pack(root: Path) -> tuple[Pack, list[Problem]]:
    """Read one pack folder. Returns the pack (bad items left out) and every problem found."""
    root = Path(root)
    problems: list[Problem] = []
    if not root.is_dir():
        raise LexiconError([Problem(Where(root, 0), "lexicon pack folder not found")])
    files = pack_files(root)
    if not files:
        raise LexiconError([Problem(Where(root, 0), "no *.yaml files in lexicon pack")])
    pack = Pack(root=root, meta=PackMeta(name=root.name), files=files)
    import yaml
    from pydantic import ValidationError

    from . import lexicon_schema as schema

    for path in files:
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_line_loader())
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            mark = getattr(e, "problem_mark", None)
            problems.append(Problem(Where(path, mark.line + 1 if mark else 0), f"cannot parse: {e}"))
            continue
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(Where(path, 1), "top level must be a mapping"))
            continue
        line = doc.pop("__line__", 1)
        if path.name == "pack.yaml":
            try:
                pack.meta = PackMeta(**schema.PackMeta(**doc).__dict__)
            except ValidationError as e:
                problems += _validation_problems(e, Where(path, line))
            continue
        for key in doc:
            if key not in _SECTIONS:
                problems.append(Problem(Where(path, line), f"unknown section {key!r} (expected one of {', '.join(_SECTIONS)})"))
        for key, model in _SECTIONS.items():
            items = doc.get(key) or []
            if not isinstance(items, list):
                problems.append(Problem(Where(path, line), f"{key} must be a list"))
                continue
            target = {"entries": pack.rules, "patterns": pack.patterns, "allow": pack.allow, "spellings": pack.spellings}[key]
            for item in items:
                if not isinstance(item, dict):
                    problems.append(Problem(Where(path, line), f"{key}: each item must be a mapping"))
                    continue
                where = Where(path, item.pop("__line__", line))
                try:
                    target.append((model(**getattr(schema, model.__name__)(**item).__dict__), where))
                except ValidationError as e:
                    problems += _validation_problems(e, where)
    return pack, problems


def pack_roots(extra: Iterable[str | Path], include_default: bool = True) -> list[Path]:
    """The pack folders in layering order: the bundled default first, unless left out."""
    return ([DEFAULT_PACK] if include_default else []) + [Path(p) for p in extra]


@dataclass(slots=True)
class Lexicon:
    """The rules in force after layering packs, each with where it was defined."""

    packs: list[Pack]
    rules: dict[str, tuple[PhraseRule, Where]]
    patterns: dict[str, tuple[PatternRule, Where]]
    allow: list[tuple[AllowPhrase, Where]]
    version: str
    problems: list[Problem]
    spellings: dict[str, tuple[Spelling, Where]] = field(default_factory=dict)  # by spelling; a later pack replaces

    @classmethod
    def load(cls, extra: list[str | Path] | tuple = (), *, include_default: bool = True, strict: bool = True) -> Lexicon:
        roots = pack_roots(extra, include_default)
        packs, problems = [], []
        rules: dict[str, tuple[PhraseRule, Where]] = {}
        patterns: dict[str, tuple[PatternRule, Where]] = {}
        allow: list[tuple[AllowPhrase, Where]] = []
        spellings: dict[str, tuple[Spelling, Where]] = {}
        for root in roots:
            pack, found = load_pack(root)
            packs.append(pack)
            problems += found
            seen: dict[str, Where] = {}
            for rule, where in [*pack.rules, *pack.patterns]:
                if rule.id in seen:
                    problems.append(Problem(where, f"duplicate id {rule.id!r} (first defined at {seen[rule.id]})"))
                    continue
                seen[rule.id] = where
                rules.pop(rule.id, None)
                patterns.pop(rule.id, None)
                (patterns if isinstance(rule, PatternRule) else rules)[rule.id] = (rule, where)
            for rule_id in pack.meta.disable:
                if rules.pop(rule_id, None) is None and patterns.pop(rule_id, None) is None:
                    problems.append(Problem(Where(pack.root / "pack.yaml", 1), f"disable: no earlier rule has id {rule_id!r}"))
            allow += pack.allow
            mine: dict[str, Where] = {}
            for entry, where in pack.spellings:
                if entry.spelling in mine:
                    problems.append(Problem(where, f"spelling {entry.spelling!r} listed twice (first at {mine[entry.spelling]})"))
                    continue
                mine[entry.spelling] = where
                spellings[entry.spelling] = (entry, where)
        if strict and problems:
            raise LexiconError(problems)
        return cls(packs, rules, patterns, allow, _version(packs), problems, spellings)

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in CATEGORIES}
        for rule, _ in [*self.rules.values(), *self.patterns.values()]:
            out[rule.category] += 1
        return out


def _version(packs: list[Pack]) -> str:
    return content_version((path.name, path.read_bytes()) for pack in packs for path in pack.files)


def content_version(files: Iterable[tuple[str, bytes]]) -> str:
    """Content hash of every file (name, bytes) of every pack, in layering order."""
    h = hashlib.sha256()
    for name, data in files:
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:12]


def pack_files(root: Path) -> list[Path]:
    """The files of a pack folder, in the order they are read."""
    return sorted(Path(root).glob("*.yaml"))
