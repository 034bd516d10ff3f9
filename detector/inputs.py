"""Readers for `jiyu scan`: every input format becomes a stream of records or bad-record reports.

A reader never stops at a bad record: it yields a `BadRecord` naming the file, line and what is
wrong, and goes on. Lines are decoded one at a time so undecodable bytes cost one line only.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_BAD_BYTES = re.compile("[\udc80-\udcff]")


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

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.error}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "error": self.error}


def _lines(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """(line number, decoded line or None, error) for each line; a UTF-8 BOM is dropped."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield n, raw.decode("utf-8").rstrip("\r\n"), ""
            except UnicodeDecodeError as e:
                yield n, None, f"not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r})"


def read_text(path: Path) -> Iterator[Record | BadRecord]:
    for n, line, err in _lines(path):
        if line is None:
            yield BadRecord(str(path), n, err)
        else:
            yield Record(str(path), n, n, line, {})


@dataclass(frozen=True, slots=True)
class RawLine:
    """A line not parsed yet: `jiyu scan --workers` parses JSON lines in the workers."""

    file: str
    line: int
    text: str | None  # None: the bytes did not decode
    error: str


def raw_lines(path: Path) -> Iterator[RawLine]:
    for n, line, err in _lines(path):
        if line is None or line.strip():
            yield RawLine(str(path), n, line, err)


def _json_object(raw: RawLine) -> dict | BadRecord:
    if raw.text is None:
        return BadRecord(raw.file, raw.line, raw.error)
    try:
        obj = orjson.loads(raw.text)
    except orjson.JSONDecodeError:  # orjson is strict (NaN, huge integers): the json module decides
        try:
            obj = json.loads(raw.text)
        except json.JSONDecodeError as e:
            return BadRecord(raw.file, raw.line, f"invalid JSON: {e.msg} (column {e.colno})")
    if not isinstance(obj, dict):
        return BadRecord(raw.file, raw.line, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def jsonl_record(raw: RawLine, text_field: str = "text", id_field: str = "id") -> Record | BadRecord:
    obj = _json_object(raw)
    if isinstance(obj, BadRecord):
        return obj
    if text_field not in obj:
        return BadRecord(raw.file, raw.line, f"missing field {text_field!r}")
    if not isinstance(obj[text_field], str):
        return BadRecord(raw.file, raw.line, f"field {text_field!r} must be a string, got {type(obj[text_field]).__name__}")
    return Record(raw.file, raw.line, obj.get(id_field, raw.line), obj[text_field], obj)


def conversation_record(raw: RawLine) -> Record | BadRecord:
    obj = _json_object(raw)
    if isinstance(obj, BadRecord):
        return obj
    return Record(raw.file, raw.line, obj.get("conversation_id", raw.line), None, obj)


def read_csv(path: Path, text_column: str = "text", id_column: str = "id") -> Iterator[Record | BadRecord]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # surrogateescape keeps undecodable bytes visible per row instead of failing the whole file
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
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
                yield BadRecord(str(path), start, "not valid UTF-8")
                continue
            if header is None:
                header = row
                if text_column not in header:
                    yield BadRecord(str(path), start, f"no column {text_column!r} in header {header}")
                    return
                continue
            if len(row) != len(header):
                yield BadRecord(str(path), start, f"{len(row)} fields, header has {len(header)}")
                continue
            data = dict(zip(header, row))
            yield Record(str(path), start, data.get(id_column, start), data[text_column], data)


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
