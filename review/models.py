"""The review store's tables (SQLAlchemy 2, typed). The schema itself is made by the Alembic
migrations in review/migrations/; tests/test_review_store.py checks both agree.

Times are naive UTC (`utcnow()`): SQLite keeps no time zone, and one convention for both backends
keeps comparisons such as `claim_expires < now` meaningful.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Item.state: where an item is in the review flow.
#   pending        waits for its first review
#   second_review  sampled for a blind second review by someone else
#   disputed       the two reviews disagree: a lead decides
#   appealed       the agent appeals a confirmed violation: a lead upholds or overturns it
#   done           decided (Item.outcome says how)
STATES = ("pending", "second_review", "disputed", "appealed", "done")
OUTCOMES = ("confirmed", "rejected")
ROLES = ("reviewer", "lead", "admin")
ROUNDS = ("first", "second", "lead", "appeal")
DECISIONS = ("confirm", "reject")
# Why a hit was a false alarm (the list).
REASONS = ("innocent_sense", "quoting", "wrong_speaker", "asr_error", "other")
APPEAL_STATUSES = ("open", "upheld", "overturned")
KINDS = ("utterance", "call_turn")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _one_of(column: str, values: tuple[str, ...], nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})" + (f" OR {column} IS NULL" if nullable else "")


class Base(DeclarativeBase):
    # Named constraints: later migrations can alter them (SQLite batch mode needs the names).
    metadata = MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TeamMember(Base):
    """A user belongs to one or more teams; reviewers see their teams' items."""

    __tablename__ = "team_members"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="reviewer")
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2 (PHC string); None: cannot log in
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    teams: Mapped[list[Team]] = relationship(secondary="team_members")


class Agent(Base):
    """A service agent as the scan output names them (agent_id); their team routes their items."""

    __tablename__ = "agents"
    agent_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)


class ImportBatch(Base):
    """One `jiyu review import` run: provenance of the items it added."""

    __tablename__ = "imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    files: Mapped[list[Any]] = mapped_column(default=list)  # [{"path", "sha256"}]
    added: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    bad_lines: Mapped[int] = mapped_column(default=0)


class Conversation(Base):
    """A scanned call: the call-level report and, when imported with --conversations, every turn
    (speaker, start, end, text) for context. Items of the call's violating turns point here."""

    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(primary_key=True)
    import_key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the report record
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str | None] = mapped_column(String(50))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # score, passed, fatal, agent_speaker, ...
    turns: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))  # SQL NULL: not imported


class Item(Base):
    """One flagged utterance, or one violating turn of a call: the verdict as scored, and where
    it is in review."""

    __tablename__ = "items"
    __table_args__ = (
        CheckConstraint(_one_of("state", STATES), name="state"),
        CheckConstraint(_one_of("outcome", OUTCOMES, nullable=True), name="outcome"),
        CheckConstraint(_one_of("kind", KINDS), name="kind"),
        # The queue: claimable items of a state, in score or import order.
        Index("ix_items_state_score", "state", "score"),
        Index("ix_items_state_id", "state", "id"),
        Index("ix_items_claimed_by", "claimed_by", "claim_expires"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    import_key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the record (+ turn)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(200))  # the utterance record's "id"
    text: Mapped[str] = mapped_column(Text)
    # The verdict as scored.
    decision: Mapped[str] = mapped_column(String(16), index=True)  # review | violation
    score: Mapped[float]
    labels: Mapped[list[Any]] = mapped_column(default=list)
    category: Mapped[str | None] = mapped_column(String(32), index=True)  # labels[0]: the most severe
    severity: Mapped[int | None]  # the highest evidence severity
    mode: Mapped[str | None] = mapped_column(String(16))
    lexicon_version: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    context_version: Mapped[str | None] = mapped_column(String(64))
    # Calls (and utterances that name them).
    conversation_pk: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(200), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(100), index=True)
    channel: Mapped[str | None] = mapped_column(String(50), index=True)
    turn_index: Mapped[int | None]
    speaker: Mapped[str | None] = mapped_column(String(100))
    start_time: Mapped[float | None]
    end_time: Mapped[float | None]
    deduction: Mapped[float | None]
    occurred_at: Mapped[dt.datetime | None] = mapped_column(index=True)  # from the record, when it says
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the record's other fields, copied through
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # Review.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    final_category: Mapped[str | None] = mapped_column(String(32))
    final_severity: Mapped[int | None]
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claim_expires: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    evidence: Mapped[list[Evidence]] = relationship(back_populates="item", order_by="Evidence.start",
                                                    cascade="all, delete-orphan", passive_deletes=True)
    conversation: Mapped[Conversation | None] = relationship()
    reviews: Mapped[list[Review]] = relationship(back_populates="item", order_by="Review.id", passive_deletes=True)


class Evidence(Base):
    """One evidence span of an item's verdict. A child table so the queue's filters by category,
    source and rule are index lookups."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_category_item", "category", "item_id"),
        Index("ix_evidence_source_item", "source", "item_id"),
        Index("ix_evidence_rule_item", "rule_id", "item_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    start: Mapped[int]
    end: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))  # lexicon | pinyin | pattern | classifier | ...
    rule_id: Mapped[str] = mapped_column(String(100))
    severity: Mapped[int]
    score: Mapped[float | None]
    suggestion: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    item: Mapped[Item] = relationship(back_populates="evidence")


class Review(Base):
    """One person's decision on an item in one round. Undo marks it undone; nothing is deleted."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_one_of("round", ROUNDS), name="round"),
        CheckConstraint(_one_of("decision", DECISIONS), name="decision"),
        CheckConstraint(_one_of("reason", REASONS, nullable=True), name="reason"),
        Index("ix_reviews_reviewer_created", "reviewer_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    round: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32))  # corrected category (confirm)
    severity: Mapped[int | None]  # corrected severity (confirm)
    reason: Mapped[str | None] = mapped_column(String(32))  # why rejected
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[dt.datetime | None]

    item: Mapped[Item] = relationship(back_populates="reviews")


class Appeal(Base):
    """An agent's appeal of a confirmed violation; a lead upholds or overturns it."""

    __tablename__ = "appeals"
    __table_args__ = (CheckConstraint(_one_of("status", APPEAL_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(100))
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[dt.datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Every decision and change: who, when, what, and the record before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(50))  # import, decide, undo, claim_release, appeal, ...
    entity: Mapped[str] = mapped_column(String(50))  # table name
    entity_id: Mapped[int | None]
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class WebSession(Base):
    """A signed-in browser (`jiyu review serve`). The cookie carries the token, signed; only its
    sha256 is stored, so a copy of the database cannot be used to sign in. Logout deletes the row."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))  # the token every state-changing request must echo
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class TeachingExample(Base):
    """A lead's pick for the teaching set: the item's text anonymised (numbers masked, no agent),
    its category and the polite rewrite, for training new agents."""

    __tablename__ = "teaching_examples"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))
    suggestion: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
