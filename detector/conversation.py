"""Conversations: validation of the input and speaker → role mapping."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import NotRequired, TypedDict

# Speaker names as call-centre systems write them, mapped to the roles jiyu judges.
ROLE_ALIASES = {
    "agent": "agent", "坐席": "agent", "客服": "agent", "a": "agent", "staff": "agent", "system": "agent",
    "服务员": "agent", "工作人员": "agent", "operator": "agent", "sys": "agent",
    "customer": "customer", "客户": "customer", "用户": "customer", "b": "customer", "user": "customer",
    "顾客": "customer", "来电人": "customer", "caller": "customer", "usr": "customer",
}


# Validated as typed dicts, not models: a nightly scan parses millions of turns, and pydantic
# checks a dict of 20 turns about four times faster than it builds 20 model objects.
@with_config(ConfigDict(extra="allow", allow_inf_nan=False))
class Turn(TypedDict):
    speaker: str
    text: str
    start: NotRequired[float | None]
    end: NotRequired[float | None]


@with_config(ConfigDict(extra="allow"))
class Conversation(TypedDict):
    conversation_id: str | int
    turns: list[Turn]


_CONVERSATION = TypeAdapter(Conversation)


class ConversationError(ValueError):
    """Bad conversation input; the message names the field."""


def parse_conversation(data: Any) -> Conversation:
    """The conversation as a checked dict (other fields kept), or ConversationError naming the field.

    The one validator of calls: `jiyu scan` (every format) and the API's /v1/conversations
    accept and refuse the same calls with the same messages."""
    if not isinstance(data, dict):
        raise ConversationError(f"a conversation must be a JSON object, got {type(data).__name__}")
    try:
        conv = _CONVERSATION.validate_python(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ConversationError(f"{field_path(first['loc'])}: {first['msg']}") from None
    if not conv["turns"]:
        raise ConversationError("turns: no turns (a call needs at least one)")
    _check_times(conv["turns"])
    return conv


def field_path(loc: tuple) -> str:
    """`turns[0].text` from pydantic's ('turns', 0, 'text'): the form the API's `field` uses too."""
    return "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")


def _check_times(turns: list) -> None:
    last = None
    for k, t in enumerate(turns):
        start, end = t.get("start"), t.get("end")
        if start is not None and end is not None and end < start:
            raise ConversationError(f"turns[{k}].end: {end} is before its start {start}")
        if start is not None:
            if last is not None and start < last:
                raise ConversationError(f"turns[{k}].start: {start} is before the previous turn's start ({last})")
            last = start


def role_of(speaker: str, agent_speakers: set[str] | frozenset = frozenset()) -> str:
    """agent / customer for the usual names; `agent_speakers` adds a site's own agent names."""
    s = speaker.strip().casefold()
    if s in agent_speakers:
        return "agent"
    return ROLE_ALIASES.get(s, s)


def without_textless_turns(data: Any, wanted: set[str], extra_agents: set[str]) -> tuple[Any, list[dict]]:
    """A conversation whose turns of roles not judged (the customer's) lack a text gets those turns'
    text blanked, each noted: one bad customer turn must not cost the agent's turns their verdict.
    A turn that will be judged still needs its text (the conversation stays invalid)."""
    turns = data.get("turns") if isinstance(data, dict) else None
    if not isinstance(turns, list):
        return data, []
    skipped, fixed = [], None
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or isinstance(t.get("text"), str) or not isinstance(t.get("speaker"), str):
            continue
        role = role_of(t["speaker"], extra_agents)
        if role in wanted or role not in ROLE_ALIASES.values():
            continue
        if fixed is None:
            fixed = list(turns)
        fixed[i] = {**t, "text": ""}
        skipped.append({"turn": i, "speaker": t["speaker"],
                        "error": "text missing" if t.get("text") is None else "text is not a string"})
    return (data if fixed is None else {**data, "turns": fixed}), skipped
