"""Users, display tokens, login attempts and the audit log in the metadata store
(JINJIAN_METADATA_URL; SQLite by default, PostgreSQL by URL).

Passwords are stored as salted scrypt hashes (werkzeug.security); display tokens
as their SHA-256 only (the token is shown once, when it is created). Every method
is one short transaction. Policy (who may grant what) is in :mod:`auth.admin`.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, and_, func, insert,
                        select, update)
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from store.metastore import open_store, secret_hash

logger = logging.getLogger(__name__)

metadata = MetaData()
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(64), nullable=False, default=""),
    Column("role", String(16), nullable=False),
    Column("scope", String(15), nullable=False),
    Column("pw_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_by", String(64), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("last_login", DateTime, nullable=True),
)
display_tokens = Table(
    "display_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("region", String(15), nullable=False),
    Column("playlist", String(512), nullable=False, default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(64), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    Column("revoked_by", String(64), nullable=True),
)
#: The grids a 网格员 works (one or more grids of their village; none: every grid of their scope).
user_grids = Table(
    "user_grids", metadata,
    Column("username", String(64), primary_key=True),
    Column("grid_code", String(15), primary_key=True),
)
login_attempts = Table(
    "login_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, index=True),
    Column("ip", String(64), nullable=False, default=""),
    Column("at", DateTime, nullable=False, index=True),
    Column("ok", Boolean, nullable=False),
)
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("username", String(64), nullable=False, default=""),
    Column("role", String(16), nullable=False, default=""),
    Column("scope", String(15), nullable=False, default=""),
    Column("action", String(32), nullable=False, index=True),
    Column("ok", Boolean, nullable=False, default=True),
    Column("target", String(255), nullable=False, default=""),
    Column("region", String(15), nullable=False, default=""),
    Column("ip", String(64), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
)


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


token_hash = secret_hash


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    scope: str
    disabled: bool
    session_version: int
    created_by: str
    created_at: dt.datetime
    last_login: dt.datetime | None


@dataclass(frozen=True)
class DisplayToken:
    id: int
    name: str
    region: str
    playlist: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class DuplicateUser(ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} already exists")
        self.user_message = f"用户名已存在：{username}"


def _user(row: Any) -> User:
    return User(row["id"], row["username"], row["display_name"], row["role"], row["scope"], bool(row["disabled"]),
                int(row["session_version"]), row["created_by"], row["created_at"], row["last_login"])


def _token(row: Any) -> DisplayToken:
    playlist = tuple(c for c in (row["playlist"] or "").split(",") if c)
    return DisplayToken(row["id"], row["name"], row["region"], playlist, row["created_by"], row["created_at"],
                        row["revoked_at"])


class AuthStore:
    """The access-control tables of one metadata store."""

    def __init__(self, url: str) -> None:
        self.engine = open_store(url, metadata, "用户库")

    # -- users
    def add_user(self, username: str, password: str, role: str, scope: str, display_name: str = "",
                 created_by: str = "") -> User:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(users).values(
                    username=username, display_name=display_name or username, role=role, scope=scope,
                    pw_hash=generate_password_hash(password), disabled=False, session_version=1,
                    created_by=created_by, created_at=now()))
        except IntegrityError:
            raise DuplicateUser(username) from None
        user = self.get_user(username)
        assert user is not None
        return user

    def get_user(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        return None if row is None else _user(row)

    def set_grids(self, username: str, grids: list[str]) -> None:
        """The grids ``username`` works (replacing any earlier list)."""
        with self.engine.begin() as conn:
            conn.execute(user_grids.delete().where(user_grids.c.username == username))
            if grids:
                conn.execute(insert(user_grids), [{"username": username, "grid_code": g} for g in dict.fromkeys(grids)])

    def grids(self, username: str) -> tuple[str, ...]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(user_grids.c.grid_code).where(user_grids.c.username == username)
                                .order_by(user_grids.c.grid_code)).all()
        return tuple(r[0] for r in rows)

    def list_users(self, scope: str = "") -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).where(users.c.scope.startswith(scope, autoescape=True))
                                .order_by(users.c.scope, users.c.username)).mappings().all()
        return [_user(r) for r in rows]

    def check_password(self, username: str, password: str) -> User | None:
        """The enabled user whose password this is, else None (same work either way)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        stored = row["pw_hash"] if row is not None else _DUMMY_HASH
        ok = check_password_hash(stored, password)
        if row is None or not ok or row["disabled"]:
            return None
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row["id"]).values(last_login=now()))
        return _user(row)

    def update_user(self, username: str, **values: Any) -> User:
        """Change role, scope, display_name, disabled or password; every change but the
        display name ends the user's open sessions (session_version + 1)."""
        changes = {k: v for k, v in values.items() if k in ("role", "scope", "display_name", "disabled")}
        if "password" in values:
            changes["pw_hash"] = generate_password_hash(values["password"])
        if set(changes) - {"display_name"}:
            changes["session_version"] = users.c.session_version + 1
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.username == username).values(**changes))
        user = self.get_user(username)
        assert user is not None
        return user

    def end_sessions(self, username: str) -> None:
        """End every open session of ``username`` (logout: a copied cookie stops working too)."""
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.username == username)
                         .values(session_version=users.c.session_version + 1))

    # -- display tokens
    def add_token(self, name: str, region: str, playlist: tuple[str, ...], created_by: str) -> tuple[DisplayToken, str]:
        token = "jjw_" + secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            res = conn.execute(insert(display_tokens).values(
                name=name, region=region, playlist=",".join(playlist), token_hash=token_hash(token),
                created_by=created_by, created_at=now()))
            tid = int(res.inserted_primary_key[0])
        return self.get_token(tid), token  # type: ignore[return-value]

    def get_token(self, token_id: int) -> DisplayToken | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(display_tokens).where(display_tokens.c.id == token_id)).mappings().first()
        return None if row is None else _token(row)

    def find_token(self, token: str) -> DisplayToken | None:
        """The active display token ``token``, else None (unknown or revoked)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(display_tokens).where(
                display_tokens.c.token_hash == token_hash(token))).mappings().first()
        found = None if row is None else _token(row)
        return found if found is not None and found.active else None

    def list_tokens(self, scope: str = "") -> list[DisplayToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(display_tokens).where(display_tokens.c.region.startswith(scope, autoescape=True))
                                .order_by(display_tokens.c.id)).mappings().all()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: int, by: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(display_tokens).where(display_tokens.c.id == token_id,
                                                            display_tokens.c.revoked_at.is_(None))
                               .values(revoked_at=now(), revoked_by=by))
        return res.rowcount > 0

    # -- login throttling
    def note_login(self, username: str, ip: str, ok: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(login_attempts).values(username=username, ip=ip, at=now(), ok=ok))

    def recent_failures(self, username: str, ip: str, since: dt.datetime) -> tuple[int, int, dt.datetime | None]:
        """Failed logins since ``since`` (and since the user's last success): for the
        username, for the IP address, and the time of the oldest counted failure."""
        with self.engine.connect() as conn:
            last_ok = conn.execute(select(func.max(login_attempts.c.at)).where(
                login_attempts.c.username == username, login_attempts.c.ok.is_(True))).scalar()
            start = max(since, last_ok + dt.timedelta(seconds=1)) if last_ok else since
            failed = and_(login_attempts.c.ok.is_(False), login_attempts.c.at >= start)
            by_user = conn.execute(select(func.count(), func.min(login_attempts.c.at)).where(
                failed, login_attempts.c.username == username)).one()
            by_ip = conn.execute(select(func.count()).where(
                login_attempts.c.ok.is_(False), login_attempts.c.at >= since, login_attempts.c.ip == ip)).scalar()
        return int(by_user[0]), int(by_ip or 0), by_user[1]

    # -- audit
    def audit(self, **entry: Any) -> None:
        entry.setdefault("at", now())
        with self.engine.begin() as conn:
            conn.execute(insert(audit_log).values(**entry))

    def audit_rows(self, scope: str = "", action: str = "", username: str = "", ok: bool | None = None,
                   start: dt.datetime | None = None, end: dt.datetime | None = None,
                   limit: int = 5000) -> list[dict[str, Any]]:
        """Audit entries, newest first, of users and regions within ``scope``."""
        c = audit_log.c
        conds = [c.scope.startswith(scope, autoescape=True)] if scope else []
        if action:
            conds.append(c.action == action)
        if username:
            conds.append(c.username == username)
        if ok is not None:
            conds.append(c.ok.is_(ok))
        if start is not None:
            conds.append(c.at >= start)
        if end is not None:
            conds.append(c.at < end)
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_log).where(*conds).order_by(c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]


_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))
