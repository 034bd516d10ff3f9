"""Accounts and sessions of the review web UI: argon2 password hashes, signed session cookies
backed by a table (logout really ends a session), CSRF tokens, and a login rate limit.

The signing secret is JIYU_REVIEW_SECRET, else a random one generated once into a file only its
owner can read: next to a SQLite database, else ~/.config/jiyu/review-secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .models import User, WebSession, utcnow

SECRET_ENV = "JIYU_REVIEW_SECRET"
COOKIE = "jiyu_review"
LOGIN_COOKIE = "jiyu_login"  # the login form's CSRF token, before there is a session
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist: the answer takes as long either way.
_DUMMY = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    if user is None or not user.active or not user.password_hash:
        try:
            _hasher.verify(_DUMMY, password)
        except VerificationError:
            pass
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def secret_path(engine: Engine) -> Path:
    if engine.dialect.name == "sqlite" and engine.url.database and engine.url.database != ":memory:":
        db = Path(engine.url.database).resolve()
        return db.with_name(db.name + ".secret")
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "jiyu" / "review-secret"


def load_secret(engine: Engine) -> str:
    """JIYU_REVIEW_SECRET, else the secret file (made on first use, mode 0600)."""
    if value := os.environ.get(SECRET_ENV):
        return value
    path = secret_path(engine)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:  # O_EXCL: two servers starting at once agree on the first one's secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Session cookies: the value is a random token signed with the secret; the table row (by the
    token's sha256) names the user and holds the CSRF token."""

    def __init__(self, secret: str, lifetime: dt.timedelta = dt.timedelta(hours=12)) -> None:
        self.lifetime = lifetime
        self._session = URLSafeTimedSerializer(secret, salt="jiyu-review-session")
        self._login = URLSafeTimedSerializer(secret, salt="jiyu-review-login")

    def start(self, session: Session, user: User) -> str:
        """A new session for `user`; the cookie value. Expired sessions are swept here."""
        now = utcnow()
        token = secrets.token_urlsafe(32)
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(WebSession(id=_digest(token), user_id=user.id, csrf=secrets.token_urlsafe(32), created_at=now,
                               expires_at=now + self.lifetime))
        user.last_login_at = now
        session.commit()
        return self._session.dumps(token)

    def find(self, session: Session, cookie: str | None) -> tuple[User, WebSession] | None:
        if not cookie:
            return None
        try:
            token = self._session.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        row = session.get(WebSession, _digest(str(token)))
        if row is None or row.expires_at < utcnow():
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            return None
        return user, row

    def end(self, session: Session, cookie: str | None) -> None:
        try:
            token = self._session.loads(cookie or "")
        except BadSignature:
            return
        session.execute(delete(WebSession).where(WebSession.id == _digest(str(token))))
        session.commit()

    def end_all(self, session: Session, user_id: int) -> None:
        """After a password change: every browser of the user signs in again."""
        session.execute(delete(WebSession).where(WebSession.user_id == user_id))

    # The login form's token (double submit: the same value in a signed cookie and in the form).
    def login_token(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def login_token_ok(self, cookie: str | None, form_token: str | None) -> bool:
        try:
            token = self._login.loads(cookie or "", max_age=3600)
        except BadSignature:
            return False
        return bool(form_token) and hmac.compare_digest(str(token), form_token)


def csrf_ok(row: WebSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(row.csrf, sent)


class RateLimit:
    """Failed logins per key (user name, client address) in a sliding window; in memory, per
    server process. `retry_after` > 0 refuses the attempt before the password is even checked."""

    def __init__(self, per_user: int = 5, per_ip: int = 20, window: float = 900.0) -> None:
        self.limits = {"user": per_user, "ip": per_ip}
        self.window = window
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, user: str, ip: str) -> int:
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for kind, value in (("user", user.casefold()), ("ip", ip)):
                q = self._recent((kind, value), now)
                if len(q) >= self.limits[kind]:
                    wait = max(wait, q[0] + self.window - now)
            return int(wait) + 1 if wait else 0

    def failed(self, user: str, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (("user", user.casefold()), ("ip", ip)):
                self._recent(key, now).append(now)
            if len(self._fails) > 100_000:  # bounded memory under a spray of names
                self._fails = {k: q for k, q in self._fails.items() if q and q[-1] > now - self.window}

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._fails.pop(("user", user.casefold()), None)


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()
