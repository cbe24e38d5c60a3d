"""联合惩戒 page pieces (pages/joint.py): the cards, the cases, one case's departments and the
forms (发起、反馈、信用修复). Pure factories over the frames of :mod:`queries.joint`."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

import dash_ag_grid as dag
import pandas as pd
from dash import dcc, html

from components.cards import create_stat_card
from components.format import DROPDOWN_LABELS
from components.tables import CSV_SAFE, DARK_THEME, WRAP_HEADERS
from supervision.joint import CASE_STATES_ZH, MEMORANDA

EPOCH = pd.Timestamp("1970-01-01")


def create_cards(fig: Mapping[str, int] | None) -> list[html.Div]:
    """在办案件 · 应反馈 · 已反馈 · 按期反馈率 · 逾期未反馈."""
    f = dict(fig or {})
    rate = round(100 * f["ontime"] / f["due"], 1) if f.get("due") else None
    return [create_stat_card("joint-card-open", "在办案件", f.get("open"), "件", "已发起、尚未信用修复"),
            create_stat_card("joint-card-due", "应反馈", f.get("due"), "件", "已到反馈期限的参与部门"),
            create_stat_card("joint-card-done", "已反馈", f.get("done"), "件", "参与部门已反馈执行情况"),
            create_stat_card("joint-card-rate", "按期反馈率", rate, "%", "期限内反馈 ÷ 应反馈"),
            create_stat_card("joint-card-overdue", "逾期未反馈", f.get("overdue"), "件", "已过期限仍未反馈")]


def _grid(grid_id: str, cols: list[dict], row_id: str, height: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=cols, rowData=[], getRowId=row_id,
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "rowSelection": {"mode": "singleRow"},
                         "localeText": {"noRowsToShow": "暂无数据"}},
        csvExportParams={"fileName": f"{grid_id}.csv", **CSV_SAFE}, style={"height": height, "width": "100%"})


def create_cases_grid() -> dag.AgGrid:
    wrap = {"wrapText": True, "autoHeight": True, "cellStyle": {"lineHeight": "1.5"}}
    cols = [{"field": "entity_name", "headerName": "主体名称", "minWidth": 200, "flex": 2, **wrap},
            {"field": "credit_code", "headerName": "统一社会信用代码", "width": 215},
            {"field": "memo", "headerName": "合作备忘录", "minWidth": 200, "flex": 2, **wrap},
            {"field": "dept_name", "headerName": "发起部门", "minWidth": 170, "flex": 1, **wrap},
            {"field": "opened", "headerName": "发起日期", "width": 120},
            {"field": "feedback", "headerName": "反馈", "width": 100},
            {"field": "state", "headerName": "状态", "width": 130},
            {"field": "case_id", "headerName": "案件编号", "minWidth": 270, "flex": 1}]
    return _grid("joint-cases", cols, "params.data.case_id", "320px")


def build_case_rows(cases: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"case_id": r.case_id, "entity_name": r.entity_name, "credit_code": r.credit_code,
             "memo": MEMORANDA[r.memo_id].name if r.memo_id in MEMORANDA else r.memo_id, "dept_name": r.dept_name,
             "opened": f"{pd.Timestamp(r.opened_at):%Y-%m-%d}", "feedback": f"{int(r.done)}/{int(r.depts)}",
             "state": CASE_STATES_ZH["repaired" if pd.Timestamp(r.closed_at) > EPOCH else "open"]}
            for r in cases.itertuples(index=False)]


def create_actions_grid() -> dag.AgGrid:
    cols = [{"field": "dept_name", "headerName": "参与部门", "minWidth": 180, "flex": 1},
            {"field": "due", "headerName": "反馈期限", "width": 120},
            {"field": "state", "headerName": "反馈情况", "width": 150},
            {"field": "note", "headerName": "执行情况", "minWidth": 220, "flex": 2},
            {"field": "dept_id", "headerName": "部门编码", "width": 130}]
    return _grid("joint-actions", cols, "params.data.dept_id", "300px")


def build_action_rows(actions: pd.DataFrame, today: dt.date) -> list[dict[str, Any]]:
    def state(r: Any) -> str:
        if pd.Timestamp(r.done_at) > EPOCH:
            late = pd.Timestamp(r.done_at).normalize() > pd.Timestamp(r.due_date)
            return f"{pd.Timestamp(r.done_at):%Y-%m-%d} 已反馈" + ("（逾期）" if late else "")
        return "逾期未反馈" if pd.Timestamp(r.due_date) < pd.Timestamp(today) else "待反馈"
    return [{"dept_id": r.dept_id, "dept_name": r.dept_name, "due": f"{pd.Timestamp(r.due_date):%Y-%m-%d}",
             "state": state(r), "note": r.note} for r in actions.itertuples(index=False)]


def case_info(case: Mapping[str, Any] | None) -> list[Any]:
    if not case:
        return [html.Span("请在上表中选择一个案件", className="random-hint")]
    memo = MEMORANDA.get(str(case["memo_id"]))
    parts = [html.Div([html.B(case["entity_name"] or case["credit_code"]), html.Span(f"（{case['credit_code']}）")]),
             html.Div(f"事由：{case['reason']}；依据：{memo.basis if memo else ''}")]
    if memo:
        parts.append(html.Div("惩戒措施：" + "；".join(memo.measures), id="joint-measures"))
    if pd.Timestamp(case["closed_at"]) > EPOCH:
        parts.append(html.Div(f"{pd.Timestamp(case['closed_at']):%Y-%m-%d} 信用修复：{case['close_note']}",
                              className="random-hint"))
    return parts


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="random-label"), control], className="random-field")


def create_open_form() -> html.Div:
    return html.Div(className="joint-form", children=[
        _field("统一社会信用代码", dcc.Input(id="joint-code", type="text", maxLength=18, className="random-input")),
        _field("合作备忘录", dcc.Dropdown(id="joint-memo", options=[{"label": m.name, "value": k}
                                                                 for k, m in MEMORANDA.items()],
                                      value="dishonest", clearable=False, labels=DROPDOWN_LABELS)),
        _field("惩戒事由", dcc.Input(id="joint-reason", type="text", maxLength=200, className="random-input")),
        html.Div([html.Button("发起联合惩戒", id="joint-open", n_clicks=0, className="btn"),
                  html.Button("按严重违法失信名单补发", id="joint-sync", n_clicks=0, className="btn")],
                 className="joint-buttons"),
        html.Div(id="joint-open-msg", className="random-msg", role="status"),
    ])


def create_action_form() -> html.Div:
    return html.Div(className="joint-action-form", children=[
        dcc.Input(id="joint-note", type="text", maxLength=200, placeholder="执行情况或信用修复说明",
                  className="random-input"),
        html.Button("反馈执行情况（选中部门）", id="joint-feedback", n_clicks=0, className="btn"),
        html.Button("信用修复", id="joint-repair", n_clicks=0, className="btn"),
        html.Div(id="joint-action-msg", className="random-msg", role="status"),
    ])


def measures_in_force(cases: pd.DataFrame) -> list[html.P]:
    """主体画像: the joint-punishment measures in force on the entity (its open cases)."""
    out = []
    for r in cases.itertuples(index=False):
        memo = MEMORANDA.get(r.memo_id)
        if memo is not None:
            out.append(html.P(f"联合惩戒（{memo.name}，{pd.Timestamp(r.opened_at):%Y-%m-%d} 起）：" + "；".join(memo.measures),
                              className="entity-joint"))
    return out
