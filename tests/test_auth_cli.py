"""``python -m etl users | display | audit`` run in-process against a fresh SQLite
metadata store (no ClickHouse data needed)."""
from __future__ import annotations

import io
import re

import pytest

from etl.__main__ import main

PW = "Correct-horse-42"


@pytest.fixture
def meta(monkeypatch, tmp_path):
    """A fresh metadata store and data directory; yields the AuthStore the CLI writes to."""
    from auth.audit import _store, store

    monkeypatch.setenv("JINJIAN_METADATA_URL", f"sqlite:///{tmp_path / 'm.sqlite'}")
    monkeypatch.setenv("JINJIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "44")
    _store.cache_clear()
    yield store()
    _store.cache_clear()


def cli(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def failed(code: int, out: str, err: str) -> str:
    """The one-line error of a refused command."""
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_users_add_list_set_disable_enable_passwd(meta, capsys, monkeypatch):
    code, out, err = cli(capsys, "users", "add", "zhang.san", "--role", "supervisor", "--scope", "441900003",
                         "--display-name", "张三", "--password", PW)
    assert code == 0, err
    assert "password:" not in out  # given, not generated: never echoed
    user = meta.get_user("zhang.san")
    assert (user.role, user.scope, user.display_name, user.created_by) == ("supervisor", "441900003", "张三", "cli")
    assert meta.check_password("zhang.san", PW) is not None
    assert meta.check_password("zhang.san", PW + "x") is None

    # Without a password, a strong one is generated, printed once, and works.
    code, out, err = cli(capsys, "users", "add", "li.si", "--role", "viewer", "--scope", "4419")
    assert code == 0, err
    generated = re.search(r"^password: (\S+)$", out, re.M).group(1)
    assert len(generated) >= 16 and meta.check_password("li.si", generated) is not None

    code, out, _ = cli(capsys, "users", "list")
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split() == ["用户名", "姓名", "角色", "范围", "状态", "最近登录"]
    by_name = {r.split()[0]: r for r in rows}
    assert set(by_name) == {"zhang.san", "li.si"}
    assert "监管人员" in by_name["zhang.san"] and "441900003 东城街道" in by_name["zhang.san"]
    assert "启用" in by_name["zhang.san"] and "只读用户" in by_name["li.si"]
    code, out, _ = cli(capsys, "users", "list", "--scope", "441900003")
    assert [r.split()[0] for r in out.strip().splitlines()[1:]] == ["zhang.san"]

    code, out, err = cli(capsys, "users", "set", "zhang.san", "--role", "leader", "--scope", "4419",
                         "--display-name", "张三丰")
    assert code == 0, err
    user = meta.get_user("zhang.san")
    assert (user.role, user.scope, user.display_name) == ("leader", "4419", "张三丰")
    failed(*cli(capsys, "users", "set", "zhang.san"))  # nothing to change
    assert "用户不存在" in failed(*cli(capsys, "users", "set", "nobody", "--role", "viewer"))

    assert cli(capsys, "users", "disable", "zhang.san")[0] == 0
    assert meta.get_user("zhang.san").disabled
    assert meta.check_password("zhang.san", PW) is None  # a disabled user cannot log in
    code, out, _ = cli(capsys, "users", "list")
    assert "停用" in next(r for r in out.splitlines() if r.startswith("zhang.san"))
    assert cli(capsys, "users", "enable", "zhang.san")[0] == 0
    assert not meta.get_user("zhang.san").disabled
    assert meta.check_password("zhang.san", PW) is not None

    version = meta.get_user("zhang.san").session_version
    code, out, err = cli(capsys, "users", "passwd", "zhang.san", "--password-stdin", stdin="New-secret-77\n",
                         monkeypatch=monkeypatch)
    assert code == 0, err
    assert meta.check_password("zhang.san", "New-secret-77") is not None
    assert meta.check_password("zhang.san", PW) is None
    assert meta.get_user("zhang.san").session_version > version  # open sessions end
    code, out, err = cli(capsys, "users", "passwd", "zhang.san")
    assert code == 0, err
    fresh = re.search(r"^password: (\S+)$", out, re.M).group(1)
    assert meta.check_password("zhang.san", fresh) is not None
    assert "用户不存在" in failed(*cli(capsys, "users", "passwd", "nobody", "--password", PW))


def test_refusals_are_one_line_and_change_nothing(meta, capsys, monkeypatch):
    line = failed(*cli(capsys, "users", "add", "weak", "--role", "viewer", "--scope", "4419",
                       "--password", "short1"))
    assert "密码至少" in line
    line = failed(*cli(capsys, "users", "add", "weak", "--role", "viewer", "--scope", "4419",
                       "--password-stdin", stdin="onlyletterspassword\n", monkeypatch=monkeypatch))
    assert "密码至少" in line
    assert "角色不存在" in failed(*cli(capsys, "users", "add", "u1x", "--role", "boss", "--scope", "4419",
                                       "--password", PW))
    assert "区划代码" in failed(*cli(capsys, "users", "add", "u1x", "--role", "viewer", "--scope", "44x9",
                                     "--password", PW))
    assert "不存在" in failed(*cli(capsys, "users", "add", "u1x", "--role", "viewer", "--scope", "4491",
                                   "--password", PW))
    assert "用户名" in failed(*cli(capsys, "users", "add", "a b", "--role", "viewer", "--scope", "4419",
                                   "--password", PW))
    assert meta.list_users() == []

    assert cli(capsys, "users", "add", "u1x", "--role", "viewer", "--scope", "4419", "--password", PW)[0] == 0
    assert "已存在" in failed(*cli(capsys, "users", "add", "u1x", "--role", "admin", "--scope", "44",
                                   "--password", PW))
    assert meta.get_user("u1x").role == "viewer"
    failed(*cli(capsys, "users", "passwd", "u1x", "--password", "weakpass"))
    assert meta.check_password("u1x", PW) is not None


def test_scope_outside_the_jurisdiction_is_refused(meta, capsys, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    line = failed(*cli(capsys, "users", "add", "gz_user", "--role", "viewer", "--scope", "4401", "--password", PW))
    assert "管辖范围" in line
    assert meta.get_user("gz_user") is None and meta.list_users() == []
    failed(*cli(capsys, "display", "add", "--name", "广州大屏", "--region", "4401"))
    assert meta.list_tokens() == []
    assert cli(capsys, "users", "add", "dg_user", "--role", "viewer", "--scope", "441900003", "--password", PW)[0] == 0
    failed(*cli(capsys, "users", "set", "dg_user", "--scope", "44"))
    assert meta.get_user("dg_user").scope == "441900003"
    denied = meta.audit_rows(action="perm_denied")
    assert len(denied) == 3 and {r["username"] for r in denied} == {"cli"}
    assert {r["region"] for r in denied} == {"4401", "44"}


def test_display_add_list_revoke(meta, capsys):
    code, out, err = cli(capsys, "display", "add", "--name", "东莞大屏", "--region", "4419",
                         "--playlist", "4419，441900003")
    assert code == 0, err
    secret = re.search(r"^link: /wall/(\S+)$", out, re.M).group(1)
    assert "cannot be shown again" in out
    token = meta.find_token(secret)
    assert token is not None and (token.name, token.region, token.playlist) == ("东莞大屏", "4419",
                                                                                ("4419", "441900003"))
    assert "轮播" in failed(*cli(capsys, "display", "add", "--name", "x", "--region", "4419", "--playlist", "4401"))
    assert len(meta.list_tokens()) == 1

    code, out, _ = cli(capsys, "display", "list")
    assert code == 0 and secret not in out
    row = next(r for r in out.splitlines() if "东莞大屏" in r)
    assert row.split()[0] == str(token.id) and "有效" in row and "4419,441900003" in row

    code, out, err = cli(capsys, "display", "revoke", str(token.id))
    assert code == 0, err
    assert meta.find_token(secret) is None
    code, out, _ = cli(capsys, "display", "list")
    assert "已吊销" in next(r for r in out.splitlines() if "东莞大屏" in r)
    assert cli(capsys, "display", "revoke", str(token.id))[1].strip().endswith("already revoked")
    assert "不存在" in failed(*cli(capsys, "display", "revoke", "999"))


def test_audit_listing(meta, capsys):
    for name in ("aa1", "bb2"):
        assert cli(capsys, "users", "add", name, "--role", "viewer", "--scope", "4419", "--password", PW)[0] == 0
    assert cli(capsys, "users", "disable", "aa1")[0] == 0
    rows = meta.audit_rows(action="user_create")
    assert [(r["username"], r["target"], r["ok"]) for r in rows] == [("cli", "bb2", True), ("cli", "aa1", True)]

    code, out, _ = cli(capsys, "audit", "--action", "user_create")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 3 and lines[0].split()[:3] == ["时间", "用户", "操作"]
    assert [ln.split()[2] for ln in lines[1:]] == ["cli", "cli"]  # date, time, user
    assert "bb2" in lines[1] and "aa1" in lines[2]  # newest first
    assert all("user_create" in ln for ln in lines[1:])

    code, out, _ = cli(capsys, "audit")
    assert code == 0 and "user_update" in out.splitlines()[1]  # the disable came last
    assert len(cli(capsys, "audit", "--limit", "1")[1].strip().splitlines()) == 2
    assert cli(capsys, "audit", "--failed")[1].strip() == "no audit entries"
    assert cli(capsys, "audit", "--user", "someone")[1].strip() == "no audit entries"
    assert cli(capsys, "audit", "--since", "2999-01-01")[1].strip() == "no audit entries"
    assert len(cli(capsys, "audit", "--since", "2000-01-01")[1].strip().splitlines()) == 4
    failed(*cli(capsys, "audit", "--action", "nope"))


DEMO = {"admin": ("admin", "44"), "gd_leader": ("leader", "44"), "dg_supervisor": ("supervisor", "4419"),
        "dg_town_viewer": ("viewer", "441900003"), "dg_grid_worker": ("grid_worker", "441900003001"),
        "dg_grid_worker2": ("grid_worker", "441900003001"),
        "dg_dispatcher": ("village_dispatcher", "441900003001"), "dg_town_handler": ("town_handler", "441900003")}


@pytest.fixture
def demo_grids(demo_db):
    """The demo data as the CLI's database (the workbench accounts are bound to its grids)."""
    from store import db as dbmod

    dbmod.set_db(demo_db)
    yield demo_db
    dbmod.set_db(None)


def test_users_demo_is_idempotent(meta, capsys, tmp_path, demo_grids):
    from auth.cli_users import DEMO_PASSWORD, DEMO_WALL_NAME

    code, out, err = cli(capsys, "users", "demo")
    assert code == 0, err
    users = {u.username: (u.role, u.scope) for u in meta.list_users()}
    assert users == DEMO
    for name in DEMO:
        assert meta.check_password(name, DEMO_PASSWORD) is not None, name
    assert meta.grids("dg_grid_worker") == ("441900003001001", "441900003001002")
    assert meta.grids("dg_grid_worker2") == ("441900003001003",)
    assert meta.grids("dg_dispatcher") == ()
    link_file = tmp_path / "data" / "demo_wall_link.txt"
    link = link_file.read_text().strip()
    assert re.fullmatch(r"http://[^/]+/wall/jjw_\S+", link)
    token = meta.find_token(link.rsplit("/wall/", 1)[1])
    assert token is not None and (token.name, token.region) == (DEMO_WALL_NAME, "4419")
    assert len(meta.audit_rows(action="user_create")) == len(DEMO) and len(meta.audit_rows(action="token_create")) == 1

    before = meta.list_users()
    code, out, err = cli(capsys, "users", "demo")
    assert code == 0, err
    assert "created" not in out and "nothing to create" in out
    assert meta.list_users() == before
    assert link_file.read_text().strip() == link and len(meta.list_tokens()) == 1
    assert len(meta.audit_rows(action="user_create")) == len(DEMO) and len(meta.audit_rows(action="token_create")) == 1

    # An account changed by an administrator is kept as it is.
    assert cli(capsys, "users", "passwd", "dg_supervisor", "--password", PW)[0] == 0
    assert cli(capsys, "users", "demo")[0] == 0
    assert meta.check_password("dg_supervisor", PW) is not None

    # A lost link file: the token it named is replaced, so the demo link works again.
    link_file.unlink()
    assert cli(capsys, "users", "demo")[0] == 0
    new_link = link_file.read_text().strip()
    assert new_link != link and meta.find_token(new_link.rsplit("/wall/", 1)[1]) is not None
    assert meta.find_token(link.rsplit("/wall/", 1)[1]) is None
    assert [t.name for t in meta.list_tokens() if t.active] == [DEMO_WALL_NAME]
