"""What a start computes once, kept on disk: the compiled lexicon, the tone model's tables, jieba's.

Entries live in the user's cache directory: JIYU_CACHE_DIR, else $XDG_CACHE_HOME/jiyu, else
~/.cache/jiyu (safe to delete). An entry is named by its kind and a key hashed from the CONTENT
that determines it — input bytes, the source of the code that builds it, the libraries it uses —
never from a path or an mtime, so a second virtualenv with the same inputs reuses it. Writing an
entry removes the least recently used entries of its kind beyond `keep`, so the directory stays
bounded however often the inputs change.

Entries are pickles, and unpickling runs code, so an entry is read only from a directory and a
file that belong to this user and that no one else can write: the directory is created 0700,
and one that is group- or world-writable (or someone else's) is not used at all. Each file
carries its length and a CRC-32 of its key and payload (a third of sha256's time: it is there to
catch a torn or damaged file, not a forger, who would need to write to our 0700 directory): such
a file is rebuilt, never trusted and never an error. Writes go to a temporary file renamed into place, so
a process starting at the same time sees a whole entry or none.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import stat
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any, TypeVar

log = logging.getLogger("jiyu.cache")
MAGIC = b"jiyu-cache-1\n"
_HEAD = struct.Struct("<QI")  # payload length, crc32 of key and payload
_HERE = Path(__file__).resolve().parent
T = TypeVar("T")


def cache_dir() -> Path:
    return Path(os.environ.get("JIYU_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jiyu")


def _private(st: os.stat_result) -> bool:
    """Owned by this user, writable by no one else (on systems without users: any)."""
    if not hasattr(os, "geteuid"):
        return True
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _usable_dir(create: bool) -> Path | None:
    root = cache_dir()
    try:
        if create and not root.is_dir():
            root.parent.mkdir(parents=True, exist_ok=True)
            root.mkdir(mode=0o700, exist_ok=True)
        if _private(root.stat()):
            return root
        log.warning("jiyu cache %s is writable by other users or not ours: not used", root)
    except OSError as e:
        log.debug("jiyu cache %s not usable: %s", root, e)
    return None


def digest(*parts: bytes | str) -> str:
    """A key: sha256 over the parts, each length-prefixed (no two part lists collide)."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()[:24]


@lru_cache(maxsize=1)
def code_version() -> str:
    """The source of every detector module and the interpreter's version: any code change (or a
    new Python) makes new entries rather than trusting ones an older build wrote."""
    parts = [sys.version, str(pickle.HIGHEST_PROTOCOL)]
    for path in sorted(_HERE.glob("*.py")):
        parts += [path.name, path.read_bytes()]
    return digest(*parts)


@lru_cache(maxsize=None)
def library_stamp(dist: str) -> str:
    """An installed library's name and version (a new version may read or build differently)."""
    return f"{dist} {_installed().get(_canonical(dist)) or _metadata_version(dist)}"


def _canonical(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").casefold()


@lru_cache(maxsize=1)
def _installed() -> dict[str, str]:
    """Distribution -> version from the NAME-VERSION.dist-info folders on sys.path: a directory
    listing, where importlib.metadata parses each package's METADATA file (2-3 ms apiece)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and name.count("-") == 1:
                dist, version = name[: -len(".dist-info")].split("-")
                found.setdefault(_canonical(dist), version)  # the first on sys.path is the one imported
    return found


def _metadata_version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def _path(kind: str, key: str) -> str:
    return f"{kind}-{key}.pkl"


class _Pickler(pickle.Pickler):
    """Paths that are one of `roots` or directly inside one are stored relative to it, so an entry
    keyed by content names the files where they are now (another checkout, another virtualenv)."""

    def __init__(self, file: io.BytesIO, roots: Sequence[Path]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._roots = {r: i for i, r in enumerate(roots)}

    def persistent_id(self, obj: Any) -> tuple | None:
        if not isinstance(obj, PurePath):
            return None
        if obj in self._roots:
            return ("root", self._roots[obj], "")
        if obj.parent in self._roots:
            return ("root", self._roots[obj.parent], obj.name)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, roots: Sequence[Path]) -> None:
        super().__init__(file)
        self._roots = list(roots)

    def persistent_load(self, pid: tuple) -> Path:
        _, i, name = pid
        return self._roots[i] / name if name else self._roots[i]


def load(kind: str, key: str, roots: Sequence[Path] = ()) -> Any | None:
    """The entry of `kind` for `key`, or None (absent, unreadable, torn, not ours). Paths saved
    relative to `roots` (see save) are rebuilt on these."""
    root = _usable_dir(create=False)
    if root is None:
        return None
    path = root / _path(kind, key)
    try:
        with open(path, "rb") as f:
            if not _private(os.fstat(f.fileno())):
                log.warning("jiyu cache entry %s is writable by other users: not used", path)
                return None
            data = f.read()
        head = len(MAGIC) + _HEAD.size
        if data[: len(MAGIC)] != MAGIC:
            raise ValueError("not a jiyu cache entry")
        size, crc = _HEAD.unpack_from(data, len(MAGIC))
        body = memoryview(data)[head:]
        if size != len(body) or zlib.crc32(body, zlib.crc32(key.encode())) != crc:
            raise ValueError("truncated or damaged")
        value = _Unpickler(io.BytesIO(body), roots).load() if roots else pickle.loads(body)
        os.utime(path)  # recently used: kept when other entries of its kind are removed
        return value
    except FileNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001 — a bad entry of any kind is rebuilt, never an error
        log.debug("jiyu cache entry %s not used: %r", path, e)
        return None


def save(kind: str, key: str, value: Any, keep: int = 2, roots: Sequence[Path] = ()) -> None:
    """Write the entry atomically, then remove this kind's least recently used beyond `keep`.
    Paths that are one of `roots` or directly inside one are saved relative to it."""
    root = _usable_dir(create=True)
    if root is None:
        return
    try:
        if roots:
            buf = io.BytesIO()
            _Pickler(buf, roots).dump(value)
            payload = buf.getvalue()
        else:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with tempfile.NamedTemporaryFile(dir=root, prefix=f".{kind}-", delete=False) as f:  # 0600
            f.write(MAGIC + _HEAD.pack(len(payload), zlib.crc32(payload, zlib.crc32(key.encode()))) + payload)
        os.replace(f.name, root / _path(kind, key))  # whole or absent: a reader never sees half
    except Exception as e:  # noqa: BLE001 — a cache that cannot be written only costs time
        log.debug("jiyu cache entry %s/%s not written: %r", kind, key, e)
        try:
            os.unlink(f.name)
        except (OSError, NameError):
            pass
        return
    _prune(root, kind, keep)


def _prune(root: Path, kind: str, keep: int) -> None:
    entries = []
    for p in root.glob(f".{kind}-*"):  # a temporary file a killed writer left behind
        try:
            if p.stat().st_mtime < time.time() - 3600:
                p.unlink()
        except OSError:
            continue
    for p in root.glob(_path(kind, "*")):
        try:
            entries.append((p.stat().st_mtime_ns, p))
        except OSError:
            continue
    for _, p in sorted(entries, reverse=True)[keep:]:
        try:
            p.unlink()
        except OSError:
            pass


def cached(kind: str, key: str, build: Callable[[], T], keep: int = 2) -> T:
    """The entry for `key`, else `build()`, saved for next time."""
    value = load(kind, key)
    if value is None:
        value = build()
        save(kind, key, value, keep)
    return value
