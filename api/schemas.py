"""Request and response bodies of the HTTP API, documented field by field (with Chinese examples)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["realtime", "qa"]
Category = Literal["disrespectful", "unfriendly", "impatient", "impolite"]


class CheckRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "有完没完啊你"}, {"texts": ["您好，请问有什么可以帮您？", "问别人去"], "mode": "qa"}]},
    )
    text: str | None = Field(None, description="One agent reply to check. Give `text` or `texts`, not both.", examples=["有完没完啊你"])
    texts: list[str] | None = Field(
        None, description="Several replies; results come back in the same order.", examples=[["您好，请问有什么可以帮您？", "问别人去"]]
    )
    mode: Mode | None = Field(
        None, description="`realtime` (default here: precision first, for blocking a reply) or `qa` (recall first).", examples=["realtime"]
    )

    @model_validator(mode="after")
    def _one_of(self) -> CheckRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self


class EvidenceOut(BaseModel):
    start: int = Field(description="Start index (inclusive) in the ORIGINAL text.", examples=[0])
    end: int = Field(description="End index (exclusive) in the original text.", examples=[4])
    text: str = Field(description="Exactly text[start:end].", examples=["有完没完"])
    category: Category = Field(description="不尊重 disrespectful, 不友好 unfriendly, 不耐烦 impatient, 不客气 impolite.", examples=["impatient"])
    source: Literal["lexicon", "pattern", "pinyin", "classifier"] = Field(
        description="What found it: a lexicon phrase, a context pattern, a pinyin/homophone match, or the tone classifier.", examples=["lexicon"]
    )
    rule_id: str = Field(description="Lexicon rule id, or tone-<category> for the classifier.", examples=["impa-002"])
    severity: int = Field(ge=1, le=3, description="1 mild / context-dependent, 2 forbidden, 3 insult or threat.", examples=[2])
    score: float = Field(description="Strength of this evidence, 0..1, on the mode's scale.", examples=[0.85])
    suggestion: str | None = Field(None, description="A polite alternative to offer the agent.", examples=["请您别着急，我马上为您处理。"])


class VerdictOut(BaseModel):
    flagged: bool = Field(description="decision != pass.", examples=[True])
    decision: Literal["pass", "review", "violation"] = Field(description="pass / review (a person decides) / violation (block).", examples=["violation"])
    score: float = Field(description="The strongest evidence score, 0..1.", examples=[0.85])
    labels: list[Category] = Field(description="Categories found, most severe first.", examples=[["impatient"]])
    evidence: list[EvidenceOut]
    mode: Mode
    masked: str = Field(description="The text with every evidence span replaced by ＊.", examples=["＊＊＊＊啊你"])


class CheckResponse(BaseModel):
    results: list[VerdictOut] = Field(description="One verdict per input text, in input order.")
    lexicon_version: str = Field(description="Content hash of the lexicon that judged this request.", examples=["de60383a1f98"])
    model_version: str | None = Field(description="Tone model version (null: lexicon only).", examples=["a079ddd07fc0"])
    context_version: str | None = Field(
        None, description="Version of the context model that judged ambiguous phrases (null: explicit frames only).", examples=["8466d60a80e8"]
    )
    request_id: str = Field(description="Also in the X-Request-ID header and the server log.", examples=["3f9c0e8d2b7a4c51"])


class TurnIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    speaker: str = Field(description="agent / customer, or 坐席 客服 A / 客户 用户 B.", examples=["坐席"])
    text: str = Field(description="What was said in this turn.", examples=["刚才和你说过了，怎么还问？"])
    start: float | None = Field(None, description="Seconds from the start of the call.", examples=[12.4])
    end: float | None = Field(None, examples=[15.0])


class ConversationRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "conversation_id": "c1",
                    "channel": "call",
                    "turns": [
                        {"speaker": "customer", "start": 0.0, "end": 2.1, "text": "我的宽带又断了"},
                        {"speaker": "agent", "start": 2.2, "end": 5.0, "text": "刚才和你说过了，怎么还问？"},
                    ],
                }
            ]
        },
    )
    conversation_id: str | int = Field(examples=["c1"])
    turns: list[TurnIn]
    roles: list[str] = Field(["agent"], description="Which speakers' turns are judged (agent by default).", examples=[["agent"]])
    mode: Mode | None = Field(None, description="Default here: realtime.", examples=["qa"])


class TurnViolationOut(BaseModel):
    turn: int = Field(description="Index into the input turns.", examples=[1])
    speaker: str
    start: float | None
    end: float | None
    text: str = Field("", description="The turn's text.")
    decision: Literal["review", "violation"]
    score: float
    labels: list[Category]
    evidence: list[EvidenceOut]
    deduction: float = Field(description="Points this turn cost under the score sheet.", examples=[5.0])


class ConversationResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    conversation_id: str
    flagged: bool
    violations: list[TurnViolationOut]
    score: float = Field(description="The score sheet's start minus deductions for violating agent turns.", examples=[95.0])
    deductions: float
    passed: bool = Field(description="Score at or above the pass mark and no fatal violation.", examples=[True])
    fatal: bool = Field(description="A violation in a fatal category at the fatal severity.", examples=[False])
    score_sheet: str = Field(examples=["default"])
    turns_judged: int
    agent_speaker: str | None = Field(None, description="The speaker judged as the agent.", examples=["坐席"])
    agent_inferred: bool = Field(False, description="No speaker name said agent: inferred from greetings, offers of help and closings.")
    agent_confidence: float | None = Field(None, description="With agent_inferred: the share of speaker cues that agree with the choice.")
    agent_cues: list[str] | None = Field(None, description="With agent_inferred: what the agent said that identified them.")
    lexicon_version: str
    model_version: str | None
    context_version: str | None = None
    request_id: str


class LexiconInfo(BaseModel):
    lexicon_version: str = Field(examples=["de60383a1f98"])
    model_version: str | None
    context_version: str | None = None
    packs: list[str] = Field(description="Lexicon packs in layering order.", examples=[["default"]])
    rules: int = Field(description="Phrase rules in force.", examples=[376])
    patterns: int = Field(examples=[4])
    allowlist: int = Field(examples=[122])
    categories: dict[str, int] = Field(description="Rules per category.", examples=[{"disrespectful": 129, "unfriendly": 90, "impatient": 88, "impolite": 73}])
    worker: int | None = Field(None, description="Process id of the worker that answered.")
    generation: int | None = Field(None, description="Reloads this worker has applied since the server started.")


class ReloadResponse(BaseModel):
    lexicon_version: str
    previous_lexicon_version: str
    model_version: str | None
    generation: int = Field(description="Reloads since the server started; every worker reports the one it serves.", examples=[1])
    workers: dict[str, str] = Field(description="Each live worker's process id and the lexicon version it serves.",
                                    examples=[{"4121": "de60383a1f98", "4122": "de60383a1f98"}])
    all_workers_switched: bool = Field(description="Every worker serves the new lexicon (else see `workers`).", examples=[True])
    request_id: str


class ErrorOut(BaseModel):
    error: str = Field(description="What is wrong, naming the field and the limit.", examples=["texts[3]: 12034 characters, over the limit of 10000"])
    field: str | None = Field(None, examples=["texts[3]"])
    request_id: str
