"""Call transcripts in the formats QA teams have, turned into conversation dicts.

Every reader yields `Record` (data = a conversation: conversation_id, turns[speaker, start, end,
text], plus any other fields) or `BadRecord` naming the file, line and problem. Supported:

- `turns-csv`: CSV/TSV, one turn per row: conversation_id, order, speaker, start, end, text
  (`columns=` maps other header names; rows of one conversation must be contiguous);
- `srt`, `vtt`: subtitles, one file = one conversation (id = file name); the speaker comes from
  `<v Name>` (WebVTT) or a `坐席：` / `客户:` / `Agent:` prefix;
- `asr-json`: Whisper (`{"segments": [{start, end, text, speaker?}]}`), FunASR / Paraformer
  (`[{"key", "sentence_info": [{start, end (ms), text, spk}]}]`) and AssemblyAI sentences
  (`{"id", "sentences": [{start, end (ms), text, speaker?, channel?}]}`). FunASR speakers become
  `spk0`, `spk1`, ... (tell jiyu which is the agent with `--agent-speakers spk0`). Dual-channel
  recordings (agent on one channel, customer on the other, `channel` per sentence) become
  `ch1`, `ch2`, ...; with `agent_channel` set, that channel is the agent and every other the
  customer;
- `transcript`: plain text, one turn per line, `坐席：...` / `客户：...` prefixes.

Text files are UTF-8 (with or without BOM) or GB18030/GBK, detected, or as `encoding=` says.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

from .conversation import role_of
from .inputs import BadRecord, InputError, Record, detect_encoding, open_binary

TURN_COLUMNS = ("conversation_id", "order", "speaker", "start", "end", "text")
CALL_COLUMNS = ("agent_id", "channel")
_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?([^\s:：]{1,16})\s*[:：]\s*(.*)$")
_VOICE = re.compile(r"^<v(?:\.[^ >]*)?\s+([^>]+)>(.*?)(?:</v>)?$")
_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_ARROW = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_TAG = re.compile(r"<[^>]+>")


def read_text(path: Path, encoding: str = "auto") -> str:
    enc = detect_encoding(path, encoding)
    with open_binary(path) as f:
        return f.read().decode(enc, errors="strict").lstrip("\ufeff")


def _decoded(path: Path, encoding: str) -> tuple[str, BadRecord | None]:
    try:
        return read_text(path, encoding), None
    except UnicodeDecodeError as e:
        return "", BadRecord(str(path), 1, f"cannot decode as {detect_encoding(path, encoding)}: {e.reason}", kind="decode")


def _seconds(stamp: str) -> float | None:
    m = _TIME.fullmatch(stamp.strip())
    if not m:
        return None
    h, mi, s, frac = m.groups()
    return int(h or 0) * 3600 + int(mi) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def _speaker_from_prefix(text: str) -> tuple[str, str]:
    m = _PREFIX.match(text)
    return (m.group(1), m.group(2)) if m else ("unknown", text)


def _one(path: Path, conv: dict, line: int = 1) -> Iterator[Record | BadRecord]:
    """The call as a record; it is validated where it is judged (detector.conversation), the same
    way for every format and for the API."""
    yield Record(str(path), line, conv["conversation_id"], None, conv)


def read_subtitles(path: Path, encoding: str = "auto") -> Iterator[Record | BadRecord]:
    """SRT or WebVTT: cues separated by blank lines; a time line `a --> b`, then text lines."""
    text, problem = _decoded(path, encoding)
    if problem:
        yield problem
        return
    turns = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _ARROW.match(lines[i])
        if not m:
            i += 1
            continue
        start, end = _seconds(m.group(1)), _seconds(m.group(2))
        if start is None or end is None:
            yield BadRecord(str(path), i + 1, f"bad cue timing {lines[i].strip()!r}")
            return
        body = []
        i += 1
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        raw = " ".join(body)
        voice = _VOICE.match(raw)
        if voice:
            speaker, said = voice.group(1).strip(), voice.group(2)
        else:
            speaker, said = _speaker_from_prefix(raw)
        said = _TAG.sub("", said).strip()
        if said:
            turns.append({"speaker": speaker, "start": start, "end": end, "text": said})
    yield from _one(path, {"conversation_id": path.stem, "channel": "call", "turns": turns})


def read_transcript(path: Path, encoding: str = "auto") -> Iterator[Record | BadRecord]:
    """Plain text, one turn per line, with a speaker prefix (坐席：/ 客户： / Agent: ...)."""
    text, problem = _decoded(path, encoding)
    if problem:
        yield problem
        return
    turns = []
    for line in text.splitlines():
        if line.strip():
            speaker, said = _speaker_from_prefix(line)
            turns.append({"speaker": speaker, "text": said.strip()})
    yield from _one(path, {"conversation_id": path.stem, "turns": turns})


def read_asr_json(path: Path, encoding: str = "auto", agent_channel: str | None = None) -> Iterator[Record | BadRecord]:
    """Whisper `segments`, FunASR/Paraformer `sentence_info` or AssemblyAI `sentences` output."""
    text, problem = _decoded(path, encoding)
    if problem:
        yield problem
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        yield BadRecord(str(path), e.lineno, f"not an ASR JSON file: {e.msg}")
        return
    items = data if isinstance(data, list) else [data]
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            yield BadRecord(str(path), 1, f"item {n}: expected an object")
            continue
        cid = str(item.get("key") or item.get("conversation_id") or item.get("id")
                  or (path.stem if len(items) == 1 else f"{path.stem}-{n}"))
        if "segments" in item:  # Whisper: seconds; speaker only if diarised
            turns = [{"speaker": str(s.get("speaker", "unknown")), "start": s.get("start"), "end": s.get("end"),
                      "text": str(s.get("text", "")).strip()} for s in item["segments"]]
        elif "sentence_info" in item:  # FunASR: milliseconds, spk as an integer
            turns = [{"speaker": f"spk{s.get('spk', 0)}", "start": _ms(s.get("start")), "end": _ms(s.get("end")),
                      "text": str(s.get("text", "")).strip()} for s in item["sentence_info"]]
        elif "sentences" in item:  # AssemblyAI: milliseconds; channel (dual-channel audio) or speaker (diarised)
            turns = [{"speaker": _channel_speaker(s, agent_channel), "start": _ms(s.get("start")), "end": _ms(s.get("end")),
                      "text": str(s.get("text", "")).strip()} for s in item["sentences"]]
        else:
            yield BadRecord(str(path), 1, f"item {n}: none of Whisper 'segments', FunASR 'sentence_info', AssemblyAI 'sentences'")
            continue
        yield from _one(path, {"conversation_id": cid, "turns": [t for t in turns if t["text"]]})


def _ms(t: float | None) -> float | None:
    return t / 1000 if t is not None else None


def _channel_speaker(s: dict, agent_channel: str | None) -> str:
    channel = s.get("channel")
    if channel is None:
        return str(s.get("speaker") or "unknown")
    if agent_channel is None:
        return f"ch{channel}"
    return "agent" if str(channel) == agent_channel else "customer"


def read_turns_csv(path: Path, columns: dict[str, str] | None = None, encoding: str = "auto") -> Iterator[Record | BadRecord]:
    """One turn per row; consecutive rows with the same conversation id form one conversation."""
    names = {c: (columns or {}).get(c, c) for c in TURN_COLUMNS + CALL_COLUMNS}
    enc = detect_encoding(path, encoding)
    # Streamed, and decoded line by line, so a bad byte late in a big file costs only what follows it
    # (UTF-8 and GB18030 never use the newline byte inside a character).
    read = [0]

    def lines(f) -> Iterator[str]:  # noqa: ANN001
        if enc.startswith(("utf-16", "utf-32")):  # the newline byte is not a line end here
            yield from f.read().decode(enc).lstrip("\ufeff").splitlines(keepends=True)
            return
        for raw in f:
            read[0] += 1
            yield raw.decode("utf-8-sig" if read[0] == 1 and enc == "utf-8" else enc)

    with open_binary(path) as f:
        try:
            yield from _turn_rows(path, csv.DictReader(lines(f), delimiter="\t" if path.suffix.lower() == ".tsv" else ","), names)
        except UnicodeDecodeError as e:
            yield BadRecord(str(path), read[0], f"cannot decode as {enc}: {e.reason}; the rest of the file is skipped", kind="decode")


def _turn_rows(path: Path, reader: csv.DictReader, names: dict) -> Iterator[Record | BadRecord]:
    missing = [names[c] for c in ("conversation_id", "speaker", "text") if names[c] not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{path}:1: no column(s) {', '.join(missing)}; the header has {', '.join(reader.fieldnames or [])}."
                         " Map yours with --columns, e.g. --columns conversation_id=call_id,speaker=role,text=content")
    seen: set[str] = set()
    agent_said: set[str] = set()  # call columns already taken from an agent row of this call
    conv: dict | None = None
    first_line = 0

    def finish() -> Iterator[Record | BadRecord]:
        if conv is not None:
            if names["order"] in (reader.fieldnames or []):
                conv["turns"].sort(key=lambda t: t.pop("_order"))
            else:
                for t in conv["turns"]:
                    t.pop("_order")
            yield from _one(path, conv, first_line)

    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        cid = (row.get(names["conversation_id"]) or "").strip()
        if not cid:
            yield BadRecord(str(path), line, f"empty {names['conversation_id']!r}")
            continue
        if conv is None or cid != conv["conversation_id"]:
            yield from finish()
            if cid in seen:
                yield BadRecord(str(path), line, f"conversation {cid!r} continues after other conversations: its rows must be contiguous")
                conv = None
                continue
            seen.add(cid)
            conv, first_line = {"conversation_id": cid, "turns": []}, line
            agent_said.clear()
        for extra in CALL_COLUMNS:  # call-level columns on every row: the agent's rows decide, else the first
            value = row.get(names[extra])
            if value and (extra not in conv or role_of(row.get(names["speaker"]) or "") == "agent" and extra not in agent_said):
                conv[extra] = value
                if role_of(row.get(names["speaker"]) or "") == "agent":
                    agent_said.add(extra)
        try:
            order = float(row[names["order"]]) if row.get(names["order"]) not in (None, "") else len(conv["turns"])
            start = float(row[names["start"]]) if row.get(names["start"]) not in (None, "") else None
            end = float(row[names["end"]]) if row.get(names["end"]) not in (None, "") else None
        except ValueError as e:
            yield BadRecord(str(path), line, f"not a number: {e}")
            continue
        if row.get(names["text"]) is None:
            yield BadRecord(str(path), line, f"no {names['text']!r} value")
            continue
        conv["turns"].append({"speaker": row[names["speaker"]], "start": start, "end": end,
                              "text": row[names["text"]], "_order": order})
    yield from finish()


def looks_like_transcript(lines: list[str]) -> bool:
    """Plain text whose lines start with a few recurring speaker prefixes (坐席：/客户：/A: ...)
    is a transcript, not one utterance per line: read as utterances, the customer's words
    would be blamed on the agent."""
    lines = [line for line in lines if line.strip()]
    prefixes = [m.group(1) for m in map(_PREFIX.match, lines) if m]
    if len(lines) < 2 or len(prefixes) < 0.8 * len(lines):
        return False
    known = {p for p in prefixes if role_of(p) in ("agent", "customer")}
    return bool(known) or len(set(prefixes)) <= 3
