"""Reading what `jiyu scan` writes: utterance verdict lines and call report lines, into the rows
of the review store. Only the JSON contract (DESIGN.md, README) is relied on; fields beyond it are
copied through into `extra`. A record that breaks the contract raises BadLine naming the field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

UTTERANCE_FIELDS = {"id", "text", "flagged", "decision", "score", "labels", "evidence", "mode", "lexicon_version",
                    "model_version", "context_version", "channel", "agent_id", "conversation_id"}
VIOLATION_FIELDS = {"turn", "speaker", "start", "end", "text", "decision", "score", "labels", "evidence", "deduction"}
EVIDENCE_FIELDS = {"start", "end", "text", "category", "source", "rule_id", "severity", "score", "suggestion"}
# Record fields that may say when the text was written or the call happened (ISO 8601).
DATE_FIELDS = ("occurred_at", "timestamp", "datetime", "date", "started_at", "created_at", "time")
DECISIONS = ("pass", "review", "violation")


class BadLine(Exception):
    pass


@dataclass
class Parsed:
    """One record's rows: items (each with its "evidence" list) and, for a call, the conversation."""

    items: list[dict]
    conversation: dict | None = None
    flagged: bool = True


def key(record: dict, suffix: str = "") -> str:
    """The import key: the record's content (canonical JSON), not the file it came in."""
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + suffix.encode()).hexdigest()


def _get(rec: dict, name: str, kinds: tuple[type, ...], where: str, required: bool = True) -> Any:
    value = rec.get(name)
    if value is None:
        if required:
            raise BadLine(f"{where}{name}: missing")
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        want = {str: "a string", int: "an integer", float: "a number", list: "a list", bool: "true/false", dict: "an object"}
        names = [want[k] for k in kinds if not (k is int and float in kinds)]  # a number includes integers
        raise BadLine(f"{where}{name}: expected {' or '.join(names)}, got {orjson.dumps(value).decode()[:40]}")
    return value


def _label_list(rec: dict, where: str) -> list[str]:
    labels = _get(rec, "labels", (list,), where, required=False) or []
    if not all(isinstance(x, str) for x in labels):
        raise BadLine(f"{where}labels: expected a list of category ids")
    return labels


def _evidence(rec: dict, where: str) -> list[dict]:
    spans = _get(rec, "evidence", (list,), where)
    rows = []
    for i, e in enumerate(spans):
        w = f"{where}evidence[{i}]."
        if not isinstance(e, dict):
            raise BadLine(f"{where}evidence[{i}]: expected an object")
        rows.append({"start": _get(e, "start", (int,), w), "end": _get(e, "end", (int,), w), "text": _get(e, "text", (str,), w),
                     "category": _get(e, "category", (str,), w), "source": _get(e, "source", (str,), w),
                     "rule_id": _get(e, "rule_id", (str,), w), "severity": _get(e, "severity", (int,), w),
                     "score": _get(e, "score", (int, float), w, required=False),
                     "suggestion": _get(e, "suggestion", (str,), w, required=False),
                     "extra": {k: v for k, v in e.items() if k not in EVIDENCE_FIELDS}})
    return rows


def _verdict(rec: dict, where: str) -> dict:
    decision = _get(rec, "decision", (str,), where)
    if decision not in DECISIONS:
        raise BadLine(f"{where}decision: {decision!r} is not one of {', '.join(DECISIONS)}")
    evidence = _evidence(rec, where)
    labels = _label_list(rec, where)
    return {"text": _get(rec, "text", (str,), where), "decision": decision,
            "score": float(_get(rec, "score", (int, float), where)), "labels": labels,
            "category": labels[0] if labels else (evidence[0]["category"] if evidence else None),
            "severity": max((e["severity"] for e in evidence), default=None), "evidence": evidence}


def _scalar_str(rec: dict, name: str) -> str | None:
    value = rec.get(name)
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def occurred_at(rec: dict) -> dt.datetime | None:
    for name in DATE_FIELDS:
        value = rec.get(name)
        if isinstance(value, str):
            try:
                t = dt.datetime.fromisoformat(value)
            except ValueError:
                continue
            return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t
    return None


def _versions(rec: dict, default_mode: str | None) -> dict:
    return {"mode": _scalar_str(rec, "mode") or default_mode, "lexicon_version": _scalar_str(rec, "lexicon_version"),
            "model_version": _scalar_str(rec, "model_version"), "context_version": _scalar_str(rec, "context_version")}


def parse(rec: Any, default_mode: str | None = "qa") -> Parsed:
    """A scan output record as rows. Raises BadLine when it breaks the contract."""
    if not isinstance(rec, dict):
        raise BadLine("expected a JSON object (a line of `jiyu scan` output)")
    if "violations" in rec:
        return _call(rec, default_mode)
    if "text" in rec and "decision" in rec:
        return _utterance(rec, default_mode)
    raise BadLine("neither an utterance verdict (text, decision, ...) nor a call report (conversation_id, violations, ...)")


def _utterance(rec: dict, default_mode: str | None) -> Parsed:
    verdict = _verdict(rec, "")
    flagged = rec.get("flagged")
    if flagged is not None and not isinstance(flagged, bool):
        raise BadLine("flagged: expected true/false")
    if not (verdict["decision"] != "pass" if flagged is None else flagged):
        return Parsed([], flagged=False)
    item = {"import_key": key(rec), "kind": "utterance", "source_id": _scalar_str(rec, "id"), **verdict,
            **_versions(rec, default_mode), "conversation_id": _scalar_str(rec, "conversation_id"),
            "agent_id": _scalar_str(rec, "agent_id"), "channel": _scalar_str(rec, "channel"),
            "occurred_at": occurred_at(rec), "extra": {k: v for k, v in rec.items() if k not in UTTERANCE_FIELDS}}
    return Parsed([item])


def _call(rec: dict, default_mode: str | None) -> Parsed:
    cid = rec.get("conversation_id")
    if cid is None or isinstance(cid, (dict, list, bool)):
        raise BadLine("conversation_id: missing")
    violations = _get(rec, "violations", (list,), "")
    conv_key = key(rec)
    report = {k: v for k, v in rec.items() if k != "violations"}
    common = {**_versions(rec, default_mode), "conversation_id": str(cid), "agent_id": _scalar_str(rec, "agent_id"),
              "channel": _scalar_str(rec, "channel"), "occurred_at": occurred_at(rec)}
    items = []
    for i, v in enumerate(violations):
        where = f"violations[{i}]."
        if not isinstance(v, dict):
            raise BadLine(f"violations[{i}]: expected an object")
        verdict = _verdict(v, where)
        if verdict["decision"] == "pass":
            continue
        turn = _get(v, "turn", (int,), where)
        items.append({"import_key": key(rec, f"#turn={turn}#{i}"), "kind": "call_turn", "source_id": None, **verdict, **common,
                      "turn_index": turn, "speaker": _scalar_str(v, "speaker"),
                      "start_time": _get(v, "start", (int, float), where, required=False),
                      "end_time": _get(v, "end", (int, float), where, required=False),
                      "deduction": _get(v, "deduction", (int, float), where, required=False),
                      "extra": {k: v2 for k, v2 in v.items() if k not in VIOLATION_FIELDS}})
    conversation = {"import_key": conv_key, "conversation_id": str(cid), "channel": common["channel"],
                    "agent_id": common["agent_id"], "report": report, "turns": None}
    return Parsed(items, conversation, flagged=bool(items))


def context_turns(conversation: Any, items: list[dict]) -> tuple[list | None, str | None]:
    """The turns of a source conversation (the JSONL `jiyu scan` read) for an imported call, or
    why they do not belong to it (the flagged turns must have the same text at the same index)."""
    turns = conversation.get("turns") if isinstance(conversation, dict) else None
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        return None, "its turns are not a list of objects"
    for item in items:
        i = item["turn_index"]
        if not 0 <= i < len(turns) or turns[i].get("text") != item["text"]:
            return None, f"turn {i} there is not the flagged turn's text: a different version of the call?"
    return turns, None
