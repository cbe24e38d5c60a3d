"""``python -m etl users``: create, list and change user accounts, and the demo accounts.

Passwords are given (``--password``, ``--password-stdin``) or generated
(:func:`random_password`) and then printed once. ``users demo`` creates the documented demo
accounts (see :data:`DEMO_USERS`) and a wall token for Dongguan whose link it writes to
:func:`demo_link_file`, skipping whatever exists already.
"""
from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path
from typing import Any

from auth.cli_common import auth_store, base_url, cli_actor, fail, format_table, known_region, region_label, when
from settings import Settings

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "DEMO_WALL_NAME", "DEMO_WALL_REGION", "USERS", "demo_link_file",
           "random_password"]

DEMO_PASSWORD = "Jinjian-demo-2026"
#: (username, display name, role, scope) of the demo accounts.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "演示管理员", "admin", "44"),            # 系统管理员, Guangdong
    ("gd_leader", "省局领导（演示）", "leader", "44"),    # 领导, Guangdong
    ("dg_supervisor", "东莞监管员（演示）", "supervisor", "4419"),  # 监管人员, Dongguan city
    ("dg_town_viewer", "东城街道只读（演示）", "viewer", "441900003"),  # 只读用户, 东城街道 (Dongguan)
)
#: The workbench's demo accounts (网格工作台), in 东城街道: (username, display name, role, level of
#: their binding); the village and grids are the first ones of the town that hold grids.
DEMO_WORK_TOWN = "441900003"
DEMO_WORK_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("dg_grid_worker", "网格员（演示）", "grid_worker", "grids"),
    ("dg_grid_worker2", "网格员二（演示）", "grid_worker", "grids2"),  # the village's next grid: 改派 to it
    ("dg_dispatcher", "社区调度员（演示）", "village_dispatcher", "village"),
    ("dg_town_handler", "镇街处置人员（演示）", "town_handler", "town"),
)
DEMO_WALL_NAME = "东莞指挥中心大屏"
DEMO_WALL_REGION = "4419"
DEMO_WALL_FILE = "demo_wall_link.txt"

_PW_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I


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
    from domain.errors import InvalidParameter

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


def _user_line(user: Any) -> str:
    from auth.roles import ROLES

    role = ROLES[user.role].zh if user.role in ROLES else user.role
    return f"{user.username} ({user.display_name}; {role}; {region_label(user.scope)})"


# -- users ---------------------------------------------------------------------------------------

def _users_add(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    scope = known_region(args.scope)
    password, generated = _password(args)
    user = admin.create_user(auth_store(), cli_actor(), args.username, password, args.role, scope,
                             args.display_name, [g for g in (args.grids or "").split(",") if g.strip()])
    print(f"created user {_user_line(user)}")
    if generated:
        print(f"password: {password}\n(shown once; give it to the user and ask them to change it)")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin
    from auth.roles import ROLES

    prefix = known_region(args.scope) if args.scope else ""
    users = [u for u in admin.list_users(auth_store(), cli_actor()) if u.scope.startswith(prefix)]
    if not users:
        print("no users" + (f" in {region_label(prefix)}" if prefix else ""))
        return 0
    rows = [(u.username, u.display_name, ROLES[u.role].zh if u.role in ROLES else u.role, region_label(u.scope),
             "停用" if u.disabled else "启用", when(u.last_login, "从未登录")) for u in users]
    print(format_table(("用户名", "姓名", "角色", "范围", "状态", "最近登录"), rows))
    return 0


def _users_set(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    from auth import admin

    if args.role is None and args.scope is None and args.display_name is None:
        return fail("users set needs --role, --scope or --display-name")
    store = auth_store()
    before = store.get_user(args.username)
    scope = known_region(args.scope) if args.scope is not None else None
    user = admin.update_user(store, cli_actor(), args.username, role=args.role, scope=scope,
                             display_name=args.display_name)
    print(f"{'updated' if user != before else 'unchanged'}: {_user_line(user)}")
    return 0


def _users_enable(args: argparse.Namespace, settings: Settings, disabled: bool = False) -> int:  # noqa: ARG001
    from auth import admin

    store = auth_store()
    before = store.get_user(args.username)
    user = admin.update_user(store, cli_actor(), args.username, disabled=disabled)
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

    from domain.errors import InvalidParameter

    store = auth_store()
    if store.get_user(args.username) is None:  # before asking for a password
        raise InvalidParameter(f"no user {args.username!r}", user_message=f"用户不存在：{args.username}")
    password, generated = _password(args)
    user = admin.update_user(store, cli_actor(), args.username, password=password)
    print(f"password of {user.username} changed (open sessions ended)")
    if generated:
        print(f"password: {password}\n(shown once; give it to the user and ask them to change it)")
    return 0


def _users_demo(args: argparse.Namespace, settings: Settings) -> int:  # noqa: ARG001
    """The demo accounts and wall link; what exists already is kept as it is."""
    from auth.current import effective_scope

    store, actor, root = auth_store(), cli_actor(), settings.root_region
    created = 0
    for username, display_name, role, scope in DEMO_USERS:
        inside = effective_scope(scope, root)
        if inside is None and store.get_user(username) is None:
            print(f"skipped {username}: scope {scope} lies outside the jurisdiction {root} (JINJIAN_ROOT_REGION)")
            continue
        created += _demo_user(store, actor, username, display_name, role, inside or scope)
    created += _demo_work_users(store, actor, root)
    created += _demo_wall(store, actor, settings)
    print(f"demo accounts: {created} created; password of new accounts: {DEMO_PASSWORD}" if created
          else "demo accounts: nothing to create")
    return 0


def _demo_work_users(store: Any, actor: Any, root: str) -> int:
    """The workbench's demo accounts: a grid worker on the first two grids of the town's first
    village with grids, a second one on its third grid (改派), that village's dispatcher and
    the town's handler."""
    from domain.errors import JinjianError
    from settings import ConfigError
    from store.db import get_db
    from store.executor import run

    if not DEMO_WORK_TOWN.startswith(root):
        return 0
    try:
        grids = run(get_db(), "demo_work_grids", "SELECT code FROM regions WHERE level = 6 AND code LIKE %(p)s "
                    "ORDER BY code LIMIT 50", {"p": DEMO_WORK_TOWN + "%"})["code"].tolist()
    except (JinjianError, ConfigError) as exc:  # the database cannot be read: the other accounts still come
        print(f"skipped the workbench accounts: the database cannot be read ({exc})")
        return 0
    if not grids:
        print(f"skipped the workbench accounts: no grids in {DEMO_WORK_TOWN} yet")
        return 0
    village = grids[0][:12]
    own = [g for g in grids if g.startswith(village)]
    bound = {"grids": own[:2], "grids2": own[2:3]}
    created = 0
    for username, display_name, role, level in DEMO_WORK_USERS:
        if level == "grids2" and not bound["grids2"]:
            continue  # a village of two grids: nobody to 改派 to
        created += _demo_user(store, actor, username, display_name, role,
                              DEMO_WORK_TOWN if level == "town" else village, bound.get(level, ()))
    return created


def _demo_user(store: Any, actor: Any, username: str, display_name: str, role: str, scope: str,
               grids: list[str] | tuple[str, ...] = ()) -> int:
    """One demo account, kept as it is when it exists; 1 when it was created."""
    from auth import admin

    existing = store.get_user(username)
    if existing is not None:
        print(f"kept    {_user_line(existing)}")
        return 0
    user = admin.create_user(store, actor, username, DEMO_PASSWORD, role, scope, display_name, grids)
    print(f"created {_user_line(user)}" + (f" grids {','.join(grids)}" if grids else ""))
    return 1


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
    link = f"{base_url(settings)}/wall/{secret}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(link + "\n", encoding="utf-8")
    path.chmod(0o600)
    print(f"created display token {token.id} 「{token.name}」 for {region_label(region)}; link in {path}:\n"
          f"        {link}")
    return 1


def demo_link_file(settings: Settings) -> Path:
    """Where ``users demo`` writes the demo wall link."""
    return settings.data_dir / DEMO_WALL_FILE


USERS = {"add": _users_add, "list": _users_list, "set": _users_set, "disable": _users_disable,
          "enable": _users_enable, "passwd": _users_passwd, "demo": _users_demo}
