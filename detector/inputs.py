"""Readers for `jiyu scan`: every input format becomes a stream of records or bad-record reports.

A reader never stops at a bad record: it yields a `BadRecord` naming the file, line and what is
wrong, and goes on. Lines are decoded one at a time so undecodable bytes cost one line only.
A file that cannot be read at all (an unknown encoding, bytes that are not text in it, a CSV
without the text column) raises `InputError`: `jiyu scan` stops with exit 2 rather than score
nothing and call it a pass.

Encodings: UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's "Unicode text"), else
GB18030 (a superset of GBK and GB2312: what Excel on Chinese Windows saves), or `--encoding`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsonout

_BAD_BYTES = re.compile("[\udc80-\udcff]")
SAMPLE = 1 << 16  # bytes read to detect an encoding


class InputError(Exception):
    """A whole input file cannot be read; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class Record:
    file: str
    line: int
    id: Any
    text: str | None  # None for conversations
    data: dict  # the whole input object (conversations: the conversation)


@dataclass(frozen=True, slots=True)
class BadRecord:
    file: str
    line: int
    error: str
    id: Any = None  # the record's own id, where it has one
    kind: str = ""  # "decode": bytes not in the encoding; "no_agent": a call with no agent identified; "turn"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.error}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, **({"id": self.id} if self.id is not None else {}), "error": self.error,
                **({"kind": self.kind} if self.kind else {})}


def type_name(value: Any) -> str:
    """What a JSON value is, in the words of the file's author rather than Python's."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


STDIN = "-"


class _Stdin:
    """Standard input as a file of lines that can be peeked at (format and encoding detection)
    and then read from the start, streamed: `tail -f replies.jsonl | jiyu scan -` works."""

    def __init__(self) -> None:
        self.peeked: list[bytes] = []

    def head(self, lines: int = 50) -> list[bytes]:
        while len(self.peeked) < lines and (line := sys.stdin.buffer.readline()):
            self.peeked.append(line)
        return self.peeked

    def __iter__(self) -> Iterator[bytes]:
        while self.peeked:
            yield self.peeked.pop(0)
        yield from sys.stdin.buffer

    def read(self) -> bytes:
        return b"".join(self)

    def __enter__(self) -> _Stdin:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


_STDIN = _Stdin()


def open_binary(path: Path | str):  # noqa: ANN201
    """The file, or standard input for `-`, opened for reading bytes."""
    return _STDIN if str(path) == STDIN else open(path, "rb")


def head_bytes(path: Path | str) -> bytes:
    """The start of the input (up to SAMPLE bytes), without consuming standard input."""
    if str(path) == STDIN:
        return b"".join(_STDIN.head())[:SAMPLE]
    with open(path, "rb") as f:
        return f.read(SAMPLE)


def head_lines(path: Path | str, encoding: str = "auto", lines: int = 50) -> list[str]:
    """The first lines of the input, decoded (bad bytes replaced), without consuming standard input."""
    enc = detect_encoding(path, encoding)
    text = head_bytes(path).decode("utf-8-sig" if enc == "utf-8" else enc, errors="replace").lstrip("\ufeff")
    return text.splitlines()[:lines]


def detect_encoding(path: Path, encoding: str = "auto") -> str:
    """The codec to read `path` with: `encoding` if given (checked), else detected from its start."""
    if encoding != "auto":
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"--encoding {encoding!r}: not an encoding Python knows (try utf-8, gb18030, utf-16)") from None
    head = head_bytes(path)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - (1 if len(head) == SAMPLE and text.endswith("\ufffd") else 0)  # a character cut by the window
    wide = sum(ord(c) > 127 for c in text) - bad
    # GBK read as UTF-8 fails on nearly every character and decodes almost none; a UTF-8 file
    # with a few stray bad bytes stays UTF-8 (those lines are reported as bad records)
    return "utf-8" if bad == 0 or wide > 2 * bad else "gb18030"


def check_text(path: Path, encoding: str = "auto") -> str:
    """The encoding, after checking the file's start is text in it (no NUL characters: a binary
    file, or UTF-16 without a BOM); InputError if not. Bad bytes further on are bad records."""
    enc = detect_encoding(path, encoding)
    if "\x00" in head_bytes(path).decode(enc, errors="replace"):
        raise InputError(f"{path}: holds NUL characters: not a text file in {enc} (a binary file, or give --encoding,"
                         " e.g. utf-16-le)")
    return enc


def _lines(path: Path, encoding: str = "auto") -> Iterator[tuple[int, str | None, str]]:
    """(line number, decoded line or None, error) for each line; a BOM is dropped."""
    enc = detect_encoding(path, encoding)
    if enc.startswith(("utf-16", "utf-32")):  # the newline byte is not a line end here: decode whole
        with open_binary(path) as f:
            text = f.read().decode(enc).lstrip("\ufeff")
        for n, line in enumerate(text.splitlines(), 1):
            yield n, line, ""
        return
    with open_binary(path) as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield n, raw.decode("utf-8" if enc == "utf-8-sig" else enc).rstrip("\r\n"), ""
            except UnicodeDecodeError as e:
                yield n, None, f"cannot decode as {enc} (byte {e.start}: {raw[e.start:e.start + 1]!r})"


def read_text(path: Path, encoding: str = "auto") -> Iterator[Record | BadRecord]:
    for n, line, err in _lines(path, encoding):
        if line is None:
            yield BadRecord(str(path), n, err, kind="decode")
        else:
            yield Record(str(path), n, n, line, {})


@dataclass(frozen=True, slots=True)
class RawLine:
    """A line not parsed yet: `jiyu scan --workers` parses JSON lines in the workers."""

    file: str
    line: int
    text: str | None  # None: the bytes did not decode
    error: str


def raw_lines(path: Path, encoding: str = "auto") -> Iterator[RawLine]:
    for n, line, err in _lines(path, encoding):
        if line is None or line.strip():
            yield RawLine(str(path), n, line, err)


def json_object(raw: RawLine) -> dict | BadRecord:
    if raw.text is None:
        return BadRecord(raw.file, raw.line, raw.error, kind="decode")
    try:
        obj = jsonout.loads(raw.text)
    except json.JSONDecodeError as e:
        return BadRecord(raw.file, raw.line, f"invalid JSON: {e.msg} (column {e.colno})")
    if not isinstance(obj, dict):
        return BadRecord(raw.file, raw.line, f"expected a JSON object, got {type_name(obj)}")
    return obj


def jsonl_record(raw: RawLine, text_field: str = "text", id_field: str = "id") -> Record | BadRecord:
    obj = json_object(raw)
    if isinstance(obj, BadRecord):
        return obj
    return text_record(obj, raw.file, raw.line, text_field, id_field)


def text_record(obj: dict, file: str, line: int, text_field: str = "text", id_field: str = "id") -> Record | BadRecord:
    """An utterance from a parsed object (a JSON line, a Spark row): its text must be a string."""
    rid = obj.get(id_field)
    if text_field not in obj:
        return BadRecord(file, line, f"field {text_field!r} is missing", rid)
    if not isinstance(obj[text_field], str):
        return BadRecord(file, line, f"field {text_field!r} must be a string, got {type_name(obj[text_field])}", rid)
    return Record(file, line, obj.get(id_field, line), obj[text_field], obj)


def conversation_record(raw: RawLine) -> Record | BadRecord:
    obj = json_object(raw)
    if isinstance(obj, BadRecord):
        return obj
    return Record(raw.file, raw.line, obj.get("conversation_id", raw.line), None, obj)


def read_csv(path: Path, text_column: str = "text", id_column: str = "id", encoding: str = "auto") -> Iterator[Record | BadRecord]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    enc = detect_encoding(path, encoding)
    # surrogateescape keeps undecodable bytes visible per row instead of failing the whole file
    with open_binary(path) as raw:
        f = (line.decode("utf-8-sig" if enc == "utf-8" else enc, errors="surrogateescape") for line in raw) \
            if not enc.startswith(("utf-16", "utf-32")) else iter(raw.read().decode(enc).lstrip("\ufeff").splitlines(keepends=True))
        reader = csv.reader(f, delimiter=delimiter)
        header: list[str] | None = None
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield BadRecord(str(path), start, f"invalid CSV: {e}")
                continue
            if not row:
                continue
            if any(_BAD_BYTES.search(v) for v in row):
                yield BadRecord(str(path), start, f"cannot decode as {enc}", kind="decode")
                continue
            if header is None:
                header = row
                if text_column not in header:
                    raise InputError(f"{path}:{start}: no column {text_column!r}; the header has {', '.join(header)}."
                                     " Name the text column with --text-column")
                continue
            if len(row) != len(header):
                yield BadRecord(str(path), start, f"{len(row)} fields, header has {len(header)}")
                continue
            data = dict(zip(header, row))
            yield Record(str(path), start, data.get(id_column, start), data[text_column], data)


def csv_header(path: Path, encoding: str = "auto") -> list[str]:
    """The first row of a CSV/TSV file (for format detection and checks)."""
    enc = detect_encoding(path, encoding)
    text = head_bytes(path).decode("utf-8-sig" if enc == "utf-8" else enc, errors="replace")
    return next(csv.reader(io.StringIO(text, newline=""), delimiter="\t" if Path(path).suffix.lower() == ".tsv" else ","), [])


def count_lines(path: Path) -> int | None:
    if str(path) == STDIN:
        return None
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
