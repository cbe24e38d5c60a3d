"""账号与审计 (/admin): users and display tokens within the administrator's scope, and
the audit log of that scope.

- 用户管理: the users grid, a form to create a user (roles up to the administrator's
  own, a scope inside their own) and a form to change one (role, scope, password reset,
  disable / enable);
- 大屏令牌: display tokens; a new token's link ``/wall/<secret>`` is shown once;
- 审计日志: entries newest first, filtered by action, user, result and date range.

The guard (auth.guard) refuses the page to principals without ``admin``; every
callback here checks it again (``require("admin")`` → 403 + audit entry) and every
change checks the session's CSRF token (``require_csrf``). Policy — who may grant
what, and the audit of every change — lives in :mod:`auth.admin`. ``layout()`` does
no database work.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
import flask
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from auth import admin, audit, current, require
from auth.roles import UnknownRole
from auth.store import DuplicateUser
from auth.web import csrf_token, nav_account, require_csrf
from components.format import DROPDOWN_LABELS
from components import admin_views as av
from components.nav import create_nav
from domain.errors import JinjianError
from pages import inputs

logger = logging.getLogger(__name__)

PATH = "/admin"
dash.register_page(__name__, path=PATH, title="金监 · 账号与审计", name="账号与审计")

HIDDEN = "hidden"
MSG, MSG_OK, MSG_ERR = "admin-msg", "admin-msg admin-msg-ok", "admin-msg admin-msg-error"
#: Errors whose Chinese message the forms show (the policy's refusals included).
SHOWN = (JinjianError, DuplicateUser, UnknownRole)
#: Stores a change writes so the grids (and the audit log) redraw.
DONE_STORES = ("admin-new-done", "admin-edit-done", "admin-token-done", "admin-revoke-done")


def layout(**_: Any) -> html.Div:
    p = current()
    head = html.Header(className="page-header admin-header", children=[
        html.H1("账号与审计"),
        html.Div(f"{p.display_name or p.name} · {av.role_zh(p.role)} · 管辖范围 {p.scope or '全国'}",
                 id="admin-who", className="region-name admin-who"),
        html.Button("刷新", id="admin-refresh", className="admin-button admin-refresh", n_clicks=0),
    ])
    if not p.can("admin"):  # the guard refuses the page first; never draw the forms anyway
        return html.Div(className="page admin-page", children=[
            create_nav(PATH, nav_account()), head,
            html.Div("您的角色无权管理账号或查看审计日志", id="admin-denied", className="banner", role="alert")])
    return html.Div(className="page admin-page", children=[
        create_nav(PATH, nav_account()),
        dcc.Store(id="admin-csrf", data=csrf_token() if flask.has_request_context() else ""),
        *[dcc.Store(id=sid) for sid in DONE_STORES],
        head,
        _users_section(av.rank_of(p.role)),
        _tokens_section(),
        _audit_section(),
    ])


# ----------------------------------------------------------------------------- layout pieces
def _field(label: str, component: Any, extra: str = "") -> html.Label:
    return html.Label([html.Span(label, className="admin-label"), component],
                      className=f"admin-field {extra}".strip())


def _input(cid: str, placeholder: str = "", kind: str = "text", **kw: Any) -> dcc.Input:
    kw.setdefault("debounce", False)
    return dcc.Input(id=cid, type=kind, placeholder=placeholder, autoComplete="off", className="admin-input", **kw)


def _dropdown(cid: str, options: list[dict[str, str]], placeholder: str, value: Any = None,
              clearable: bool = True) -> dcc.Dropdown:
    return dcc.Dropdown(id=cid, options=options, value=value, placeholder=placeholder, clearable=clearable,
                        labels=DROPDOWN_LABELS, className="admin-dropdown")


def _head(title: str, note_id: str) -> html.Div:
    return html.Div([html.H2(title), html.Span(id=note_id, className="admin-note")], className="admin-panel-head")


def _users_section(rank: int) -> html.Section:
    roles = av.role_options(rank)
    create = html.Div(className="admin-form", children=[
        html.H3("新建用户"),
        _field("用户名", _input("admin-new-username", "3–64 位字母、数字、._-", maxLength=64)),
        _field("姓名", _input("admin-new-name", "显示名称", maxLength=64)),
        _field("角色", _dropdown("admin-new-role", roles, "选择角色")),
        _field("管辖区划代码", _input("admin-new-scope", "如 441900003", maxLength=15)),
        _field("初始密码", _input("admin-new-password", "至少 10 位，含字母和数字", kind="password", maxLength=256)),
        html.Div([html.Button("新建用户", id="admin-new-submit", className="admin-button", n_clicks=0),
                  html.Span(id="admin-new-msg", className=MSG, role="status")], className="admin-actions"),
    ])
    change = html.Div(className="admin-form", children=[
        html.H3("修改用户"),
        _field("用户", _dropdown("admin-edit-user", [], "选择用户"), "admin-field-wide"),
        _field("角色", _dropdown("admin-edit-role", roles, "不变", clearable=False)),
        _field("管辖区划代码", _input("admin-edit-scope", "不变", maxLength=15)),
        _field("重置密码", _input("admin-edit-password", "留空则不修改", kind="password", maxLength=256)),
        html.Div([html.Button("保存修改", id="admin-edit-save", className="admin-button", n_clicks=0),
                  html.Button("停用", id="admin-edit-disable", className="admin-button admin-danger", n_clicks=0),
                  html.Button("启用", id="admin-edit-enable", className="admin-button", n_clicks=0),
                  html.Span(id="admin-edit-msg", className=MSG, role="status")], className="admin-actions"),
        html.P("修改角色、范围、密码或停用后，该用户的已登录会话立即失效。", className="admin-hint"),
    ])
    return html.Section(className="panel admin-panel admin-users", children=[
        _head("用户管理", "admin-users-note"),
        html.Div(av.create_grid("admin-users-grid", av.USER_COLUMNS), className="admin-grid-box"),
        html.Div([create, change], className="admin-forms"),
    ])


def _tokens_section() -> html.Section:
    create = html.Div(className="admin-form", children=[
        html.H3("新建大屏令牌"),
        _field("名称", _input("admin-token-name", "如 指挥中心主屏", maxLength=64)),
        _field("区域", _input("admin-token-code", "区划代码，如 4419", maxLength=15)),
        _field("轮播", _input("admin-token-playlist", "区划代码，逗号分隔（可留空）", maxLength=500), "admin-field-wide"),
        html.Div([html.Button("新建令牌", id="admin-token-submit", className="admin-button", n_clicks=0),
                  html.Span(id="admin-token-msg", className=MSG, role="status")], className="admin-actions"),
        html.Div(id="admin-token-link-box", className=f"admin-link-box {HIDDEN}", children=[
            html.Div([dcc.Input(id="admin-token-link", type="text", readOnly=True, value="",
                                className="admin-input admin-link"),
                      dcc.Clipboard(target_id="admin-token-link", title="复制链接", className="admin-copy")],
                     className="admin-link-row"),
            html.P("请立即复制此链接并配置到大屏。链接只显示这一次，无法再次查看；遗失时请吊销后重新创建。",
                   className="admin-link-note"),
        ]),
    ])
    revoke = html.Div(className="admin-form", children=[
        html.H3("吊销令牌"),
        _field("令牌编号", _input("admin-revoke-id", "点击表格行或输入编号", kind="number", min=1, step=1)),
        html.Div([html.Button("吊销", id="admin-revoke-submit", className="admin-button admin-danger", n_clicks=0),
                  html.Span(id="admin-revoke-msg", className=MSG, role="status")], className="admin-actions"),
        html.P("吊销后该大屏链接立即失效，已打开的大屏在下一次刷新时退出。", className="admin-hint"),
    ])
    return html.Section(className="panel admin-panel admin-tokens", children=[
        _head("大屏令牌", "admin-tokens-note"),
        html.Div(av.create_grid("admin-tokens-grid", av.TOKEN_COLUMNS, selectable=True),
                 className="admin-grid-box"),
        html.Div([create, revoke], className="admin-forms"),
    ])


def _audit_section() -> html.Section:
    filters = html.Div(className="admin-filters", children=[
        _field("操作", _dropdown("admin-audit-action", av.action_options(), "全部操作")),
        _field("用户", _input("admin-audit-user", "用户名", maxLength=64, debounce=True)),
        _field("结果", _dropdown("admin-audit-result", av.result_options(), "全部", value="all", clearable=False)),
        _field("日期", dcc.DatePickerRange(id="admin-audit-dates", display_format="YYYY-MM-DD", first_day_of_week=1,
                                         clearable=True, start_date_placeholder_text="开始日期",
                                         end_date_placeholder_text="结束日期",
                                         max_date_allowed=dt.date.today().isoformat())),
    ])
    return html.Section(className="panel admin-panel admin-audit", children=[
        _head("审计日志", "admin-audit-note"),
        filters,
        html.Div(av.create_grid("admin-audit-grid", av.AUDIT_COLUMNS), className="admin-grid-box admin-audit-box"),
    ])


# ----------------------------------------------------------------------------- helpers
def _actor(csrf: Any) -> tuple[Any, admin.Actor]:
    """For a change: the store and the acting administrator. Without ``admin`` or with
    a wrong CSRF token: PermissionDenied (→ 403 and an audit entry)."""
    p = require("admin")
    require_csrf(inputs.ascii_token(csrf))  # not ASCII text: a wrong token like any other
    return audit.store(), admin.Actor(p)


def _stamp() -> str:
    return dt.datetime.now().isoformat()


def _refused(what: str, exc: Exception) -> str:
    logger.info("admin %s refused: %s", what, exc)
    return getattr(exc, "user_message", None) or "操作失败"


# ----------------------------------------------------------------------------- read callbacks
@callback(
    Output("admin-users-grid", "rowData"), Output("admin-edit-user", "options"), Output("admin-users-note", "children"),
    Input("admin-refresh", "n_clicks"), Input("admin-new-done", "data"), Input("admin-edit-done", "data"),
)
def refresh_users(_n: int | None, _new: Any, _edit: Any) -> tuple[Any, ...]:
    """The users within the administrator's scope."""
    p = require("admin")
    try:
        users = admin.list_users(audit.store(), admin.Actor(p))
    except JinjianError as exc:
        logger.warning("admin users: %s", exc.detail)
        return no_update, no_update, exc.user_message
    return av.build_user_rows(users), av.user_options(users), f"共 {len(users)} 个用户（{p.scope or '全国'} 范围内）"


@callback(
    Output("admin-tokens-grid", "rowData"), Output("admin-tokens-note", "children"),
    Input("admin-refresh", "n_clicks"), Input("admin-token-done", "data"), Input("admin-revoke-done", "data"),
)
def refresh_tokens(_n: int | None, _new: Any, _revoked: Any) -> tuple[Any, ...]:
    """The display tokens of regions within the administrator's scope."""
    p = require("admin")
    try:
        tokens = admin.list_tokens(audit.store(), admin.Actor(p))
    except JinjianError as exc:
        logger.warning("admin tokens: %s", exc.detail)
        return no_update, exc.user_message
    active = sum(t.active for t in tokens)
    return av.build_token_rows(tokens), f"共 {len(tokens)} 个，有效 {active} 个"


@callback(
    Output("admin-audit-grid", "rowData"), Output("admin-audit-note", "children"),
    Input("admin-refresh", "n_clicks"), Input("admin-audit-action", "value"), Input("admin-audit-user", "value"),
    Input("admin-audit-result", "value"), Input("admin-audit-dates", "start_date"),
    Input("admin-audit-dates", "end_date"), *[Input(sid, "data") for sid in DONE_STORES],
)
def refresh_audit(_n: int | None, action: str | None, username: str | None, result: str | None,
                  start: str | None, end: str | None, *_done: Any) -> tuple[Any, str]:
    """Audit entries of the administrator's scope, newest first (at most AUDIT_LIMIT)."""
    p = require("admin")
    try:
        first, last = inputs.optional_day(start), inputs.optional_day(end)
        lo, hi = av.date_bounds(first and first.isoformat(), last and last.isoformat())
        entries = audit.store().audit_rows(
            scope=p.scope, action=inputs.choice(action, audit.ACTIONS_ZH, ""), username=inputs.text(username, limit=64),
            ok=av.result_filter(inputs.choice(result, av.RESULTS, "all")), start=lo, end=hi, limit=av.AUDIT_LIMIT + 1)
    except JinjianError as exc:
        logger.warning("admin audit: %s", exc.detail)
        return no_update, exc.user_message
    capped = len(entries) > av.AUDIT_LIMIT
    rows = av.build_audit_rows(entries[:av.AUDIT_LIMIT])
    return rows, av.audit_note(len(rows), capped)


@callback(
    Output("admin-edit-role", "value"), Output("admin-edit-scope", "value"),
    Input("admin-edit-user", "value"), prevent_initial_call=True,
)
@inputs.keep_on_bad_input
def pick_user(username: str | None) -> tuple[Any, Any]:
    """The chosen user's role and scope, as the change form's starting values."""
    p = require("admin")
    username = inputs.text(username, limit=64)
    try:
        user = next((u for u in admin.list_users(audit.store(), admin.Actor(p)) if u.username == username), None)
    except JinjianError:
        return no_update, no_update
    return (user.role, user.scope) if user else (None, "")


@callback(Output("admin-revoke-id", "value"), Input("admin-tokens-grid", "selectedRows"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def pick_token(selected: list[dict[str, Any]] | None) -> Any:
    """A click on a token row puts its number into the revoke form."""
    require("admin")
    token_id = inputs.integer((inputs.first_row(selected) or {}).get("id"), lo=1)
    return no_update if token_id is None else token_id


# ----------------------------------------------------------------------------- changes
@callback(
    Output("admin-new-msg", "children"), Output("admin-new-msg", "className"), Output("admin-new-done", "data"),
    Output("admin-new-password", "value"),
    Input("admin-new-submit", "n_clicks"),
    State("admin-new-username", "value"), State("admin-new-name", "value"), State("admin-new-role", "value"),
    State("admin-new-scope", "value"), State("admin-new-password", "value"), State("admin-csrf", "data"),
    prevent_initial_call=True,
)
def create_user(_n: int | None, username: str | None, name: str | None, role: str | None, scope: str | None,
                password: str | None, csrf: Any) -> tuple[Any, ...]:
    store, actor = _actor(csrf)
    try:
        username, name, role, scope = (inputs.text(v, limit=64) for v in (username, name, role, scope))
        password = inputs.text(password, strip=False, limit=256)
        if not role:
            return "请选择角色", MSG_ERR, no_update, no_update
        user = admin.create_user(store, actor, username, password, role, scope, name)
    except SHOWN as exc:
        return _refused("create user", exc), MSG_ERR, _stamp(), no_update
    return (f"已新建用户 {user.username}（{av.role_zh(user.role)} · {user.scope or '全国'}）", MSG_OK, _stamp(), "")


@callback(
    Output("admin-edit-msg", "children"), Output("admin-edit-msg", "className"), Output("admin-edit-done", "data"),
    Output("admin-edit-password", "value"),
    Input("admin-edit-save", "n_clicks"), Input("admin-edit-disable", "n_clicks"),
    Input("admin-edit-enable", "n_clicks"),
    State("admin-edit-user", "value"), State("admin-edit-role", "value"), State("admin-edit-scope", "value"),
    State("admin-edit-password", "value"), State("admin-csrf", "data"),
    prevent_initial_call=True,
)
def edit_user(_save: int | None, _disable: int | None, _enable: int | None, username: str | None,
              role: str | None, scope: str | None, password: str | None, csrf: Any) -> tuple[Any, ...]:
    store, actor = _actor(csrf)
    try:
        username, role, scope = (inputs.text(v, limit=64) for v in (username, role, scope))
        password = inputs.text(password, strip=False, limit=256)
        if not username:
            return "请先选择用户", MSG_ERR, no_update, no_update
        button = ctx.triggered_id
        if button == "admin-edit-disable":
            changes: dict[str, Any] = {"disabled": True}
        elif button == "admin-edit-enable":
            changes = {"disabled": False}
        else:
            changes = {"role": role or None, "scope": scope or None, "password": password or None}
        before = store.get_user(username)
        user = admin.update_user(store, actor, username, **changes)
    except SHOWN as exc:
        return _refused("update user", exc), MSG_ERR, _stamp(), no_update
    if user == before:
        return f"{user.username} 没有需要保存的修改", MSG, no_update, no_update
    state = "已停用" if user.disabled else "启用"
    return (f"已保存 {user.username}：{av.role_zh(user.role)} · {user.scope or '全国'} · {state}", MSG_OK, _stamp(),
            "")


@callback(
    Output("admin-token-link", "value"), Output("admin-token-link-box", "className"),
    Output("admin-token-msg", "children"), Output("admin-token-msg", "className"), Output("admin-token-done", "data"),
    Input("admin-token-submit", "n_clicks"),
    State("admin-token-name", "value"), State("admin-token-code", "value"), State("admin-token-playlist", "value"),
    State("admin-csrf", "data"),
    prevent_initial_call=True,
)
def create_token(_n: int | None, name: str | None, region: str | None, playlist: str | None,
                 csrf: Any) -> tuple[Any, ...]:
    """A display token; its link is in this response only (the store keeps a hash)."""
    store, actor = _actor(csrf)
    hidden = f"admin-link-box {HIDDEN}"
    try:
        name, region, playlist = inputs.text(name, limit=64), inputs.text(region, limit=64), inputs.text(playlist)
        token, secret = admin.create_token(store, actor, name, region, admin.parse_playlist(playlist))
    except SHOWN as exc:
        return "", hidden, _refused("create token", exc), MSG_ERR, _stamp()
    link = av.wall_link(secret, flask.request.host_url if flask.has_request_context() else "")
    return (link, "admin-link-box", f"已新建大屏令牌 #{token.id}（{token.name} · {token.region or '全国'}）", MSG_OK,
            _stamp())


@callback(
    Output("admin-revoke-msg", "children"), Output("admin-revoke-msg", "className"),
    Output("admin-revoke-done", "data"),
    Input("admin-revoke-submit", "n_clicks"), State("admin-revoke-id", "value"), State("admin-csrf", "data"),
    prevent_initial_call=True,
)
def revoke_token(_n: int | None, token_id: Any, csrf: Any) -> tuple[Any, ...]:
    store, actor = _actor(csrf)
    try:
        tid = inputs.integer(token_id, lo=1)
    except inputs.BadInput:
        tid = None
    if tid is None:
        return "请输入令牌编号", MSG_ERR, no_update
    try:
        done = admin.revoke_token(store, actor, tid)
    except SHOWN as exc:
        return _refused("revoke token", exc), MSG_ERR, _stamp()
    return (f"已吊销大屏令牌 #{tid}" if done else f"大屏令牌 #{tid} 此前已吊销"), MSG_OK, _stamp()
