"""Which speaker is the agent, when the transcript does not say.

Diarised ASR names speakers SPEAKER_00 / spk0, and some systems write a person's name; none maps
to a role. A call judged with no agent turn would score 100 and pass, so the agent is inferred
from what each speaker says: agents greet with the company and their 工号, offer help, thank the
caller and close; customers ask about *their* order, complain about *your* company, answer 喂.
Who speaks first is a weak cue (agents answer inbound calls). The inference abstains unless the
cues clearly point at one speaker; the caller then gets an error, never a silent pass.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .conversation import ROLE_ALIASES, ConversationError, role_of

KNOWN_ROLES = set(ROLE_ALIASES.values())

# Self-introductions name the place: 您好，悦衣坊客服 / 喂 您好 市中医院 住院部 / 这里是湘味轩餐厅.
_PLACE = "客服|热线|中心|公司|营业厅|前台|门店|店|餐厅|医院|物业|银行|超市|酒店|服务台|护士站|住院部|专线|门诊|柜台|平台"
AGENT_CUES = re.compile(
    f"^(喂\\s*)?您好[\\s，,。！!]*(这里是|这边是|欢迎致电|欢迎来到)?[^，,。？?！!]{{0,14}}({_PLACE})"
    "|(这里|这边)是.{0,12}(" + _PLACE + ")|我是.{0,10}(客服|专员|顾问|工号|小[王李张刘陈杨赵黄周吴])|工号"
    "|为您服务|(可以|能|需要)?(帮|帮到|为)您|(还有|有没有)(什么|其他|别的)(问题|事情|业务)?(需要|可以|能)"
    "|感谢(您的)?来电|感谢您的(耐心|支持|理解|配合|等待)|给您(带来|造成)(的)?不便|给您添麻烦|祝您.{0,6}(愉快|顺利|开心)"
    "|非常抱歉|抱歉让您|打扰您了|请(您)?稍等|我(跟|给|帮)您|您是说|请问(您|是|有什么|需要)|请(报|提供|说)一下|满意度"
)
CUSTOMER_CUES = re.compile(
    "我(想|要)(问|咨询|投诉|反映|办|查|退|改|开通|取消|换|订|挂|买)|我(家|们家|妈|爸)|我那个"
    "|我的(订单|快递|手机|账号|账户|卡|包裹|话费|宽带|钱)|你们(的|这|公司|怎么|那边|那个|有)|怎么回事|为什么我"
)
POLITE_YOU = 0.5  # a turn that says 您 counts half a cue: agents say 您, customers 你
MIN_CONFIDENCE = 0.75  # share of the cues that agree with the choice
FIRST_SPEAKER = 0.5  # the opening turn counts as half a cue


@dataclass(frozen=True, slots=True)
class AgentGuess:
    speaker: str | None  # None: no speaker could be identified
    confidence: float
    cues: tuple[str, ...]  # what the chosen speaker said that pointed at them (a few, for the report)


def infer_agent(turns: list[dict], candidates: set[str]) -> AgentGuess:
    """The agent among `candidates` (speakers with no known role), from the turns' words.

    Each speaker's agent cues count for them and their customer cues against them; the chosen
    speaker's confidence is the share of all cues consistent with the choice (their agent cues plus
    the others' customer cues). Fewer than two candidates means nothing to tell apart, unless the
    call also has known customers (then the one unknown speaker is the agent if they sound like one).
    """
    agent, customer, said = Counter(), Counter(), {}
    for t in turns:
        s = t["speaker"]
        if s not in candidates:
            continue
        found = [m.group(0) for m in AGENT_CUES.finditer(t["text"])]
        agent[s] += len(found) + POLITE_YOU * ("您" in t["text"])
        customer[s] += len(CUSTOMER_CUES.findall(t["text"]))
        said.setdefault(s, []).extend(found)
    if turns and turns[0]["speaker"] in candidates:
        agent[turns[0]["speaker"]] += FIRST_SPEAKER
    speakers = sorted({t["speaker"] for t in turns if t["speaker"] in candidates})
    if not speakers:
        return AgentGuess(None, 0.0, ())
    total = sum(agent.values()) + sum(customer.values())

    def consistent(s: str) -> float:
        return agent[s] + sum(customer[o] for o in speakers if o != s)

    best = max(speakers, key=lambda s: (consistent(s), s == turns[0]["speaker"]))
    confidence = consistent(best) / total if total else 0.0
    if not said.get(best) or confidence < MIN_CONFIDENCE:
        return AgentGuess(None, round(confidence, 2), ())
    return AgentGuess(best, round(confidence, 2), tuple(dict.fromkeys(said[best]))[:5])


def describe_speakers(turns: list[dict]) -> str:
    """`SPEAKER_00 (12 turns), SPEAKER_01 (9 turns)`: for the message of a call with no agent."""
    counts = Counter(t["speaker"] for t in turns)
    return ", ".join(f"{s} ({n} turn{'s' if n != 1 else ''})" for s, n in counts.most_common())


class NoAgentError(ConversationError):
    """A call in which no speaker could be identified as the agent."""


@dataclass(frozen=True, slots=True)
class Roles:
    turn_roles: list[str]
    agent_speaker: str | None  # the agent's speaker name (the first, if several speak as agent)
    inferred: bool
    confidence: float | None  # only when inferred
    cues: tuple[str, ...]


def assign_roles(turns: list[dict], extra_agents: set[str], infer: bool = True) -> Roles:
    """Each turn's role; the agent inferred (see infer_agent) when no speaker name says agent.

    Raises NoAgentError when there is no agent to judge: a QA score for a call nobody judged
    would be a silent pass. Speakers named `unknown` (no prefix at all) are never inferred: their
    turns mix both sides.
    """
    roles_of = {s: role_of(s, extra_agents) for s in {t["speaker"] for t in turns}}  # few speakers, many turns
    agents = [t["speaker"] for t in turns if roles_of[t["speaker"]] == "agent"]
    if agents:
        return Roles([roles_of[t["speaker"]] for t in turns], agents[0], False, None, ())
    unknown = {s for s, r in roles_of.items() if r not in KNOWN_ROLES and s.strip().casefold() != "unknown"}
    guess = infer_agent(turns, unknown) if infer else AgentGuess(None, 0.0, ())
    if guess.speaker is None:
        if all(s.strip().casefold() == "unknown" for s in roles_of):
            raise NoAgentError(
                f"no agent identified: none of the {len(turns)} turns names its speaker (no 坐席：/客户： prefix, no"
                " diarisation). Give speaker labels, or --agent-speakers unknown if the file holds only the agent's side"
            )
        why = ("agent inference is off" if not infer else "no speaker sounds like the agent" if unknown
               else "no speaker is named as one")
        raise NoAgentError(
            f"no agent identified ({why}); speakers: {describe_speakers(turns)}."
            " Name the agent's speaker with --agent-speakers NAME (API: roles)"
        )
    roles_of[guess.speaker] = "agent"
    return Roles([roles_of[t["speaker"]] for t in turns], guess.speaker, True, guess.confidence, guess.cues)
