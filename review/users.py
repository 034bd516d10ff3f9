"""Accounts from the command line: add, list, change a password. Each change is an audit row."""

from __future__ import annotations

import getpass
import sys

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from .auth import hash_password
from .db import sessions
from .models import AuditEntry, Team, TeamMember, User

MIN_PASSWORD = 8


class UserError(Exception):
    pass


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UserError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def count_users(engine: Engine) -> int:
    with sessions(engine)() as s:
        return s.scalar(select(func.count()).select_from(User))


def add_user(engine: Engine, name: str, role: str, teams: list[str], password: str, display_name: str | None = None) -> int:
    name = name.strip()
    if not name or len(name) > 100:
        raise UserError("a user name of 1 to 100 characters")
    with sessions(engine)() as s:
        if s.scalar(select(User.id).where(User.username == name)):
            raise UserError(f"user {name} exists (jiyu review users passwd {name} changes the password)")
        user = User(username=name, role=role, display_name=display_name, password_hash=hash_password(password))
        for t in teams:
            team = s.scalars(select(Team).where(Team.name == t)).first() or Team(name=t)
            user.teams.append(team)
        s.add(user)
        s.flush()
        s.add(AuditEntry(user_id=None, action="user_add", entity="users", entity_id=user.id, before=None,
                         after={"username": name, "role": role, "teams": teams}))
        s.commit()
        return user.id


def set_password(engine: Engine, name: str, password: str) -> None:
    from sqlalchemy import delete

    from .models import WebSession

    with sessions(engine)() as s:
        user = s.scalars(select(User).where(User.username == name)).first()
        if user is None:
            raise UserError(f"no user {name}")
        user.password_hash = hash_password(password)
        s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        s.add(AuditEntry(user_id=None, action="user_passwd", entity="users", entity_id=user.id, before=None, after={"username": name}))
        s.commit()


def list_users(engine: Engine) -> list[dict]:
    with sessions(engine)() as s:
        users = s.scalars(select(User).order_by(User.username)).all()
        names = {t.id: t.name for t in s.scalars(select(Team)).all()}
        members = s.execute(select(TeamMember.user_id, TeamMember.team_id)).all()
        teams: dict[int, list[str]] = {}
        for uid, tid in members:
            teams.setdefault(uid, []).append(names[tid])
        return [{"username": u.username, "role": u.role, "active": u.active, "last_login_at": u.last_login_at,
                 "teams": sorted(teams.get(u.id, []))} for u in users]


def first_admin(engine: Engine) -> None:
    """The first run of `jiyu review serve` on a new database: ask for an admin account."""
    name = input("admin user name [admin]: ").strip() or "admin"
    while True:
        try:
            add_user(engine, name, "admin", [], read_password(False))
            print(f"added {name} (admin)", file=sys.stderr)
            return
        except UserError as e:
            print(f"jiyu review: {e}", file=sys.stderr)
