"""账号与审计 page (/admin): pure component factories (no database, no server).

Grid column definitions and row building for users (:class:`auth.store.User`),
display tokens (:class:`auth.store.DisplayToken`) and audit entries (the dicts of
``AuthStore.audit_rows``), dropdown options, the audit filters and small texts.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping, Sequence

import dash_ag_grid as dag

from auth.audit import ACTIONS_ZH
from auth.roles import ROLES
from components.tables import DARK_THEME, WRAP_HEADERS
from domain.errors import InvalidParameter
from store.filters import parse_date

NONE = "—"
#: Most audit entries the page shows (one more is asked for, to know it was capped).
AUDIT_LIMIT = 5000
#: Audit result filter: value → (label, ``ok`` argument of audit_rows).
RESULTS: dict[str, tuple[str, bool | None]] = {"all": ("全部", None), "ok": ("成功", True), "fail": ("失败", False)}
#: Who else may appear in the audit log besides the roles.
OTHER_ROLES_ZH = {"display": "大屏", "ingest": "数据接入令牌", "": NONE}
USER_STATUS_ZH = {False: "启用", True: "停用"}
TOKEN_STATUS_ZH = {True: "有效", False: "已吊销"}
LOCALE = {"noRowsToShow": "暂无数据", "filterOoo": "筛选…", "contains": "包含", "notContains": "不包含",
          "equals": "等于", "notEqual": "不等于", "startsWith": "开头是", "endsWith": "结尾是",
          "blank": "为空", "notBlank": "不为空", "andCondition": "且", "orCondition": "或"}

#: Grid columns (field, header, extra column options) in display order.
USER_COLUMNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("username", "用户名", {"minWidth": 130, "pinned": "left"}), ("display_name", "姓名", {"minWidth": 110}),
    ("role_zh", "角色", {"minWidth": 110}), ("scope", "管辖区划代码", {"minWidth": 130}),
    ("status", "状态", {"minWidth": 80, "cellClassRules": {"admin-cell-off": "params.value === '停用'"}}),
    ("created_by", "创建人", {"minWidth": 110}), ("created_at", "创建时间", {"minWidth": 160}),
    ("last_login", "最近登录", {"minWidth": 160}),
)
TOKEN_COLUMNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("id", "编号", {"minWidth": 80, "maxWidth": 100, "filter": "agNumberColumnFilter"}),
    ("name", "名称", {"minWidth": 140}), ("region", "区域", {"minWidth": 110}),
    ("playlist", "轮播", {"minWidth": 160, "tooltipField": "playlist"}),
    ("created_by", "创建人", {"minWidth": 110}), ("created_at", "创建时间", {"minWidth": 160}),
    ("status", "状态", {"minWidth": 90, "cellClassRules": {"admin-cell-off": "params.value === '已吊销'"}}),
)
AUDIT_COLUMNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("at", "时间", {"minWidth": 170}), ("username", "用户", {"minWidth": 120}), ("role_zh", "角色", {"minWidth": 100}),
    ("action_zh", "操作", {"minWidth": 130}),
    ("result", "结果", {"minWidth": 80, "cellClassRules": {"admin-cell-fail": "params.value === '失败'"}}),
    ("target", "对象", {"minWidth": 180, "tooltipField": "target"}), ("region", "区域", {"minWidth": 110}),
    ("ip", "IP", {"minWidth": 120}), ("detail", "详情", {"minWidth": 240, "flex": 2, "tooltipField": "detail"}),
)


# ----------------------------------------------------------------------------- texts and options
def when(value: Any, seconds: bool = False) -> str:
    """A stored time as 'YYYY-MM-DD HH:MM[:SS]' ('—' when there is none)."""
    if value is None or value == "":
        return NONE
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return str(value)


def role_zh(role: str) -> str:
    r = ROLES.get(role)
    return r.zh if r else OTHER_ROLES_ZH.get(role, role)


def role_options(max_rank: int) -> list[dict[str, str]]:
    """The roles an administrator of rank ``max_rank`` may grant, highest first."""
    roles = sorted((r for r in ROLES.values() if r.rank <= max_rank), key=lambda r: -r.rank)
    return [{"label": r.zh, "value": r.key} for r in roles]


def rank_of(role: str) -> int:
    r = ROLES.get(role)
    return r.rank if r else 0


def action_options() -> list[dict[str, str]]:
    return [{"label": zh, "value": key} for key, zh in ACTIONS_ZH.items()]


def result_options() -> list[dict[str, str]]:
    return [{"label": label, "value": key} for key, (label, _ok) in RESULTS.items()]


def result_filter(value: str | None) -> bool | None:
    """The ``ok`` argument of audit_rows for the result dropdown (None = all)."""
    return RESULTS.get(value or "all", RESULTS["all"])[1]


def user_options(users: Iterable[Any]) -> list[dict[str, str]]:
    """The users of the change form: 'name（username · role · scope）'."""
    return [{"label": f"{u.display_name or u.username}（{u.username} · {role_zh(u.role)} · {u.scope or '全国'}）"
                      + ("（已停用）" if u.disabled else ""), "value": u.username} for u in users]


def date_bounds(start: str | None, end: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The audit date range as [start 00:00, the day after end 00:00); either may be open."""
    lo = dt.datetime.combine(parse_date(start), dt.time()) if start else None
    hi = dt.datetime.combine(parse_date(end) + dt.timedelta(days=1), dt.time()) if end else None
    if lo is not None and hi is not None and hi <= lo:
        raise InvalidParameter(f"audit range {start}..{end}", user_message="结束日期不能早于开始日期")
    return lo, hi


def wall_link(secret: str, host_url: str = "") -> str:
    """The link a wall screen opens: ``<host>/wall/<secret>``."""
    return host_url.rstrip("/") + "/wall/" + secret


def audit_note(shown: int, capped: bool) -> str:
    if capped:
        return f"仅显示最近 {shown:,} 条，请缩小筛选范围（日期、用户或操作）查看更早的记录"
    return f"共 {shown:,} 条"


# ----------------------------------------------------------------------------- rows
def build_user_rows(users: Sequence[Any]) -> list[dict[str, Any]]:
    """Grid rows of :class:`auth.store.User` objects, in the given order."""
    return [{"row_id": u.username, "username": u.username, "display_name": u.display_name, "role": u.role,
             "role_zh": role_zh(u.role), "scope": u.scope or "全国", "status": USER_STATUS_ZH[bool(u.disabled)],
             "created_by": u.created_by or NONE,
             "created_at": when(u.created_at), "last_login": when(u.last_login)} for u in users]


def build_token_rows(tokens: Sequence[Any]) -> list[dict[str, Any]]:
    """Grid rows of :class:`auth.store.DisplayToken` objects, newest first."""
    rows = []
    for t in sorted(tokens, key=lambda t: -t.id):
        status = TOKEN_STATUS_ZH[t.active]
        if not t.active:
            status = f"{status}（{when(t.revoked_at)}）"
        rows.append({"row_id": str(t.id), "id": t.id, "name": t.name, "region": t.region or "全国",
                     "playlist": "、".join(t.playlist) or NONE, "created_by": t.created_by or NONE,
                     "created_at": when(t.created_at), "status": status, "active": t.active})
    return rows


def build_audit_rows(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Grid rows of audit entries (dicts of AuthStore.audit_rows), in the given order."""
    return [{"row_id": str(e.get("id")), "id": e.get("id"), "at": when(e.get("at"), seconds=True),
             "username": e.get("username") or NONE, "role_zh": role_zh(e.get("role") or ""),
             "action": e.get("action", ""),
             "action_zh": ACTIONS_ZH.get(e.get("action", ""), e.get("action", "")),
             "result": "成功" if e.get("ok") else "失败", "target": e.get("target") or "",
             "region": e.get("region") or "", "ip": e.get("ip") or "", "detail": e.get("detail") or ""}
            for e in entries]


# ----------------------------------------------------------------------------- grids
def column_defs(columns: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"field": f, "headerName": h, "flex": 1, **extra} for f, h, extra in columns]


def create_grid(grid_id: str, columns: Sequence[tuple[str, str, dict[str, Any]]],
                selectable: bool = False) -> dag.AgGrid:
    """A sortable, filterable dark grid of rows keyed by their ``row_id`` (a string);
    ``selectable``: a click selects one row."""
    options: dict[str, Any] = {"animateRows": False, "theme": DARK_THEME, "localeText": LOCALE,
                               "tooltipShowDelay": 400}
    if selectable:
        options["rowSelection"] = {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}
    return dag.AgGrid(
        id=grid_id, columnDefs=column_defs(columns), rowData=[], getRowId="params.data.row_id",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions=options, className=f"admin-grid {grid_id}", style={"height": "100%", "width": "100%"},
    )
