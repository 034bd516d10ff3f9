"""The review store on SQLite and on a real PostgreSQL server: migrations, atomic claims,
decisions through first and second review, undo, appeals, filters."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from detector.cli import main as jiyu
from review import db
from review.models import Appeal, AuditEntry, Base, Evidence, Item, Review, User
from review.queue import Filters, Order, ReviewError, claim_next, decide, file_appeal, release, resolve_appeal, undo

T0 = dt.datetime(2026, 5, 1, 9, 0)


def add_users(engine, *names: str, role: str = "reviewer") -> list[int]:  # noqa: ANN001
    with db.sessions(engine)() as s:
        users = [User(username=n, role=role) for n in names]
        s.add_all(users)
        s.commit()
        return [u.id for u in users]


def add_items(engine, n: int, **overrides) -> list[int]:  # noqa: ANN001, ANN003
    """n flagged items, each with one lexicon span; fields vary so filters have something to find."""
    cats = ("impatient", "unfriendly", "impolite", "disrespectful")
    rows = [{"import_key": f"k{i}", "kind": "utterance", "text": f"有完没完{i}", "decision": "violation" if i % 3 else "review",
             "score": round(0.4 + (i % 60) / 100, 2), "labels": [cats[i % 4]], "category": cats[i % 4], "severity": 2,
             "agent_id": f"A{i % 5}", "channel": "call" if i % 2 else "chat", "occurred_at": T0 + dt.timedelta(hours=i),
             "state": "pending", "extra": {}, **overrides} for i in range(n)]
    with db.sessions(engine)() as s:
        ids = s.execute(insert(Item).returning(Item.id, sort_by_parameter_order=True), rows).scalars().all()
        s.execute(insert(Evidence), [{"item_id": i, "start": 0, "end": 4, "text": "有完没完", "category": r["category"],
                                      "source": "pinyin" if k % 7 == 0 else "lexicon", "rule_id": f"r{k % 3}", "severity": 2,
                                      "extra": {}} for k, (i, r) in enumerate(zip(ids, rows, strict=True))])
        s.commit()
        return ids


# -- migrations ------------------------------------------------------------------------------


def test_when_db_upgrade_runs_on_an_empty_database_then_it_creates_every_table_and_again_is_a_no_op(store_url):
    engine = db.engine_for(store_url)
    try:
        assert db.current_revision(engine) is None and inspect(engine).get_table_names() == []
        assert db.upgrade(engine) == (None, db.head_revision())
        assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        assert db.upgrade(engine) == (db.head_revision(), db.head_revision())
        with engine.connect() as conn:  # the models and the migration describe the same schema
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
    finally:
        engine.dispose()


def test_when_jiyu_review_db_upgrade_runs_twice_then_the_second_says_current(store_url, capsys):
    assert jiyu(["review", "db", "upgrade", "--db", store_url]) == 0
    assert "(was empty)" in capsys.readouterr().out
    assert jiyu(["review", "db", "upgrade", "--db", store_url]) == 0
    assert "already current" in capsys.readouterr().out
    assert jiyu(["review", "db", "current", "--db", store_url]) == 0


def test_when_the_store_is_sqlite_then_wal_and_foreign_keys_are_on(tmp_path):
    engine = db.engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


# -- claims ----------------------------------------------------------------------------------


def test_when_two_reviewers_claim_concurrently_then_no_item_is_claimed_twice_and_none_is_lost(store):
    ids = set(add_items(store, 1000))
    reviewers = add_users(store, "甲", "乙")
    claimed: dict[int, list[int]] = {r: [] for r in reviewers}
    errors: list[BaseException] = []
    start = threading.Barrier(len(reviewers))

    def work(reviewer: int) -> None:
        engine = db.engine_for(store.url.render_as_string(hide_password=False))  # a connection of its own
        try:
            with db.sessions(engine)() as s:
                start.wait()
                while (item := claim_next(s, reviewer)) is not None:
                    claimed[reviewer].append(item.id)
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            errors.append(e)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    a, b = claimed.values()
    assert len(a) + len(b) == 1000 and set(a).isdisjoint(b) and set(a) | set(b) == ids
    assert a and b, "both reviewers got work"
    with db.sessions(store)() as s:
        owners = dict(s.execute(select(Item.id, Item.claimed_by)).all())
    assert all(owners[i] == r for r, got in claimed.items() for i in got)


def test_when_a_claim_expires_then_the_item_is_claimable_again(store):
    (item_id,) = add_items(store, 1)
    first, second = add_users(store, "甲", "乙")
    timeout = dt.timedelta(minutes=10)
    with db.sessions(store)() as s:
        assert claim_next(s, first, timeout=timeout, now=T0).id == item_id
        assert claim_next(s, second, timeout=timeout, now=T0 + timeout - dt.timedelta(seconds=1)) is None
        taken = claim_next(s, second, timeout=timeout, now=T0 + timeout + dt.timedelta(seconds=1))
        assert taken.id == item_id and taken.claimed_by == second
        # The first reviewer's late decision cannot overwrite the claim they lost.
        with pytest.raises(ReviewError, match="not claimed by this reviewer"):
            decide(s, item_id, first, "confirm")
        assert release(s, item_id, second) and claim_next(s, first, now=T0 + timeout * 2).id == item_id


@pytest.mark.parametrize("filters, expected", [
    (Filters(category="impolite"), lambda i: i % 4 == 2),
    (Filters(source="pinyin"), lambda i: i % 7 == 0),
    (Filters(rule_id="r1", category="impatient"), lambda i: i % 3 == 1 and i % 4 == 0),
    (Filters(agent_id="A3", channel="call"), lambda i: i % 5 == 3 and i % 2 == 1),
    (Filters(decision="review"), lambda i: i % 3 == 0),
    (Filters(score_min=0.9), lambda i: 0.4 + (i % 60) / 100 >= 0.9),
    (Filters(date_from=T0 + dt.timedelta(hours=10), date_to=T0 + dt.timedelta(hours=20)), lambda i: 10 <= i < 20),
])
def test_when_the_queue_is_filtered_then_claims_take_only_matching_items(store, filters, expected):
    ids = add_items(store, 120)
    (reviewer,) = add_users(store, "甲")
    got = []
    with db.sessions(store)() as s:
        while (item := claim_next(s, reviewer, filters)) is not None:
            got.append(item.id)
    assert sorted(got) == [item_id for i, item_id in enumerate(ids) if expected(i)] and got


def test_when_ordered_by_score_or_uncertainty_then_claims_follow_that_order(store):
    add_items(store, 60)
    (reviewer,) = add_users(store, "甲")
    with db.sessions(store)() as s:
        by_score = [claim_next(s, reviewer, order=Order("score")).score for _ in range(5)]
        assert by_score == sorted(by_score, reverse=True) and by_score[0] == 0.99
        near = claim_next(s, reviewer, order=Order("uncertainty", (0.4, 0.8)))
        assert near.score in (0.4, 0.8)


# -- decisions -------------------------------------------------------------------------------


def test_when_items_are_decided_then_outcomes_reviews_and_audit_rows_are_kept(store):
    ids = add_items(store, 2)
    (reviewer,) = add_users(store, "甲")
    with db.sessions(store)() as s:
        a = claim_next(s, reviewer)
        decide(s, a.id, reviewer, "confirm", category="unfriendly", severity=3, note="语气")
        b = claim_next(s, reviewer)
        with pytest.raises(ReviewError, match="needs one of"):
            decide(s, b.id, reviewer, "reject")
        decide(s, b.id, reviewer, "reject", reason="quoting")
        assert claim_next(s, reviewer) is None
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))}
        assert (items[a.id].state, items[a.id].outcome, items[a.id].final_category, items[a.id].final_severity) == (
            "done", "confirmed", "unfriendly", 3)
        assert (items[b.id].state, items[b.id].outcome, items[b.id].claimed_by) == ("done", "rejected", None)
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "decide").order_by(AuditEntry.id)).all()
        assert [(e.entity_id, e.before["state"], e.after["state"], e.after["decision"]) for e in audit] == [
            (a.id, "pending", "done", "confirm"), (b.id, "pending", "done", "reject")]
        assert s.scalar(select(func.count()).select_from(Review)) == 2


@pytest.mark.parametrize("second, category, state, outcome", [
    ("confirm", None, "done", "confirmed"),
    ("reject", None, "disputed", None),
    ("confirm", "impolite", "disputed", None),  # the same decision with another category is a disagreement
])
def test_when_an_item_is_sampled_for_second_review_then_another_reviewer_decides_blind(store, second, category, state, outcome):
    add_items(store, 1)
    first, other, lead = add_users(store, "甲", "乙", "组长")
    with db.sessions(store)() as s:
        item = claim_next(s, first)
        decide(s, item.id, first, "confirm", second_share=1.0)
        item = s.get(Item, item.id, populate_existing=True)
        assert (item.state, item.outcome) == ("second_review", None)  # blind: no outcome to see yet
        assert claim_next(s, first, stage="second") is None  # never one's own item
        assert claim_next(s, other, stage="second").id == item.id
        decide(s, item.id, other, second, category=category, reason="innocent_sense" if second == "reject" else None)
        item = s.get(Item, item.id, populate_existing=True)
        assert (item.state, item.outcome) == (state, outcome)
        if state == "disputed":
            assert claim_next(s, lead, stage="lead").id == item.id
            decide(s, item.id, lead, "reject", reason="other", note="组长裁定")
            item = s.get(Item, item.id, populate_existing=True)
            assert (item.state, item.outcome, [r.round for r in item.reviews]) == ("done", "rejected", ["first", "second", "lead"])


def test_when_a_decision_is_undone_then_the_item_returns_claimed_by_its_reviewer(store):
    add_items(store, 2)
    reviewer, other = add_users(store, "甲", "乙")
    with db.sessions(store)() as s:
        item = claim_next(s, reviewer)
        decide(s, item.id, reviewer, "reject", reason="asr_error")
        back = undo(s, reviewer)
        assert (back.id, back.state, back.outcome, back.claimed_by) == (item.id, "pending", None, reviewer)
        assert s.scalars(select(Review)).one().undone_at is not None
        assert claim_next(s, other).id != item.id  # still the reviewer's
        decide(s, item.id, reviewer, "confirm")
        assert s.get(Item, item.id, populate_existing=True).outcome == "confirmed"
        assert [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))] == ["decide", "undo", "decide"]


@pytest.mark.parametrize("status, outcome", [("upheld", "confirmed"), ("overturned", "rejected")])
def test_when_an_agent_appeals_a_confirmed_violation_then_a_lead_resolves_it(store, status, outcome):
    add_items(store, 1)
    reviewer, lead = add_users(store, "甲", "组长")
    with db.sessions(store)() as s:
        item = claim_next(s, reviewer)
        with pytest.raises(ReviewError, match="only a confirmed violation"):
            file_appeal(s, item.id, "我是在复述客户的话")
        decide(s, item.id, reviewer, "confirm")
        appeal = file_appeal(s, item.id, "我是在复述客户的话")
        assert (appeal.agent_id, s.get(Item, item.id, populate_existing=True).state) == ("A0", "appealed")
        resolve_appeal(s, appeal.id, lead, status, note="听了录音")
        item = s.get(Item, item.id, populate_existing=True)
        assert (item.state, item.outcome) == ("done", outcome)
        assert s.get(Appeal, appeal.id, populate_existing=True).status == status
