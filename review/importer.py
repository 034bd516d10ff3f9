"""`jiyu review import`: scan output into the store, in batches.

One transaction per batch of records (a few thousand items): an interrupted import keeps whole
batches, and importing again adds only what is missing, because every item and conversation is
keyed by its record's content. Bad lines are reported as file:line and skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from sqlalchemy import JSON, Connection, insert, select, text, update
from sqlalchemy.orm import Session

from . import records
from .models import Agent, AuditEntry, Conversation, Evidence, ImportBatch, Item, Team, utcnow

BATCH = 2000  # records per transaction


@dataclass
class ImportResult:
    added: int = 0  # items
    duplicates: int = 0  # items already in the store
    unflagged: int = 0  # records that passed: nothing to review
    bad: int = 0  # lines skipped
    conversations: int = 0  # calls added
    context: int = 0  # calls given their turns from --conversations
    problems: list[str] = field(default_factory=list)  # "file:line: message", bad lines and warnings
    import_id: int | None = None


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of a file, without its UTF-8 BOM."""
    offset = 0
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            yield n, offset, (line[3:] if n == 1 and line.startswith(b"\xef\xbb\xbf") else line)
            offset += len(line)


class ConversationIndex:
    """conversation_id → where it is in the conversations file(s); read only for flagged calls."""

    def __init__(self, paths: Iterable[Path], report: Callable[[str], None]) -> None:
        self.where: dict[str, tuple[Path, int, int]] = {}
        for path in paths:
            for n, offset, line in _lines(path):
                if not line.strip():
                    continue
                try:
                    cid = orjson.loads(line).get("conversation_id")
                except (orjson.JSONDecodeError, AttributeError):
                    report(f"{path}:{n}: not a JSON object (a conversation with conversation_id and turns)")
                    continue
                if cid is not None:
                    self.where.setdefault(str(cid), (path, n, offset))

    def get(self, cid: str) -> tuple[str, object] | None:
        if cid not in self.where:
            return None
        path, n, offset = self.where[cid]
        with path.open("rb") as f:
            f.seek(offset)
            line = f.readline()
        return f"{path}:{n}", orjson.loads(line[3:] if n == 1 and line.startswith(b"\xef\xbb\xbf") else line)


def import_files(session: Session, paths: list[Path], *, conversations: list[Path] = (), team: str | None = None,
                 default_mode: str | None = "qa", report: Callable[[str], None] = lambda message: None,
                 user_id: int | None = None) -> ImportResult:
    """Import `jiyu scan` output files; `report` gets each problem as it is found."""
    result = ImportResult()

    def problem(message: str) -> None:
        result.problems.append(message)
        report(message)

    index = ConversationIndex(conversations, problem) if conversations else None
    team_id = _team(session, team) if team else None
    agent_teams = dict(session.execute(select(Agent.agent_id, Agent.team_id).where(Agent.team_id.is_not(None))).all())
    batch = ImportBatch(user_id=user_id, files=[{"path": str(p), "sha256": _sha256(p)} for p in paths])
    session.add(batch)
    session.commit()
    result.import_id = batch.id
    pending: list[tuple[str, records.Parsed]] = []
    pending_items = analyzed = 0
    for path in paths:
        for n, _, line in _lines(path):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                parsed = records.parse(orjson.loads(line), default_mode)
            except orjson.JSONDecodeError as e:
                result.bad += 1
                problem(f"{where}: not JSON ({e.msg})")
                continue
            except records.BadLine as e:
                result.bad += 1
                problem(f"{where}: {e}")
                continue
            if not parsed.flagged:
                result.unflagged += 1
                continue
            pending.append((where, parsed))
            pending_items += len(parsed.items)
            if pending_items >= BATCH:
                _store(session, pending, result, index, team_id, agent_teams, batch.id, problem)
                pending, pending_items = [], 0
                analyzed = _analyze(session, result.added, analyzed)
    if pending:
        _store(session, pending, result, index, team_id, agent_teams, batch.id, problem)
    session.execute(update(ImportBatch).where(ImportBatch.id == batch.id)
                    .values(added=result.added, duplicates=result.duplicates, bad_lines=result.bad))
    session.add(AuditEntry(user_id=user_id, action="import", entity="imports", entity_id=batch.id, before=None,
                           after={"files": batch.files, "added": result.added, "duplicates": result.duplicates,
                                  "bad_lines": result.bad, "conversations": result.conversations}))
    session.commit()
    return result


def _analyze(session: Session, added: int, analyzed: int) -> int:
    """PostgreSQL: refresh the planner's statistics each time the import doubles the tables. With
    the statistics of a small table it scans the whole table for each batch's duplicate check
    (70 s of a 96 s import of 100,000 items) instead of using the unique index."""
    if session.get_bind().dialect.name != "postgresql" or added < max(2 * analyzed, 4 * BATCH):
        return analyzed
    session.execute(text("ANALYZE items, conversations"))
    session.commit()
    return added


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _team(session: Session, name: str) -> int:
    team_id = session.scalar(select(Team.id).where(Team.name == name))
    if team_id is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
        team_id = team.id
    return team_id


def _existing(session: Session, column, keys: list[str]) -> set[str]:  # noqa: ANN001
    # In chunks of 100: PostgreSQL looks each key up in the unique index (with 1,000 it preferred
    # scanning the table: 35 s of a 55 s import of 100,000 items; see also _analyze).
    found: set[str] = set()
    for i in range(0, len(keys), 100):
        found.update(session.scalars(select(column).where(column.in_(keys[i:i + 100]))))
    return found


def _store(session: Session, batch: list[tuple[str, records.Parsed]], result: ImportResult,
           index: ConversationIndex | None, team_id: int | None, agent_teams: dict, import_id: int,
           problem: Callable[[str], None]) -> None:
    """One transaction: the batch's new conversations, items and evidence."""
    now = utcnow()
    conn = session.connection()
    conv_keys = [p.conversation["import_key"] for _, p in batch if p.conversation]
    known_convs = _existing(session, Conversation.import_key, conv_keys)
    item_keys = [i["import_key"] for _, p in batch for i in p.items]
    known_items = _existing(session, Item.import_key, item_keys)
    new_convs: dict[str, dict] = {}
    for where, p in batch:
        c = p.conversation
        if c is None or c["import_key"] in new_convs:
            continue
        turns = _context(index, c["conversation_id"], p.items, where, problem) if index else None
        if c["import_key"] in known_convs:
            if turns is not None:  # imported before without --conversations: add the context now
                if conn.execute(update(Conversation).where(Conversation.import_key == c["import_key"], Conversation.turns.is_(None))
                                .values(turns=turns)).rowcount:
                    result.context += 1
            continue
        new_convs[c["import_key"]] = {**c, "turns": turns}
        result.context += turns is not None
    conv_ids: dict[str, int] = {}
    if new_convs:
        conv_ids = dict(zip(new_convs, _insert(conn, Conversation, list(new_convs.values())), strict=True))
        result.conversations += len(conv_ids)
    missing = [c["import_key"] for _, p in batch if (c := p.conversation) and c["import_key"] not in conv_ids]
    if missing:
        conv_ids.update(session.execute(select(Conversation.import_key, Conversation.id)
                                        .where(Conversation.import_key.in_(missing))).all())
    items, spans = [], []
    for _, p in batch:
        for item in p.items:
            if item["import_key"] in known_items:
                result.duplicates += 1
                continue
            known_items.add(item["import_key"])
            row = {k: v for k, v in item.items() if k != "evidence"}
            row.update(import_id=import_id, created_at=now, updated_at=now, state="pending",
                       occurred_at=item["occurred_at"] or now,
                       team_id=team_id or agent_teams.get(item["agent_id"]),
                       conversation_pk=conv_ids.get(p.conversation["import_key"]) if p.conversation else None)
            items.append(row)
            spans.append(item["evidence"])
    if items:
        ids = _insert(conn, Item, _fill(items))
        evidence = [{**e, "item_id": item_id} for item_id, es in zip(ids, spans, strict=True) for e in es]
        if evidence:
            _insert(conn, Evidence, evidence)
        result.added += len(ids)
    session.commit()


def _insert(conn: Connection, model: type, rows: list[dict]) -> list[int]:
    """Insert rows (all with the same keys) and return their new ids, in order.

    PostgreSQL: ids drawn from the table's sequence, rows sent with COPY. With multi-row INSERTs
    psycopg spent more time composing the huge statements than the server storing the rows (3.9 s
    of a 9.9 s profiled import of 10,000 items). SQLite: executemany with RETURNING.
    """
    if conn.dialect.name != "postgresql":
        return conn.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows).scalars().all()
    table = model.__table__
    ids = conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                       {"t": table.name, "n": len(rows)}).scalars().all()
    keys = list(rows[0])
    json_keys = {k for k in keys if isinstance(table.c[k].type, JSON)}
    columns = ", ".join(f'"{k}"' for k in ["id", *keys])
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for i, row in zip(ids, rows, strict=True):
            copy.write_row([i, *(orjson.dumps(row[k]).decode() if k in json_keys and row[k] is not None else row[k] for k in keys)])
    return ids


ITEM_COLUMNS = [c.key for c in Item.__table__.columns if c.key != "id"]


def _fill(rows: list[dict]) -> list[dict]:
    """Every row with the same keys: executemany sends one statement shape for the whole batch."""
    return [{k: row.get(k, _DEFAULTS.get(k)) for k in ITEM_COLUMNS} for row in rows]


_DEFAULTS = {"extra": {}, "labels": []}


def _context(index: ConversationIndex, cid: str, items: list[dict], where: str, problem: Callable[[str], None]) -> list | None:
    found = index.get(cid)
    if found is None:
        problem(f"{where}: call {cid}: not in the --conversations file(s); imported without context")
        return None
    source, conversation = found
    turns, why = records.context_turns(conversation, items)
    if why:
        problem(f"{where}: call {cid}: {source}: {why}; imported without context")
    return turns
