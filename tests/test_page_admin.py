"""The 账号与审计 page (/admin): pure factories, the layout, then every callback through
the Flask test client as a signed-in user (the guard, CSRF, scope and audit included),
on both engines (the ``dongguan`` jurisdiction 4419)."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from flask import g
from sqlalchemy import insert

from auth.audit import ACTIONS_ZH
from auth.current import Principal
from auth.roles import ROLES
from auth.store import DisplayToken, User, audit_log
from components import admin_views as av
from domain.errors import InvalidParameter
from tests.authkit import PASSWORD, auth_on, login, logged_in  # noqa: F401
from tests.pagekit import ids, props, text, walk

T0 = dt.datetime(2026, 11, 20, 9, 30, 5)
NEW_PASSWORD = "Zhang-2026x1"


def _user(name: str = "u1", role: str = "viewer", scope: str = "441900003", disabled: bool = False,
          last_login: dt.datetime | None = None) -> User:
    return User(1, name, f"{name} 姓名", role, scope, disabled, 1, "city_admin", T0, last_login)


def _token(tid: int, revoked: dt.datetime | None = None, playlist: tuple[str, ...] = ()) -> DisplayToken:
    return DisplayToken(tid, f"屏{tid}", "4419", playlist, "city_admin", T0, revoked)


# ----------------------------------------------------------------------------- pure factories
def test_role_options_stop_at_the_admins_rank():
    assert [o["value"] for o in av.role_options(ROLES["admin"].rank)] == ["admin", "leader", "supervisor", "viewer",
                                                                           "town_handler", "village_dispatcher", "grid_worker"]
    assert [o["value"] for o in av.role_options(ROLES["leader"].rank)] == ["leader", "supervisor", "viewer", "town_handler", "village_dispatcher", "grid_worker"]
    assert [o["label"] for o in av.role_options(ROLES["supervisor"].rank)] == ["监管人员", "只读用户", "镇街处置人员",
                                                                              "社区调度员", "网格员"]
    assert av.role_options(0) == []
    assert av.rank_of("admin") == 40 and av.rank_of("display") == 0


def test_user_rows():
    rows = av.build_user_rows([_user("a1", "supervisor", last_login=T0 + dt.timedelta(days=1)),
                               _user("a2", "viewer", disabled=True)])
    assert [r["username"] for r in rows] == ["a1", "a2"]
    assert rows[0] == {"row_id": "a1", "username": "a1", "display_name": "a1 姓名", "role": "supervisor",
                       "role_zh": "监管人员", "scope": "441900003", "status": "启用", "created_by": "city_admin",
                       "created_at": "2026-11-20 09:30", "last_login": "2026-11-21 09:30"}
    assert rows[1]["status"] == "停用" and rows[1]["last_login"] == "—" and rows[1]["role_zh"] == "只读用户"
    assert av.user_options([_user("a2", disabled=True)])[0] == {
        "label": "a2 姓名（a2 · 只读用户 · 441900003）（已停用）", "value": "a2"}


def test_token_rows_newest_first_with_status():
    rows = av.build_token_rows([_token(1, playlist=("441900003", "441900005")), _token(2, revoked=T0)])
    assert [r["id"] for r in rows] == [2, 1] and [r["row_id"] for r in rows] == ["2", "1"]
    assert rows[0]["status"] == "已吊销（2026-11-20 09:30）" and rows[0]["active"] is False
    assert rows[1]["status"] == "有效" and rows[1]["playlist"] == "441900003、441900005"
    assert rows[0]["playlist"] == "—"


def test_audit_rows_in_chinese():
    entries = [{"id": 7, "at": T0, "username": "town_sup", "role": "supervisor", "scope": "441900003",
                "action": "export_csv", "ok": True, "target": "x.csv", "region": "441900003", "ip": "10.0.0.1",
                "detail": ""},
               {"id": 6, "at": T0, "username": "display:3", "role": "display", "scope": "4419",
                "action": "display_denied", "ok": False, "target": "/risk", "region": "", "ip": "", "detail": "d"},
               {"id": 5, "at": T0, "username": "", "role": "", "scope": "", "action": "login_failed", "ok": False,
                "target": "nobody", "region": "", "ip": "", "detail": ""}]
    rows = av.build_audit_rows(entries)
    assert [r["id"] for r in rows] == [7, 6, 5] and rows[0]["row_id"] == "7"
    assert rows[0]["at"] == "2026-11-20 09:30:05"
    assert (rows[0]["action_zh"], rows[0]["result"], rows[0]["role_zh"]) == ("导出 CSV", "成功", "监管人员")
    assert (rows[1]["action_zh"], rows[1]["result"], rows[1]["role_zh"]) == ("大屏令牌拒绝", "失败", "大屏")
    assert rows[2]["username"] == "—" and rows[2]["action_zh"] == "登录失败"
    assert [o["value"] for o in av.action_options()] == list(ACTIONS_ZH)


def test_audit_filters_and_note():
    assert av.date_bounds(None, None) == (None, None)
    assert av.date_bounds("2026-11-01", "2026-11-20") == (dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 21))
    assert av.date_bounds(None, "2026-11-20") == (None, dt.datetime(2026, 11, 21))
    with pytest.raises(InvalidParameter) as err:
        av.date_bounds("2026-11-20", "2026-11-01")
    assert err.value.user_message == "结束日期不能早于开始日期"
    assert [av.result_filter(v) for v in ("all", "ok", "fail", None, "bogus")] == [None, True, False, None, None]
    assert av.audit_note(12, False) == "共 12 条"
    assert "5,000" in av.audit_note(5000, True) and "缩小" in av.audit_note(5000, True)
    assert av.wall_link("jjw_abc", "http://host:8050/") == "http://host:8050/wall/jjw_abc"


def test_grid_columns():
    headers = lambda cols: [c["headerName"] for c in av.column_defs(cols)]  # noqa: E731
    assert headers(av.USER_COLUMNS) == ["用户名", "姓名", "角色", "管辖区划代码", "状态", "创建人", "创建时间", "最近登录"]
    assert headers(av.TOKEN_COLUMNS) == ["编号", "名称", "区域", "轮播", "创建人", "创建时间", "状态"]
    assert headers(av.AUDIT_COLUMNS) == ["时间", "用户", "角色", "操作", "结果", "对象", "区域", "IP", "详情"]
    grid = av.create_grid("admin-x-grid", av.TOKEN_COLUMNS, selectable=True)
    assert props(grid)["dashGridOptions"]["rowSelection"]["mode"] == "singleRow"
    assert "rowSelection" not in props(av.create_grid("admin-y-grid", av.AUDIT_COLUMNS))["dashGridOptions"]


# ----------------------------------------------------------------------------- layout
def _principal(name: str, role: str, scope: str) -> Principal:
    return Principal("user", name, role, scope, ROLES[role].perms, display_name=name)


def test_layout_ids_csrf_and_roles(flask_server):
    from flask import session

    from pages import admin as page

    with flask_server.test_request_context("/admin"):
        g.principal = _principal("city_admin", "admin", "4419")
        tree = page.layout()
        found = [c.id for c in walk(tree) if isinstance(getattr(c, "id", None), str)]
        assert len(found) == len(set(found)), "duplicate ids"
        assert all(i.startswith(("admin-", "nav-")) for i in found), found
        by_id = ids(tree)
        assert by_id["admin-csrf"].data == session["csrf"] and len(session["csrf"]) >= 32
        assert [o["value"] for o in by_id["admin-new-role"].options] == ["admin", "leader", "supervisor", "viewer",
                                                                          "town_handler", "village_dispatcher", "grid_worker"]
        for cid in ("admin-users-grid", "admin-tokens-grid", "admin-audit-grid", "admin-token-link",
                    "admin-revoke-id", "admin-audit-dates", "admin-refresh"):
            assert cid in by_id
        assert "hidden" in by_id["admin-token-link-box"].className
        assert "只显示这一次" in text(by_id["admin-token-link-box"])
        assert "账号与审计" in text(tree) and "管辖范围 4419" in text(tree)

        g.principal = _principal("city_leader", "leader", "4419")
        denied = ids(page.layout())
        assert "admin-denied" in denied and "admin-csrf" not in denied and "admin-users-grid" not in denied
    # outside a request (no session): no CSRF token, so no change can pass
    assert ids(page.layout())["admin-csrf"].data == ""


# ----------------------------------------------------------------------------- callbacks through HTTP
_DEPS: dict[int, list[dict[str, Any]]] = {}


def _deps(client: Any) -> list[dict[str, Any]]:
    key = id(client.application)
    if key not in _DEPS:
        resp = client.get("/_dash-dependencies")
        assert resp.status_code == 200
        _DEPS[key] = resp.get_json()
    return _DEPS[key]


def _outputs(spec: str) -> Any:
    if not spec.startswith(".."):
        cid, prop = spec.rsplit(".", 1)
        return {"id": cid, "property": prop}
    return [dict(zip(("id", "property"), part.rsplit(".", 1))) for part in spec[2:-2].split("...")]


def call(client: Any, output: str, values: dict[str, Any] | None = None, changed: str | None = None,
         status: int = 200) -> dict[str, dict[str, Any]]:
    """POST the callback whose output names ``output`` ('id.prop') with ``values``
    ('id.prop' → value; the rest None); returns {id: {prop: value}} (or the error body)."""
    values = values or {}
    dep = next(d for d in _deps(client) if output in re.split(r"\.\.\.?", d["output"].strip(".")))
    items = lambda specs: [{"id": s["id"], "property": s["property"],  # noqa: E731
                            "value": values.get(f"{s['id']}.{s['property']}")} for s in specs]
    inputs, state = items(dep["inputs"]), items(dep["state"])
    first = f"{inputs[0]['id']}.{inputs[0]['property']}"
    body = {"output": dep["output"], "outputs": _outputs(dep["output"]), "inputs": inputs, "state": state,
            "changedPropIds": [changed or first]}
    resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:400])
    return resp.get_json().get("response", {}) if status == 200 else resp.get_json()


def csrf(client: Any) -> str:
    with client.session_transaction() as s:
        return s["csrf"]


def create(client: Any, username: str, scope: str, role: str = "supervisor", token: str | None = None,
           status: int = 200) -> dict[str, Any]:
    return call(client, "admin-new-msg.children", {
        "admin-new-submit.n_clicks": 1, "admin-new-username.value": username, "admin-new-name.value": "新用户",
        "admin-new-role.value": role, "admin-new-scope.value": scope, "admin-new-password.value": NEW_PASSWORD,
        "admin-csrf.data": csrf(client) if token is None else token}, status=status)


def edit(client: Any, username: str, button: str = "save", **fields: Any) -> dict[str, Any]:
    values = {f"admin-edit-{button}.n_clicks": 1, "admin-edit-user.value": username, "admin-csrf.data": csrf(client)}
    values.update({f"admin-edit-{k}.value": v for k, v in fields.items()})
    return call(client, "admin-edit-msg.children", values, changed=f"admin-edit-{button}.n_clicks")


def audit_grid(client: Any, **filters: Any) -> tuple[list[dict[str, Any]], str]:
    values = {"admin-refresh.n_clicks": 1, "admin-audit-result.value": filters.pop("result", "all")}
    values.update({("admin-audit-dates." + k if k in ("start_date", "end_date") else f"admin-audit-{k}.value"): v
                   for k, v in filters.items()})
    out = call(client, "admin-audit-grid.rowData", values)
    return out.get("admin-audit-grid", {}).get("rowData"), out["admin-audit-note"]["children"]


def revoke(client: Any, token_id: Any) -> dict[str, Any]:
    values = {"admin-revoke-submit.n_clicks": 1, "admin-revoke-id.value": token_id, "admin-csrf.data": csrf(client)}
    return call(client, "admin-revoke-msg.children", values)


def users_grid(client: Any) -> list[dict[str, Any]]:
    return call(client, "admin-users-grid.rowData", {"admin-refresh.n_clicks": 1})["admin-users-grid"]["rowData"]


def tokens_grid(client: Any) -> tuple[list[dict[str, Any]], str]:
    out = call(client, "admin-tokens-grid.rowData", {"admin-refresh.n_clicks": 1})
    return out["admin-tokens-grid"]["rowData"], json.dumps(out, ensure_ascii=False)


def count(store: Any, action: str, **filters: Any) -> int:
    return len(store.audit_rows(action=action, **filters))


def test_admin_creates_user_in_scope(auth_on, flask_server):
    store = auth_on
    client = logged_in(flask_server, "city_admin")
    assert client.get("/admin").status_code == 200
    out = create(client, "new_sup", "441900005")
    assert out["admin-new-msg"]["children"] == "已新建用户 new_sup（监管人员 · 441900005）"
    assert out["admin-new-msg"]["className"] == "admin-msg admin-msg-ok"
    assert out["admin-new-password"]["value"] == "" and out["admin-new-done"]["data"]
    user = store.get_user("new_sup")
    assert (user.role, user.scope, user.created_by, user.display_name, user.disabled) == (
        "supervisor", "441900005", "city_admin", "新用户", False)
    entries = store.audit_rows(action="user_create")
    assert len(entries) == 1
    assert (entries[0]["username"], entries[0]["target"], entries[0]["region"], entries[0]["ok"]) == (
        "city_admin", "new_sup", "441900005", True)
    rows = {r["username"]: r for r in users_grid(client)}
    assert set(rows) == {"city_admin", "city_leader", "town_sup", "town_view", "new_sup"}
    assert (rows["new_sup"]["role_zh"], rows["new_sup"]["status"], rows["new_sup"]["created_by"]) == (
        "监管人员", "启用", "city_admin")
    login(flask_server.test_client(), "new_sup", NEW_PASSWORD)  # the new account works
    # the same name twice: the message, nothing overwritten
    again = create(client, "new_sup", "441900003", role="viewer")
    assert again["admin-new-msg"]["children"] == "用户名已存在：new_sup"
    assert again["admin-new-msg"]["className"] == "admin-msg admin-msg-error"
    assert store.get_user("new_sup").role == "supervisor"
    assert count(store, "user_create") == 1


@pytest.mark.parametrize("scope", ["44", "4401", ""])
def test_wider_scope_is_refused_and_audited(auth_on, flask_server, scope):
    store = auth_on
    client = logged_in(flask_server, "city_admin")
    out = create(client, "wide_one", scope)
    msg = out["admin-new-msg"]["children"]
    assert msg.startswith("不能授予超出本人管辖范围（4419）的区域") and msg.endswith(scope or "全国")
    assert out["admin-new-msg"]["className"] == "admin-msg admin-msg-error"
    assert store.get_user("wide_one") is None
    denied = store.audit_rows(action="perm_denied")
    assert len(denied) == 1 and denied[0]["ok"] is False and denied[0]["username"] == "city_admin"
    assert denied[0]["region"] == scope
    assert count(store, "user_create") == 0


def test_form_errors_show_chinese_messages(auth_on, flask_server):
    store = auth_on
    client = logged_in(flask_server, "city_admin")
    assert create(client, "x", "4419")["admin-new-msg"]["children"].startswith("用户名须为")
    assert create(client, "rooty", "4419", role="root")["admin-new-msg"]["children"] == "角色不存在：root"
    assert create(client, "norole", "4419", role=None)["admin-new-msg"]["children"] == "请选择角色"
    weak = call(client, "admin-new-msg.children", {
        "admin-new-submit.n_clicks": 1, "admin-new-username.value": "weak_pw", "admin-new-role.value": "viewer",
        "admin-new-scope.value": "4419", "admin-new-password.value": "short", "admin-csrf.data": csrf(client)})
    assert weak["admin-new-msg"]["children"].startswith("密码至少 10 位")
    assert create(client, "bad_code", "44190")["admin-new-msg"]["className"] == "admin-msg admin-msg-error"
    assert {u.username for u in store.list_users()} == {"city_admin", "city_leader", "town_sup", "town_view"}


def test_admin_changes_users_within_scope(auth_on, flask_server):
    store = auth_on
    store.add_user("gz_view", PASSWORD, "viewer", "4401", display_name="广州")
    client = logged_in(flask_server, "city_admin")
    victim = logged_in(flask_server, "town_view")
    assert victim.get("/tasks").status_code == 200

    picked = call(client, "admin-edit-role.value", {"admin-edit-user.value": "town_sup"})
    assert picked == {"admin-edit-role": {"value": "supervisor"}, "admin-edit-scope": {"value": "441900003"}}
    out = edit(client, "town_view", role="supervisor", scope="441900005", password=NEW_PASSWORD)
    assert out["admin-edit-msg"]["children"].startswith("已保存 town_view：监管人员 · 441900005")
    user = store.get_user("town_view")
    assert (user.role, user.scope) == ("supervisor", "441900005")
    assert victim.get("/tasks").status_code == 302  # the change ended the open session
    login(flask_server.test_client(), "town_view", NEW_PASSWORD)
    update = store.audit_rows(action="user_update")
    assert len(update) == 1 and "***" in update[0]["detail"] and NEW_PASSWORD not in update[0]["detail"]

    assert edit(client, "town_view", "disable")["admin-edit-msg"]["children"].endswith("已停用")
    assert store.get_user("town_view").disabled is True
    login(flask_server.test_client(), "town_view", NEW_PASSWORD, expect=401)
    assert edit(client, "town_view", "enable")["admin-edit-msg"]["className"] == "admin-msg admin-msg-ok"
    assert store.get_user("town_view").disabled is False
    assert "没有需要保存的修改" in edit(client, "town_view", "enable")["admin-edit-msg"]["children"]

    wide = edit(client, "town_sup", scope="44")
    assert wide["admin-edit-msg"]["children"].startswith("不能授予超出本人管辖范围")
    assert store.get_user("town_sup").scope == "441900003"
    outside = edit(client, "gz_view", "disable")
    assert outside["admin-edit-msg"]["className"] == "admin-msg admin-msg-error"
    assert store.get_user("gz_view").disabled is False
    assert "gz_view" not in {r["username"] for r in users_grid(client)}
    self_off = edit(client, "city_admin", "disable")
    assert self_off["admin-edit-msg"]["children"] == "不能停用、降级或改变自己的账号范围"
    assert store.get_user("city_admin").disabled is False
    assert count(store, "perm_denied") == 2  # the wide scope and the user outside the scope


@pytest.mark.parametrize("output", ["admin-new-msg.children", "admin-token-link.value"])
def test_wrong_csrf_token_is_403_and_audited(auth_on, flask_server, output):
    store = auth_on
    client = logged_in(flask_server, "city_admin")
    token = csrf(client)
    for forged in ("forged-token", None, token[:-1]):
        values = {"admin-csrf.data": forged, "admin-new-submit.n_clicks": 1, "admin-new-username.value": "csrf_user",
                  "admin-new-role.value": "viewer", "admin-new-scope.value": "4419",
                  "admin-new-password.value": NEW_PASSWORD, "admin-token-submit.n_clicks": 1,
                  "admin-token-name.value": "伪造", "admin-token-code.value": "4419"}
        body = call(client, output, values, status=403)
        assert body["error"] == "forbidden"
    assert store.get_user("csrf_user") is None and store.list_tokens() == []
    rejected = store.audit_rows(action="csrf_rejected")
    assert len(rejected) == 3 and all(not e["ok"] and e["username"] == "city_admin" for e in rejected)
    assert output.split(".")[0] in rejected[0]["target"]
    assert count(store, "user_create") == 0 and count(store, "token_create") == 0
    # the right token still works
    create(client, "csrf_user", "4419")
    assert store.get_user("csrf_user") is not None


READ_OUTPUTS = ("admin-users-grid.rowData", "admin-tokens-grid.rowData", "admin-audit-grid.rowData",
                "admin-edit-role.value", "admin-revoke-id.value")


@pytest.mark.parametrize("username", ["city_leader", "town_view"])
def test_non_admins_get_403(auth_on, flask_server, username):
    store = auth_on
    client = logged_in(flask_server, username)
    assert client.get("/admin").status_code == 403
    assert client.get("/tasks").status_code == 200
    assert count(store, "perm_denied", username=username) == 1
    page = call(client, "_pages_content.children", {"_pages_location.pathname": "/admin",
                                                    "_pages_location.search": ""}, status=403)
    assert page["error"] == "forbidden"
    for output in READ_OUTPUTS:
        call(client, output, {"admin-refresh.n_clicks": 1, "admin-edit-user.value": "town_sup",
                              "admin-tokens-grid.selectedRows": [{"id": 1}]}, status=403)
    create(client, "sneaky", "441900003", role="viewer", status=403)
    call(client, "admin-token-link.value", {"admin-token-submit.n_clicks": 1, "admin-token-name.value": "x",
                                            "admin-token-code.value": "441900003", "admin-csrf.data": csrf(client)},
         status=403)
    assert store.get_user("sneaky") is None and store.list_tokens() == []
    # the page, its router callback, every read callback, the two forms
    assert count(store, "perm_denied", username=username) == 4 + len(READ_OUTPUTS)
    assert count(store, "user_create") == 0


def test_admin_page_router_draws_the_page(auth_on, flask_server):
    client = logged_in(flask_server, "city_admin")
    out = call(client, "_pages_content.children", {"_pages_location.pathname": "/admin",
                                                   "_pages_location.search": ""})
    tree = json.dumps(out, ensure_ascii=False)
    assert '"admin-users-grid"' in tree and '"admin-audit-grid"' in tree
    assert csrf(client) in tree  # the page's CSRF store holds the session's token


def test_token_link_shown_once_and_revoke_closes_the_wall(auth_on, flask_server):
    store = auth_on
    client = logged_in(flask_server, "city_admin")
    out = call(client, "admin-token-link.value", {
        "admin-token-submit.n_clicks": 1, "admin-token-name.value": "指挥中心主屏", "admin-token-code.value": "4419",
        "admin-token-playlist.value": "441900003，441900005", "admin-csrf.data": csrf(client)})
    link = out["admin-token-link"]["value"]
    m = re.fullmatch(r"http://localhost/wall/(jjw_[A-Za-z0-9_\-]+)", link)
    assert m, link
    secret = m.group(1)
    assert out["admin-token-link-box"]["className"] == "admin-link-box"
    assert out["admin-token-msg"]["children"].startswith("已新建大屏令牌 #")
    (token,) = store.list_tokens()
    assert (token.name, token.region, token.playlist, token.active) == (
        "指挥中心主屏", "4419", ("441900003", "441900005"), True)
    assert count(store, "token_create") == 1
    rows, raw = tokens_grid(client)
    assert [(r["id"], r["name"], r["status"], r["playlist"]) for r in rows] == [
        (token.id, "指挥中心主屏", "有效", "441900003、441900005")]
    assert secret not in raw  # never shown again
    assert all(secret not in json.dumps(e, default=str) for e in store.audit_rows())

    wall = flask_server.test_client()
    opened = wall.get(f"/wall/{secret}")
    assert opened.status_code == 302 and "region=4419" in opened.headers["Location"]
    assert wall.get("/").status_code == 200

    picked = call(client, "admin-revoke-id.value", {"admin-tokens-grid.selectedRows": [rows[0]]})
    assert picked == {"admin-revoke-id": {"value": token.id}}
    done = revoke(client, token.id)
    assert done["admin-revoke-msg"]["children"] == f"已吊销大屏令牌 #{token.id}"
    assert store.get_token(token.id).active is False
    assert count(store, "token_revoke") == 1
    assert flask_server.test_client().get(f"/wall/{secret}").status_code == 403
    assert count(store, "display_denied") == 1
    assert wall.get("/").status_code == 302  # the open wall session ended too
    assert tokens_grid(client)[0][0]["status"].startswith("已吊销")


def test_token_outside_scope_refused(auth_on, flask_server):
    store = auth_on
    gz, _ = store.add_token("广州屏", "4401", (), "cli")
    client = logged_in(flask_server, "city_admin")
    out = call(client, "admin-token-link.value", {"admin-token-submit.n_clicks": 1, "admin-token-name.value": "越权",
                                                  "admin-token-code.value": "4401", "admin-csrf.data": csrf(client)})
    assert out["admin-token-msg"]["children"].startswith("不能授予超出本人管辖范围")
    assert out["admin-token-link"]["value"] == "" and "hidden" in out["admin-token-link-box"]["className"]
    bad_list = call(client, "admin-token-link.value", {
        "admin-token-submit.n_clicks": 1, "admin-token-name.value": "轮播越界", "admin-token-code.value": "441900003",
        "admin-token-playlist.value": "441900005", "admin-csrf.data": csrf(client)})
    assert bad_list["admin-token-msg"]["children"] == "轮播区域 441900005 不在大屏区域 441900003 之内"
    refused = revoke(client, gz.id)
    assert refused["admin-revoke-msg"]["className"] == "admin-msg admin-msg-error"
    assert store.get_token(gz.id).active is True
    missing = revoke(client, 999)
    assert missing["admin-revoke-msg"]["children"] == "大屏令牌不存在：999"
    assert [t.name for t in store.list_tokens()] == ["广州屏"]
    assert tokens_grid(client)[0] == []  # the Guangzhou token is not listed
    assert count(store, "perm_denied") == 2


def _seed(store: Any) -> None:
    store.audit(username="gz_admin", role="admin", scope="4401", action="login", ok=True, target="gz_admin")
    store.audit(username="gz_admin", role="admin", scope="4401", action="export_csv", ok=False, target="gz.csv")
    store.audit(username="prov_admin", role="admin", scope="44", action="export_csv", ok=True, target="prov.csv")
    store.audit(username="town_sup", role="supervisor", scope="441900003", action="export_csv", ok=True,
                target="town.csv", region="441900003")
    store.audit(username="town_view", role="viewer", scope="441900003", action="perm_denied", ok=False,
                target="/admin")
    store.audit(username="town_sup", role="supervisor", scope="441900003", action="export_pdf", ok=True,
                target="old.pdf", at=dt.datetime(2020, 1, 1, 8, 0))


def test_audit_grid_filters_and_scope(auth_on, flask_server):
    store = auth_on
    _seed(store)
    client = logged_in(flask_server, "city_admin")
    rows, note = audit_grid(client)
    names = {r["username"] for r in rows}
    assert {"city_admin", "town_sup", "town_view"} <= names
    assert not names & {"gz_admin", "prov_admin"}
    assert note == f"共 {len(rows)} 条"
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first
    assert "gz.csv" not in json.dumps(rows, ensure_ascii=False)

    csv_rows, _ = audit_grid(client, action="export_csv")
    assert [(r["username"], r["target"], r["action_zh"]) for r in csv_rows] == [("town_sup", "town.csv", "导出 CSV")]
    failed, _ = audit_grid(client, result="fail")
    assert failed and all(r["result"] == "失败" for r in failed)
    assert ("town_view", "越权操作") in {(r["username"], r["action_zh"]) for r in failed}
    ok_rows, _ = audit_grid(client, result="ok")
    assert ok_rows and all(r["result"] == "成功" for r in ok_rows)
    assert len(ok_rows) + len(failed) == len(rows)
    assert {r["username"] for r in audit_grid(client, user="town_sup")[0]} == {"town_sup"}
    assert audit_grid(client, user="gz_admin")[0] == []
    old, _ = audit_grid(client, start_date="2020-01-01", end_date="2020-01-01")
    assert [r["target"] for r in old] == ["old.pdf"]
    assert audit_grid(client, start_date="2026-01-02", end_date="2026-01-01")[1] == "结束日期不能早于开始日期"

    store.add_user("town_admin", PASSWORD, "admin", "441900003", display_name="镇管理员")
    town = logged_in(flask_server, "town_admin")
    town_rows, _ = audit_grid(town)
    assert {r["username"] for r in town_rows} == {"town_sup", "town_view", "town_admin"}
    assert {r["username"] for r in users_grid(town)} == {"town_sup", "town_view", "town_admin"}
    assert create(town, "up_one", "4419")["admin-new-msg"]["children"].startswith(
        "不能授予超出本人管辖范围（441900003）")
    assert store.get_user("up_one") is None


def test_audit_grid_capped_at_5000(auth_on, flask_server):
    store = auth_on
    rows = [{"at": T0, "username": "town_sup", "role": "supervisor", "scope": "441900003", "action": "export_csv",
             "ok": True, "target": f"f{i}.csv", "region": "", "ip": "", "detail": ""}
            for i in range(av.AUDIT_LIMIT + 5)]
    with store.engine.begin() as conn:
        conn.execute(insert(audit_log), rows)
    client = logged_in(flask_server, "city_admin")
    shown, note = audit_grid(client, action="export_csv")
    assert len(shown) == av.AUDIT_LIMIT
    assert note.startswith("仅显示最近 5,000 条")
    assert shown[0]["target"] == f"f{av.AUDIT_LIMIT + 4}.csv"  # the newest kept
    few, few_note = audit_grid(client, action="login")
    assert few_note == f"共 {len(few)} 条" and len(few) == 1
