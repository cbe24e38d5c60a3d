"""``python -m etl users | display | audit``: accounts, wall-screen tokens and the audit
log from the host's command line.

The command line acts as the operator of the host (``Actor(None)``, audited as user
``cli``): any role, any scope inside the jurisdiction (JINJIAN_ROOT_REGION). Every
change goes through :mod:`auth.admin`, so the same rules and the same audit entries
apply as on the /admin page. Errors are one line on stderr with exit status 2.

``users demo`` creates the documented demo accounts (see :data:`DEMO_USERS`) and a
wall token for Dongguan, skipping whatever exists already.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import secrets
import sys
import unicodedata
from pathlib import Path
from typing import Any, Iterator, Sequence

from settings import Settings

COMMANDS = ("users", "display", "audit")

DEMO_PASSWORD = "Jinjian-demo-2026"
#: (username, display name, role, scope) of the demo accounts.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "演示管理员", "admin", "44"),            # 系统管理员, Guangdong
    ("gd_leader", "省局领导（演示）", "leader", "44"),    # 领导, Guangdong
    ("dg_supervisor", "东莞监管员（演示）", "supervisor", "4419"),  # 监管人员, Dongguan city
    ("dg_town_viewer", "东城街道只读（演示）", "viewer", "441900003"),  # 只读用户, 东城街道 (Dongguan)
)
DEMO_WALL_NAME = "东莞指挥中心大屏"
DEMO_WALL_REGION = "4419"
DEMO_WALL_FILE = "demo_wall_link.txt"

_PW_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I


# -- the command line ---------------------------------------------------------------------------

def add_commands(sub: argparse._SubParsersAction) -> None:
    from auth.roles import ROLES

    roles = ", ".join(f"{k} ({r.zh})" for k, r in ROLES.items())

    def password_options(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input (one line; asks twice on a terminal)")
        g.add_argument("--password", metavar="P",
                       help="the password (visible in the process list and shell history; prefer --password-stdin)")

    u = sub.add_parser("users", help="user accounts: add, list, set, disable, enable, passwd, demo")
    us = u.add_subparsers(dest="users_cmd", required=True)
    p = us.add_parser("add", help="create a user (without a password: a random one is generated and shown once)")
    p.add_argument("username")
    p.add_argument("--role", required=True, help=f"one of {roles}")
    p.add_argument("--scope", required=True, metavar="CODE", help="region code the user may see (e.g. 4419)")
    p.add_argument("--display-name", default="", help="name shown in the app (default: the user name)")
    password_options(p)
    p = us.add_parser("list", help="list users")
    p.add_argument("--scope", default="", metavar="CODE", help="only users whose scope lies inside CODE")
    p = us.add_parser("set", help="change a user's role, scope or display name")
    p.add_argument("username")
    p.add_argument("--role", help=f"one of {roles}")
    p.add_argument("--scope", metavar="CODE")
    p.add_argument("--display-name")
    us.add_parser("disable", help="disable a user (ends their sessions)").add_argument("username")
    us.add_parser("enable", help="enable a disabled user").add_argument("username")
    p = us.add_parser("passwd", help="set a user's password (without one: a random one is generated and shown once)")
    p.add_argument("username")
    password_options(p)
    us.add_parser("demo", help=f"create the demo accounts (password {DEMO_PASSWORD}) and wall link; idempotent")

    d = sub.add_parser("display", help="wall-screen display tokens: add, list, revoke")
    ds = d.add_subparsers(dest="display_cmd", required=True)
    p = ds.add_parser("add", help="create a display token; its /wall/ link is shown once")
    p.add_argument("--name", required=True, help="name of the screen (e.g. 东莞指挥中心大屏)")
    p.add_argument("--region", required=True, metavar="CODE", help="region the screen shows")
    p.add_argument("--playlist", default="", metavar="CODES",
                   help="comma-separated region codes inside CODE the wall rotates through (e.g. 4419,441900003)")
    ds.add_parser("list", help="list display tokens")
    ds.add_parser("revoke", help="revoke a display token").add_argument("id", type=int)

    a = sub.add_parser("audit", help="print the audit log, newest first")
    a.add_argument("--action", default="", help="only this action (e.g. login_failed, user_create)")
    a.add_argument("--user", default="", help="only entries of this user name")
    a.add_argument("--failed", action="store_true", help="only refused / failed entries")
    a.add_argument("--since", type=dt.date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="only entries from this day on")
    a.add_argument("--limit", type=int, default=50, metavar="N", help="at most N entries (default 50)")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from auth.roles import ROLES, UnknownRole
    from queries.errors import JinjianError

    try:
        with _as_cli(settings):
            if args.cmd == "users":
                return _USERS[args.users_cmd](args, settings)
            if args.cmd == "display":
                return _DISPLAY[args.display_cmd](args, settings)
            return _audit(args)
    except UnknownRole as exc:
        valid = ", ".join(f"{k} {r.zh}" for k, r in ROLES.items())
        return _fail(f"{exc.user_message}（可选：{valid}）")
    except JinjianError as exc:
        extra = f" ({exc.detail})" if exc.http_status >= 500 and exc.detail != exc.user_message else ""
        return _fail(f"{exc.user_message}{extra}")
    except ValueError as exc:  # DuplicateUser, InvalidRegionCode, … carry a user_message
        return _fail(getattr(exc, "user_message", None) or str(exc))
    except SQLAlchemyError as exc:
        return _fail(f"metadata store (JINJIAN_METADATA_URL): {exc}".splitlines()[0])
    except OSError as exc:
        return _fail(str(exc))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


@contextlib.contextmanager
def _as_cli(settings: Settings) -> Iterator[None]:
    """Bind the principal ``cli`` (an administrator of the jurisdiction) while a command
    runs, so that audit entries written by :mod:`auth.admin` name the command line
    rather than the anonymous ``system`` principal."""
    import flask

    from auth.current import Principal
    from auth.roles import ROLES

    app = flask.Flask("jinjian.cli")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": ""}):
        flask.g.principal = Principal("system", "cli", "admin", settings.root_region, ROLES["admin"].perms)
        yield


def _actor():  # noqa: ANN202 - auth.admin.Actor
    from auth.admin import Actor

    return Actor(None)


def _store():  # noqa: ANN202 - auth.store.AuthStore
    from auth import audit

    return audit.store()


# -- helpers -------------------------------------------------------------------------------------

def _region(code: str) -> str:
    """A region code that exists in the region tree (grid codes: their village must)."""
    from auth.admin import check_region_exists

    return check_region_exists(code)


def _region_label(code: str) -> str:
    from etl.regions import region_name

    try:
        name = region_name(code[:12]) if code else "全国"
    except ValueError:
        name = None
    return f"{code} {name}" if name else (code or "全国")


def _when(value: dt.datetime | None, empty: str = "-") -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else empty


def random_password() -> str:
    """16 random characters in four groups (about 92 bits), always with letters and digits."""
    from auth.admin import check_password_strength

    while True:
        chars = "".join(secrets.choice(_PW_ALPHABET) for _ in range(16))
        pw = "-".join(chars[i:i + 4] for i in range(0, 16, 4))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            check_password_strength(pw)
            return pw


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password given (--password, --password-stdin), else a generated one;
    the flag says whether it was generated (and must be shown)."""
    from queries.errors import InvalidParameter

    if args.password is not None:
        return args.password, False
    if args.password_stdin:
        if sys.stdin.isatty():
            first = getpass.getpass("password: ")
            if getpass.getpass("again: ") != first:
                raise InvalidParameter("passwords differ", user_message="两次输入的密码不一致")
            return first, False
        line = sys.stdin.readline()
        if not line.strip():
            raise InvalidParameter("no password on stdin", user_message="标准输入中没有密码")
        return line.rstrip("\r\n"), False
    return random_password(), True


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns that stay aligned with Chinese (double-width) text."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def _user_line(user: Any) -> str:
    from auth.roles import ROLES

    role = ROLES[user.role].zh if user.role in ROLES else user.role
    return f"{user.username} ({user.display_name}; {role}; {_region_label(user.scope)})"


# -- users ---------------------------------------------------------------------------------------

def _users_add(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    scope = _region(args.scope)
    password, generated = _password(args)
    user = admin.create_user(_store(), _actor(), args.username, password, args.role, scope, args.display_name)
    print(f"created user {_user_line(user)}")
    if generated:
        print(f"password: {password}\n(shown once; give it to the user and ask them to change it)")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin
    from auth.roles import ROLES

    prefix = _region(args.scope) if args.scope else ""
    users = [u for u in admin.list_users(_store(), _actor()) if u.scope.startswith(prefix)]
    if not users:
        print("no users" + (f" in {_region_label(prefix)}" if prefix else ""))
        return 0
    rows = [(u.username, u.display_name, ROLES[u.role].zh if u.role in ROLES else u.role, _region_label(u.scope),
             "停用" if u.disabled else "启用", _when(u.last_login, "从未登录")) for u in users]
    print(_table(("用户名", "姓名", "角色", "范围", "状态", "最近登录"), rows))
    return 0


def _users_set(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    if args.role is None and args.scope is None and args.display_name is None:
        return _fail("users set needs --role, --scope or --display-name")
    store = _store()
    before = store.get_user(args.username)
    scope = _region(args.scope) if args.scope is not None else None
    user = admin.update_user(store, _actor(), args.username, role=args.role, scope=scope,
                             display_name=args.display_name)
    print(f"{'updated' if user != before else 'unchanged'}: {_user_line(user)}")
    return 0


def _users_enable(args: argparse.Namespace, settings: Settings, disabled: bool = False) -> int:  # noqa: ARG001
    from auth import admin

    store = _store()
    before = store.get_user(args.username)
    user = admin.update_user(store, _actor(), args.username, disabled=disabled)
    state = "disabled" if disabled else "enabled"
    if before is not None and before.disabled == disabled:
        print(f"{user.username} was already {state}")
    else:
        print(f"{user.username} {state}" + (" (open sessions ended)" if disabled else ""))
    return 0


def _users_disable(args: argparse.Namespace, settings: Settings) -> int:
    return _users_enable(args, settings, disabled=True)


def _users_passwd(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    from queries.errors import InvalidParameter

    store = _store()
    if store.get_user(args.username) is None:  # before asking for a password
        raise InvalidParameter(f"no user {args.username!r}", user_message=f"用户不存在：{args.username}")
    password, generated = _password(args)
    user = admin.update_user(store, _actor(), args.username, password=password)
    print(f"password of {user.username} changed (open sessions ended)")
    if generated:
        print(f"password: {password}\n(shown once; give it to the user and ask them to change it)")
    return 0


def _users_demo(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    """The demo accounts and wall link; what exists already is kept as it is."""
    from auth import admin
    from auth.current import effective_scope

    store, actor, root = _store(), _actor(), settings.root_region
    created = 0
    for username, display_name, role, scope in DEMO_USERS:
        existing = store.get_user(username)
        if existing is not None:
            print(f"kept    {_user_line(existing)}")
            continue
        inside = effective_scope(scope, root)
        if inside is None:
            print(f"skipped {username}: scope {scope} lies outside the jurisdiction {root} (JINJIAN_ROOT_REGION)")
            continue
        user = admin.create_user(store, actor, username, DEMO_PASSWORD, role, inside, display_name)
        print(f"created {_user_line(user)}")
        created += 1
    created += _demo_wall(store, actor, settings)
    print(f"demo accounts: {created} created; password of new accounts: {DEMO_PASSWORD}" if created
          else "demo accounts: nothing to create")
    return 0


def _demo_wall(store: Any, actor: Any, settings: Settings) -> int:
    """The demo wall token and its link file: kept when the file's link still opens an
    active token of that name; otherwise stale ones of that name are revoked and a new
    token is written to the file (its secret cannot be recovered from the store)."""
    from auth import admin
    from auth.current import effective_scope

    path = demo_link_file(settings)
    region = effective_scope(DEMO_WALL_REGION, settings.root_region)
    if region is None:
        print(f"skipped the demo wall: {DEMO_WALL_REGION} lies outside the jurisdiction {settings.root_region}")
        return 0
    active = [t for t in store.list_tokens() if t.name == DEMO_WALL_NAME and t.active]
    link = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    secret = link.rsplit("/wall/", 1)[-1] if "/wall/" in link else ""
    found = store.find_token(secret) if secret else None
    if found is not None and found.name == DEMO_WALL_NAME:
        print(f"kept    display token {found.id} 「{found.name}」; link in {path}:\n        {link}")
        return 0
    for token in active:  # its link is lost: replace it
        admin.revoke_token(store, actor, token.id)
        print(f"revoked display token {token.id} 「{token.name}」 (its link was not in {path})")
    token, secret = admin.create_token(store, actor, DEMO_WALL_NAME, region)
    link = f"{_base_url(settings)}/wall/{secret}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(link + "\n", encoding="utf-8")
    path.chmod(0o600)
    print(f"created display token {token.id} 「{token.name}」 for {_region_label(region)}; link in {path}:\n"
          f"        {link}")
    return 1


def _base_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.port}"


_USERS = {"add": _users_add, "list": _users_list, "set": _users_set, "disable": _users_disable,
          "enable": _users_enable, "passwd": _users_passwd, "demo": _users_demo}


# -- display tokens ------------------------------------------------------------------------------

def _display_add(args: argparse.Namespace, settings: Settings) -> int:
    from auth import admin

    region = _region(args.region)
    playlist = tuple(_region(c) for c in admin.parse_playlist(args.playlist))
    token, secret = admin.create_token(_store(), _actor(), args.name, region, playlist)
    shown = f" (playlist {','.join(token.playlist)})" if token.playlist else ""
    print(f"display token {token.id} 「{token.name}」 for {_region_label(token.region)}{shown}\n"
          f"link: /wall/{secret}\n"
          f"open it on the screen as e.g. {_base_url(settings)}/wall/{secret}\n"
          f"The link is shown only this once and cannot be shown again; keep it like a password. "
          f"Revoke it with `python -m etl display revoke {token.id}`.")
    return 0


def _display_list(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    tokens = admin.list_tokens(_store(), _actor())
    if not tokens:
        print("no display tokens")
        return 0
    rows = [(t.id, t.name, _region_label(t.region), ",".join(t.playlist) or "-",
             "有效" if t.active else f"已吊销 {_when(t.revoked_at)}", _when(t.created_at), t.created_by or "-")
            for t in tokens]
    print(_table(("ID", "名称", "区域", "轮播", "状态", "创建时间", "创建人"), rows))
    return 0


def _display_revoke(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    store = _store()
    if admin.revoke_token(store, _actor(), args.id):
        print(f"display token {args.id} revoked; its link no longer opens the wall")
    else:
        print(f"display token {args.id} was already revoked")
    return 0


_DISPLAY = {"add": _display_add, "list": _display_list, "revoke": _display_revoke}


# -- audit ---------------------------------------------------------------------------------------

def _audit(args: argparse.Namespace) -> int:
    from auth.audit import ACTIONS_ZH

    if args.action and args.action not in ACTIONS_ZH:
        return _fail(f"unknown action {args.action!r}; one of {', '.join(ACTIONS_ZH)}")
    if not 1 <= args.limit <= 100_000:
        return _fail("--limit must be 1..100000")
    start = dt.datetime.combine(args.since, dt.time()) if args.since else None
    # The host operator reads every entry, including failed logins (which carry no scope).
    rows = _store().audit_rows(action=args.action, username=args.user, ok=False if args.failed else None,
                               start=start, limit=args.limit)
    if not rows:
        print("no audit entries")
        return 0
    table = [(_when_s(r["at"]), r["username"] or "-", f"{ACTIONS_ZH.get(r['action'], r['action'])} ({r['action']})",
              "成功" if r["ok"] else "拒绝/失败", r["target"] or "-", r["region"] or "-", r["ip"] or "-",
              (r["detail"] or "").replace("\n", " ")[:120]) for r in rows]
    print(_table(("时间", "用户", "操作", "结果", "对象", "区域", "IP", "详情"), table))
    return 0


def _when_s(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def demo_link_file(settings: Settings) -> Path:
    """Where ``users demo`` writes the demo wall link."""
    return settings.data_dir / DEMO_WALL_FILE
