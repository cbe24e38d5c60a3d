"""主体画像: one market entity — identity, credit grade and list entries, its risk
score explained factor by factor, the events timeline and its supervision tasks.

URL: ``/entity/<credit_code>?date=2026-11-20`` (``date``: as-of day of the risk
score, default today). ``layout()`` does no database work: a malformed credit code
(``domain.uscc``) gets the 404 panel at once; an unknown one, or one outside the
jurisdiction, gets it from the callback.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html, no_update

from components import risk_views as rv
from components.risk_factors import bar_background, factor_breakdown
from components.format import format_cn
from auth.web import nav_account
from components.nav import create_nav
from etl.demo_names import INDUSTRIES
from domain.uscc import InvalidCreditCode, validate
from store.db import get_db
from queries.entities import ENTITY_TYPE_ZH, STATUS_ZH as ENTITY_STATUS_ZH
from queries.entity_list import PROFILE_ROWS, EntityProfile, entity_profile
from domain.errors import InvalidParameter, JinjianError
from queries.events import EVENT_TYPE_ZH
from store.filters import Filter, RegionScope
from pages import inputs
from queries.regions import region_node
from queries.risk import entity_risk
from auth import can, scope_root
from settings import ConfigError
from supervision.risk import RISK_GRADES, RiskRules
from supervision.rules import STATUS_ZH, TASK_TYPE_ZH

logger = logging.getLogger(__name__)

dash.register_page(__name__, path_template="/entity/<code>", title="金监 · 主体画像", name="主体画像")

HIDDEN = "hidden"
NONE = "—"
RESULT_ZH = {"pass": "合格", "fail": "不合格", "none": ""}
CHANGE_KIND_ZH = {"address": "住所变更", "scope": "经营范围变更", "legal_rep": "法定代表人变更",
                  "name": "名称变更", "capital": "注册资本变更"}
CREDIT_ZH = {"A": "A（守信）", "B": "B（基本守信）", "C": "C（失信风险）", "D": "D（严重失信）"}
LIST_EVENTS = ("list_entry", "list_exit")


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def _code(value: str | None) -> str | None:
    """The normalised credit code, or None when it is malformed (or not text at all)."""
    if not isinstance(value, str):
        return None
    try:
        return validate(value)
    except InvalidCreditCode:
        return None


def _not_found(code: str | None) -> list[Any]:
    shown = (inputs.param(code) or "").strip()[:40]
    return [html.Div("404", className="region-status-code"), html.H2("未找到该市场主体"),
            html.P(f"统一社会信用代码 “{shown}” 格式不正确，或不在本平台辖区内。"),
            dcc.Link("返回风险预警", href=dash.get_relative_path("/risk"), className="region-back-link",
                     id="entity-back")]


def layout(code: str | None = None, date: str | None = None, **_: Any) -> html.Div:
    credit = _code(code)
    try:
        day = inputs.day(date).isoformat()
    except JinjianError:
        day = dt.date.today().isoformat()
    main_cls = "entity-main" if credit else f"entity-main {HIDDEN}"
    return html.Div(className="page entity-page", children=[
        create_nav("/risk", nav_account()),
        html.Header(className="page-header entity-header", children=[
            html.H1("主体画像"),
            html.Div(credit or "", id="entity-title", className="region-name entity-title"),
            html.Span(credit or "", id="entity-code-label", className="entity-code-label"),
            html.Div(className="risk-controls", children=[
                html.Span("评分截至", className="risk-control-label"),
                dcc.DatePickerSingle(id="entity-date", date=day, display_format="YYYY-MM-DD", first_day_of_week=1,
                                     clearable=False, max_date_allowed=max(day, dt.date.today().isoformat()))]),
        ]),
        html.Div(id="entity-banner", className=f"banner {HIDDEN}", role="alert"),
        html.Div([] if credit else _not_found(code), id="entity-status",
                 className=f"region-status {HIDDEN}" if credit else "region-status"),
        html.Div(id="entity-main", className=main_cls, children=[
            html.Section(className="panel entity-identity-panel", children=[
                html.H2("基本信息"), html.Div(id="entity-identity", className="entity-identity")]),
            html.Section(className="panel entity-risk-panel", children=[
                html.H2("风险评分"), html.Div(id="entity-risk", className="entity-risk")]),
            html.Section(className="panel entity-credit-panel", children=[
                html.H2("信用与名录"), html.Div(id="entity-credit", className="entity-credit")]),
            html.Section(className="panel entity-events-panel", children=[
                html.Div([html.H2("事件时间轴"), html.Span(id="entity-events-note", className="risk-note")],
                         className="risk-panel-head"),
                html.Ol(id="entity-events", className="entity-events")]),
            html.Section(className="panel entity-tasks-panel", children=[
                html.Div([html.H2("监管任务"), html.Span(id="entity-tasks-note", className="risk-note")],
                         className="risk-panel-head"),
                html.Div(id="entity-tasks", className="entity-tasks")]),
            html.Section(className="panel entity-inspect-panel", children=[
                html.H2("涉企检查与联合惩戒"), html.Div(id="entity-inspect", className="entity-inspect")]),
        ]),
        dcc.Store(id="entity-code", data=credit),
    ])


# ----------------------------------------------------------------------------- pieces
def _day(x: Any) -> str:
    return NONE if x is None or pd.isna(x) else pd.Timestamp(x).strftime("%Y-%m-%d")


def _field(label: str, value: Any, fid: str | None = None) -> html.Div:
    extra = {"id": fid} if fid else {}
    return html.Div([html.Dt(label), html.Dd(value if value not in (None, "") else NONE, **extra)],
                    className="entity-field")


def _grid_path(path: pd.DataFrame, grid: str, date: str | None) -> list[Any]:
    """东莞市 › 镇街 › 村居 › 网格: ancestors link to their 区域下钻 page, the grid to the risk map."""
    out: list[Any] = []
    rows = list(path.itertuples(index=False))
    for i, r in enumerate(rows):
        if i:
            out.append(html.Span("›", className="risk-crumb-sep"))
        if str(r.code) == grid:
            out.append(html.Span(r.name, className="risk-crumb-current"))
        else:
            extra = {"id": "entity-grid-parent"} if i == len(rows) - 2 else {}
            out.append(dcc.Link(r.name, href=dash.get_relative_path(f"/region/{r.code}"), className="risk-crumb",
                                **extra))
    if len(rows) >= 2:
        parent = str(rows[-2].code)
        out.append(dcc.Link("风险地图", className="entity-map-link",
                            href=rv.risk_href(parent, date, grid, prefix=dash.get_relative_path(rv.PATH))))
    return out


def identity(e: dict[str, Any], path: pd.DataFrame, date: str | None) -> list[Any]:
    industry = str(e.get("industry") or "")
    status = ENTITY_STATUS_ZH.get(str(e.get("status")), str(e.get("status")))
    if str(e.get("status")) != "active":
        status = f"{status}（{_day(e.get('status_date'))}）"
    capital = e.get("capital")
    return [html.Dl(className="entity-fields", children=[
        _field("名称", str(e.get("name") or ""), "entity-name"),
        _field("统一社会信用代码", str(e.get("credit_code") or "")),
        _field("主体类型", ENTITY_TYPE_ZH.get(str(e.get("entity_type")), str(e.get("entity_type")))),
        _field("行业门类", f"{industry} {INDUSTRIES.get(industry, ('',))[0]}".strip()),
        _field("登记状态", status),
        _field("成立日期", _day(e.get("reg_date"))),
        _field("注册资本", f"{format_cn(float(capital))} 万元" if capital is not None and not pd.isna(capital) else None),
        _field("法定代表人/经营者", str(e.get("legal_rep") or "")),
        _field("经营者身份证号", str(e.get("owner_id") or ""), "entity-owner-id"),
        _field("所属网格", html.Span(_grid_path(path, str(e.get("grid_code")), date), className="entity-grid-path"),
               "entity-grid"),
    ])]


def credit_panel(e: dict[str, Any], events: pd.DataFrame) -> list[Any]:
    grade = str(e.get("credit_grade") or "")
    flags = [("经营异常名录", bool(e.get("abnormal"))), ("严重违法失信名单", bool(e.get("dishonest")))]
    lists = events[events["event_type"].isin(LIST_EVENTS)] if len(events) else events
    items = [html.Li([html.Span(_day(r.event_date), className="entity-ev-time"),
                      html.Span(EVENT_TYPE_ZH.get(r.event_type, r.event_type), className=f"entity-list-{r.event_type}"),
                      html.Span(str(r.detail or ""))]) for r in lists.itertuples(index=False)]
    return [html.Div([html.Span("信用等级", className="entity-credit-label"),
                      html.Span(CREDIT_ZH.get(grade, grade or NONE), id="entity-credit-grade",
                                className=f"entity-credit-grade entity-credit-{grade}")], className="entity-credit-row"),
            html.Div([html.Span(f"{label}：{'已列入' if on else '未列入'}",
                                className=f"entity-flag {'entity-flag-on' if on else ''}".strip())
                      for label, on in flags], className="entity-flags", id="entity-flags"),
            html.H3("列入 / 移出记录"),
            html.Ul(items or [html.Li("无列入记录", className="risk-empty")], className="entity-lists",
                    id="entity-lists")]


def _event_detail(r: Any) -> str:
    detail = str(r.detail or "")
    if r.event_type == "change":
        detail = CHANGE_KIND_ZH.get(detail, detail)
    parts = [detail, RESULT_ZH.get(str(r.result), "")]
    if r.amount and float(r.amount) > 0:
        parts.append(f"金额 {float(r.amount):,.2f} 元")
    if r.batch_no:
        parts.append(f"批次 {r.batch_no}")
    return " · ".join(p for p in parts if p)


def timeline(events: pd.DataFrame) -> list[Any]:
    if events.empty:
        return [html.Li("暂无事件", className="risk-empty")]
    warn = {"complaint", "penalty", "list_entry"}
    out = []
    for r in events.itertuples(index=False):
        hot = r.event_type in warn or str(r.result) == "fail"
        out.append(html.Li(className=f"entity-ev{' entity-ev-warn' if hot else ''}", children=[
            html.Span(pd.Timestamp(r.event_time).strftime("%Y-%m-%d %H:%M"), className="entity-ev-time"),
            html.Span(EVENT_TYPE_ZH.get(r.event_type, r.event_type), className="entity-ev-type"),
            html.Span(_event_detail(r), className="entity-ev-detail")]))
    return out


def task_table(tasks: pd.DataFrame) -> list[Any]:
    if tasks.empty:
        return [html.P("暂无监管任务", className="risk-empty")]
    head = html.Thead(html.Tr([html.Th(h) for h in ("任务编号", "类型", "状态", "推送时间", "期限", "办结时间", "发现问题")]))
    body = html.Tbody([html.Tr([
        html.Td(str(t.task_id)), html.Td(TASK_TYPE_ZH.get(t.task_type, t.task_type)),
        html.Td(STATUS_ZH.get(t.status, t.status), className=f"entity-task-{t.status}"),
        html.Td(_day(t.created_at)), html.Td(_day(t.due_date)), html.Td(_day(t.closed_at)),
        html.Td("是" if t.problem_found else "否")]) for t in tasks.itertuples(index=False)])
    return [html.Table([head, body], className="risk-table entity-task-table")]


def risk_panel(risk: dict[str, Any] | None, rules: RiskRules, date: str) -> list[Any]:
    if risk is None:
        return [html.P(f"该主体在 {date} 不是存续状态，未参与风险评分。", className="risk-empty", id="entity-score")]
    grade = str(risk["grade"])
    score = float(risk["score"])
    return [html.Div(className="entity-score-row", children=[
        html.Span(f"{score:.2f}", id="entity-score", className="entity-score", **{"data-value": f"{score:.2f}"},
                  style={"color": rv.GRADE_COLOURS.get(grade)}),
        html.Span(f"/ {rules.max_score:g} 分", className="entity-score-max"),
        html.Span(RISK_GRADES.get(grade, grade), id="entity-grade", className=f"risk-chip risk-chip-{grade}",
                  **{"data-grade": grade}),
        html.Span(f"截至 {date}", className="risk-note")]),
        html.Div(className="entity-score-bar", style={"backgroundImage": bar_background(risk, rules.max_score)}),
        factor_breakdown(risk, rules.weights)]


# ----------------------------------------------------------------------------- callbacks
def _load(code: str) -> tuple[EntityProfile | None, pd.DataFrame]:
    root = _root()
    db, flt = get_db(), Filter(region=root, scope=RegionScope(root))
    profile = entity_profile(db, flt, code, pii=can("pii"))  # personal data masked unless the role allows
    if profile is None:
        return None, pd.DataFrame()
    node = region_node(db, str(profile.entity["grid_code"]), flt.scope)
    path = node.path[node.path["code"].str.startswith(root) & (node.path["code"] != "")]
    return profile, path


@callback(
    Output("entity-title", "children"), Output("entity-status", "children"), Output("entity-status", "className"),
    Output("entity-main", "className"), Output("entity-identity", "children"), Output("entity-credit", "children"),
    Output("entity-events", "children"), Output("entity-events-note", "children"),
    Output("entity-tasks", "children"), Output("entity-tasks-note", "children"),
    Output("entity-banner", "children"), Output("entity-banner", "className"),
    Input("entity-code", "data"), Input("entity-date", "date"),
)
def refresh(code: str | None, date: str | None) -> tuple[Any, ...]:
    """Identity, credit and lists, events and tasks (or the 404 panel)."""
    missing = (no_update, _not_found(code), "region-status", f"entity-main {HIDDEN}") + (no_update,) * 6
    if _code(code) is None:
        return (*missing, "", f"banner {HIDDEN}")
    try:
        day = inputs.optional_day(date)  # only for links
        profile, path = _load(code)
    except JinjianError as exc:
        logger.warning("entity %r failed: %s", code, exc.detail)
        return (no_update,) * 10 + (exc.user_message, "banner")
    if profile is None:
        logger.info("entity %r not found in %r", code, _root())
        return (*missing, "", f"banner {HIDDEN}")
    e = profile.entity
    ev_note = (f"共 {profile.events_total:,} 条" if profile.events_total <= PROFILE_ROWS
               else f"共 {profile.events_total:,} 条，显示最新 {PROFILE_ROWS} 条")
    tk_note = f"共 {profile.tasks_total:,} 件" + ("" if profile.tasks_total <= PROFILE_ROWS else f"，显示最新 {PROFILE_ROWS} 件")
    return (str(e.get("name") or code), [], f"region-status {HIDDEN}", "entity-main", identity(e, path, day and day.isoformat()),
            credit_panel(e, profile.events), timeline(profile.events), ev_note, task_table(profile.tasks), tk_note,
            "", f"banner {HIDDEN}")


@callback(Output("entity-risk", "children"), Input("entity-code", "data"), Input("entity-date", "date"))
def refresh_risk(code: str | None, date: str | None) -> list[Any]:
    """The score as of the date, with its breakdown."""
    if _code(code) is None:
        return []
    root = _root()
    try:
        try:
            rules = RiskRules.from_env()
        except ConfigError as exc:
            raise InvalidParameter(f"risk rules: {exc}", user_message=rv.RULES_MESSAGE) from None
        day = inputs.day(date)
        risk = entity_risk(get_db(), Filter(region=root, scope=RegionScope(root)), day, rules, code)
    except JinjianError as exc:
        logger.warning("entity risk %r failed: %s", code, exc.detail)
        return [html.P(exc.user_message, className="risk-error")]
    return risk_panel(risk, rules, day.isoformat())


@callback(Output("entity-inspect", "children"), Input("entity-code", "data"), Input("entity-date", "date"))
def refresh_inspect(code: str | None, date: str | None) -> list[Any]:
    """涉企检查: the firm's inspections of the year up to the date and its flags (docs/double_random.md)."""
    from components.joint_views import measures_in_force
    from components.random_views import entity_inspections
    from queries.discipline import inspections_of, spared_codes
    from queries.joint import in_force
    from supervision.discipline import InspectionRules

    code = _code(code)
    if code is None:
        return []
    root = _root()
    try:
        try:
            rules = InspectionRules.from_env()
        except ConfigError as exc:
            raise InvalidParameter(f"inspection rules: {exc}", user_message="涉企检查规则配置不正确，请联系系统管理员") from None
        day, db = inputs.day(date), get_db()
        rows = inspections_of(db, code, root, day)
        spared = code in spared_codes(db, _entity_grid(db, code, root), day, rules)
        joint = in_force(db, code, root)
    except JinjianError as exc:
        logger.warning("entity inspections %r failed: %s", code, exc.detail)
        return [html.P(exc.user_message, className="risk-error")]
    return measures_in_force(joint) + entity_inspections(rows, day, spared, rules.window_days, rules.max_per_year)


def _entity_grid(db: Any, code: str, root: str) -> str:
    """The firm's grid inside the scope (the narrowest region to look for it in), else the scope."""
    from queries.entity_list import entity_grid

    grid = entity_grid(db, code)
    return grid if grid and grid.startswith(root) else root
