"""双随机抽查 page pieces (pages/random.py): the headline cards, the problem rate by credit-risk
class, the plan list, a plan's drawn firms, the draw form and the publication list (公示)
as CSV. Pure factories over the frames of :mod:`queries.random_checks`."""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Mapping

import dash_ag_grid as dag
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from components.cards import create_stat_card
from components.figures import create_figure
from components.format import DROPDOWN_LABELS
from components.tables import CSV_SAFE, DARK_THEME, WRAP_HEADERS
from domain.cells import csv_safe_row
from domain.codes import RANDOM_RESULTS_ZH
from domain.sources import INDUSTRY_SECTIONS

ENTITY_TYPES_ZH = {"enterprise": "企业", "individual": "个体工商户", "cooperative": "农民专业合作社"}
LISTED_ZH = {"all": "全部主体", "unlisted": "未列入经营异常名录和严重违法失信名单", "abnormal": "仅经营异常名录",
             "dishonest": "仅严重违法失信名单"}
CLASS_ZH = {"A": "A类（低风险）", "B": "B类（一般风险）", "C": "C类（较高风险）", "D": "D类（高风险）"}
CLASS_COLOURS = {"A": "#38d39f", "B": "#3d8bff", "C": "#ffb020", "D": "#ff3b3b"}
#: Columns of the publication list (抽查结果公示), in order.
PUBLICATION = ("计划名称", "检查部门", "主体名称", "统一社会信用代码", "抽查结果", "检查日期", "检查人员")


def create_cards(fig: Mapping[str, int] | None, prefix: str = "random") -> list[html.Div]:
    """抽查户数 · 已检查 · 完成率 · 逾期未检查 · 问题发现率 (ids ``<prefix>-card-*``)."""
    f = dict(fig or {})
    drawn, done = f.get("drawn"), f.get("done")
    rate = round(100 * done / drawn, 1) if drawn else None
    found = round(100 * f["problems"] / done, 1) if done else None
    return [create_stat_card(f"{prefix}-card-drawn", "抽查户数", drawn, "户", "本辖区已抽取的检查对象"),
            create_stat_card(f"{prefix}-card-done", "已检查", done, "户", "已录入抽查结果"),
            create_stat_card(f"{prefix}-card-rate", "完成率", rate, "%", "已检查 ÷ 抽查户数"),
            create_stat_card(f"{prefix}-card-overdue", "逾期未检查", f.get("overdue"), "户", "检查期限已过仍未录入结果"),
            create_stat_card(f"{prefix}-card-found", "问题发现率", found, "%", "发现问题 ÷ 已检查")]


def create_tasks_section(cards: Any = None, figure: go.Figure | None = None, note: str = "",
                         joint: str = "") -> html.Section:
    """双随机抽查 on /tasks: the cards and the problem rate by class of the chosen region and day
    (``pages.random.tasks_random``'s four parts; empty until they are known)."""
    return html.Section(className="panel tasks-random-panel", children=[
        html.Div(className="tasks-panel-head", children=[
            html.H2("双随机抽查"), html.Span(note, id="tasks-random-note", className="tasks-table-note"),
            dcc.Link("抽查计划与结果 ›", href="/random", className="tasks-random-link")]),
        html.Div(className="tasks-panel-head", children=[
            html.H3("联合惩戒"), html.Span(joint, id="tasks-joint-note", className="tasks-table-note"),
            dcc.Link("案件与反馈 ›", href="/joint", className="tasks-random-link")]),
        html.Div(className="tasks-random-body", children=[
            html.Div(cards if cards is not None else create_cards(None, "tasks-random"), id="tasks-random-cards",
                     className="card-row tasks-random-cards"),
            dcc.Graph(id="tasks-random-classes", figure=figure if figure is not None else create_class_figure(None),
                      className="tasks-random-graph", config={"displayModeBar": False, "displaylogo": False})])])


def create_class_figure(rates: pd.DataFrame | None) -> go.Figure:
    """Problem rate (发现问题 ÷ 已检查) per credit-risk class A–D, with the counts in the hover."""
    if rates is None or rates.empty:
        return create_figure([], {"xaxis": {"visible": False}, "yaxis": {"visible": False}}, "")
    pct = [None if pd.isna(r) else round(100 * r, 1) for r in rates["rate"]]
    bar = {"type": "bar", "x": [CLASS_ZH[c] for c in rates["credit_class"]], "y": pct,
           "marker": {"color": [CLASS_COLOURS[c] for c in rates["credit_class"]]},
           "text": [("—" if p is None else f"{p:g}%") for p in pct], "textposition": "outside",
           "customdata": list(zip(rates["problems"], rates["checked"])),
           "hovertemplate": "%{x}<br>发现问题 %{customdata[0]} 户 / 已检查 %{customdata[1]} 户<extra></extra>"}
    return create_figure([bar], {"yaxis": {"title": {"text": "问题发现率（%）"}, "rangemode": "tozero"},
                                 "margin": {"t": 20, "b": 40}, "showlegend": False})


def _grid(grid_id: str, cols: list[dict], row_id: str, height: str, **kw: Any) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=cols, rowData=[], getRowId=row_id,
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "rowSelection": {"mode": "singleRow"},
                         "localeText": {"noRowsToShow": "暂无数据"}},
        csvExportParams={"fileName": f"{grid_id}.csv", **CSV_SAFE}, style={"height": height, "width": "100%"}, **kw)


def create_plans_grid() -> dag.AgGrid:
    cols = [{"field": "name", "headerName": "计划名称", "minWidth": 200, "flex": 2},
            {"field": "dept_name", "headerName": "检查部门", "minWidth": 160, "flex": 2},
            {"field": "scope", "headerName": "抽查范围", "minWidth": 110, "flex": 1},
            {"field": "period", "headerName": "检查期限", "minWidth": 190, "flex": 1},
            {"field": "drawn", "headerName": "抽取户数", "width": 100, "type": "numericColumn"},
            {"field": "done", "headerName": "已检查", "width": 90, "type": "numericColumn"},
            {"field": "problems", "headerName": "发现问题", "width": 100, "type": "numericColumn"},
            {"field": "plan_id", "headerName": "计划编号", "minWidth": 170, "flex": 1}]
    return _grid("random-plans", cols, "params.data.plan_id", "260px")


def build_plan_rows(plans: pd.DataFrame, names: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"plan_id": r.plan_id, "name": r.name, "dept_name": r.dept_name,
             "scope": names.get(r.region_code, r.region_code),
             "period": f"{pd.Timestamp(r.period_from):%Y-%m-%d} 至 {pd.Timestamp(r.period_to):%Y-%m-%d}",
             "drawn": int(r.drawn), "done": int(r.done), "problems": int(r.problems)}
            for r in plans.itertuples(index=False)]


def create_discipline_section() -> html.Section:
    """涉企检查: firms inspected by several departments within the window or too often in the
    year, and the size of the 无事不扰 list (supervision/discipline.py)."""
    cols = [{"field": "entity_name", "headerName": "主体名称", "minWidth": 200, "flex": 2},
            {"field": "credit_code", "headerName": "统一社会信用代码", "minWidth": 190, "flex": 1},
            {"field": "flags", "headerName": "预警", "minWidth": 160, "flex": 1},
            {"field": "departments", "headerName": "近期检查部门", "minWidth": 240, "flex": 2},
            {"field": "times_year", "headerName": "年内检查次数", "width": 130, "type": "numericColumn"}]
    return html.Section(className="panel random-discipline-panel", children=[
        html.Div(className="random-panel-head", children=[
            html.H2("涉企检查"), html.Span(id="random-discipline-note", className="random-hint")]),
        _grid("random-flags", cols, "params.data.credit_code", "300px")])


def build_flag_rows(flags: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"entity_name": r.name, "credit_code": r.credit_code, "departments": r.departments,
             "times_year": int(r.times_year),
             "flags": "、".join(t for t, on in (("多头检查", r.multi), ("频繁检查", r.frequent)) if on)}
            for r in flags.itertuples(index=False)]


def discipline_note(flags: pd.DataFrame, spared: int, window_days: int, max_per_year: int) -> str:
    multi, frequent = int(flags["multi"].sum()) if len(flags) else 0, int(flags["frequent"].sum()) if len(flags) else 0
    return (f"近 {window_days} 天被两个及以上部门检查（多头检查）{multi} 户，一年内检查超过 {max_per_year} 次"
            f"（频繁检查）{frequent} 户；无事不扰名单 {spared:,} 户，不列入双随机抽查")


def create_items_grid() -> dag.AgGrid:
    cols = [{"field": "no", "headerName": "序号", "width": 80, "type": "numericColumn"},
            {"field": "entity_name", "headerName": "主体名称", "minWidth": 200, "flex": 2},
            {"field": "credit_code", "headerName": "统一社会信用代码", "minWidth": 190, "flex": 1},
            {"field": "credit_class", "headerName": "信用风险分类", "width": 120},
            {"field": "inspectors", "headerName": "检查人员", "minWidth": 140, "flex": 1},
            {"field": "result", "headerName": "抽查结果", "minWidth": 150, "flex": 1},
            {"field": "result_date", "headerName": "检查日期", "width": 120},
            {"field": "note", "headerName": "情况说明", "minWidth": 160, "flex": 1}]
    return _grid("random-items", cols, "params.data.credit_code", "420px")


def build_item_rows(items: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"no": i, "entity_name": r.entity_name, "credit_code": r.credit_code,
             "credit_class": r.credit_class, "inspectors": f"{r.inspector_1_name}、{r.inspector_2_name}",
             "result": RANDOM_RESULTS_ZH.get(r.result, r.result),
             "result_date": "" if r.result == "pending" else f"{pd.Timestamp(r.result_at):%Y-%m-%d}", "note": r.note}
            for i, r in enumerate(items.itertuples(index=False), start=1)]


def plan_info(plan: Mapping[str, Any] | None, scope_name: str) -> list[Any]:
    """What makes a draw checkable: the seed, the pool's fingerprint and sizes, the ratios."""
    if not plan:
        return [html.Span("请在上表中选择一个抽查计划", className="random-hint")]
    pool = dict(p.split("=") for p in str(plan["pool"]).split(",") if "=" in p)
    ratios = dict(p.split("=") for p in str(plan["ratios"]).split(",") if "=" in p)
    classes = "；".join(f"{c}类 {pool.get(c, '0')} 户抽 {ratios.get(c, '0')}%" for c in "ABCD")
    if int(plan.get("spared") or 0):
        classes += f"（另有无事不扰名单 {int(plan['spared']):,} 户不列入）"
    return [html.Div([html.B(plan["name"]), html.Span(f"（{plan['dept_name']}，抽查范围 {scope_name}）")]),
            html.Div(f"主体库：{classes}"),
            html.Div(["随机种子 ", html.Code(str(plan["seed"]), id="random-seed"), " · 主体库指纹 ",
                      html.Code(str(plan["fingerprint"]), id="random-fingerprint", className="random-fingerprint")]),
            html.Div(f"{plan['created_by']} 于 {pd.Timestamp(plan['created_at']):%Y-%m-%d %H:%M} 抽取；"
                     "任何人可按随机种子和主体库复核抽取结果", className="random-hint")]


def create_draw_form(today: dt.date, region: str) -> html.Div:
    """The plan's fields and the 抽取 button."""
    end = today + dt.timedelta(days=30)
    return html.Div(className="random-form", children=[
        _field("计划名称", dcc.Input(id="random-name", type="text", maxLength=60, placeholder="如：2026年第四季度日常监督抽查",
                                  className="random-input")),
        _field("检查部门", dcc.Dropdown(id="random-dept", options=[], placeholder="选择部门", clearable=False,
                                    labels=DROPDOWN_LABELS, className="random-dropdown")),
        _field("抽查范围（区划代码）", dcc.Input(id="random-region", type="text", value=region, maxLength=15,
                                        className="random-input")),
        _field("检查期限", dcc.DatePickerRange(id="random-dates", start_date=today.isoformat(),
                                           end_date=end.isoformat(), display_format="YYYY-MM-DD",
                                           first_day_of_week=1, min_date_allowed=today.isoformat())),
        _field("行业门类", dcc.Dropdown(id="random-industries", options=[{"label": s, "value": s} for s in INDUSTRY_SECTIONS],
                                    multi=True, placeholder="全部行业", labels=DROPDOWN_LABELS, className="random-dropdown")),
        _field("主体类型", dcc.Dropdown(id="random-types", options=[{"label": v, "value": k} for k, v in ENTITY_TYPES_ZH.items()],
                                    multi=True, placeholder="全部类型", labels=DROPDOWN_LABELS, className="random-dropdown")),
        _field("名录条件", dcc.Dropdown(id="random-listed", options=[{"label": v, "value": k} for k, v in LISTED_ZH.items()],
                                    value="all", clearable=False, labels=DROPDOWN_LABELS, className="random-dropdown")),
        html.Button("随机抽取", id="random-draw", n_clicks=0, className="btn random-draw"),
        html.Div(id="random-draw-msg", className="random-msg", role="status"),
    ])


def create_result_form() -> html.Div:
    return html.Div(className="random-result-form", children=[
        html.Span("选中表中一户后录入：", className="random-hint"),
        dcc.Dropdown(id="random-result", options=[{"label": v, "value": k} for k, v in RANDOM_RESULTS_ZH.items()
                                                  if k != "pending"], placeholder="抽查结果", clearable=False,
                     labels=DROPDOWN_LABELS, className="random-dropdown"),
        dcc.Input(id="random-note", type="text", maxLength=200, placeholder="情况说明（可空）", className="random-input"),
        html.Button("保存结果", id="random-save", n_clicks=0, className="btn random-save"),
        html.Div(id="random-result-msg", className="random-msg", role="status"),
    ])


def _field(label: str, control: Any) -> html.Label:
    return html.Label([html.Span(label, className="random-label"), control], className="random-field")


def publication_csv(plan: Mapping[str, Any], items: pd.DataFrame) -> bytes:
    """抽查结果公示 as CSV (UTF-8 with BOM for Excel), every cell safe to open."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(PUBLICATION)
    for r in items.itertuples(index=False):
        w.writerow(csv_safe_row([plan["name"], plan["dept_name"], r.entity_name, r.credit_code,
                                 RANDOM_RESULTS_ZH.get(r.result, r.result),
                                 "" if r.result == "pending" else f"{pd.Timestamp(r.result_at):%Y-%m-%d}",
                                 f"{r.inspector_1_name}、{r.inspector_2_name}"]))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def entity_inspections(rows: pd.DataFrame, day: dt.date, spared: bool, window_days: int,
                       max_per_year: int) -> list[Any]:
    """主体画像's 涉企检查: the flags of the firm on ``day`` and its inspections of the year."""
    recent = rows[(pd.to_datetime(rows["inspected_at"]).dt.normalize() > pd.Timestamp(day) - pd.Timedelta(days=window_days))
                  & (rows["dept_id"] != "")]
    flags = [t for t, on in ((f"多头检查（近 {window_days} 天 {recent['dept_id'].nunique()} 个部门）",
                              recent["dept_id"].nunique() >= 2),
                             (f"频繁检查（一年内 {len(rows)} 次，上限 {max_per_year} 次）", len(rows) > max_per_year),
                             ("无事不扰名单（不列入双随机抽查）", spared)) if on]
    head = html.P("；".join(flags) if flags else f"一年内检查 {len(rows)} 次，无检查预警",
                  className="entity-inspect-flags" + (" warn" if any("检查（" in f for f in flags) else ""),
                  id="entity-inspect-flags")
    items = [html.Li([html.Span(f"{pd.Timestamp(r.inspected_at):%Y-%m-%d}", className="entity-ev-time"),
                      html.Span("双随机抽查" if r.kind == "random" else "部门检查", className="entity-ev-type"),
                      html.Span(r.dept_name)], className="entity-ev") for r in rows.itertuples(index=False)]
    return [head, html.Ol(items, className="entity-events") if items else html.P("一年内无现场检查记录",
                                                                                 className="risk-note")]


def publication_html(plan: Mapping[str, Any], items: pd.DataFrame, scope_name: str, css: str) -> str:
    """抽查结果公示 as one printable HTML document (the PDF): the plan, how it was drawn, and every
    firm with its result — the same rows as the CSV. ``css``: the reports' print style."""
    from html import escape

    nowrap = ' class="nowrap"'
    rows = "".join(
        "<tr>" + "".join(f"<td{nowrap if i == 2 else ''}>{escape(str(v))}</td>" for i, v in enumerate((
            n, r.entity_name, r.credit_code, RANDOM_RESULTS_ZH.get(r.result, r.result),
            "" if r.result == "pending" else f"{pd.Timestamp(r.result_at):%Y-%m-%d}",
            f"{r.inspector_1_name}、{r.inspector_2_name}"))) + "</tr>"
        for n, r in enumerate(items.itertuples(index=False), start=1))
    title = f"{plan['dept_name']}双随机抽查结果公示"
    facts = [f"抽查计划：{plan['name']}（{plan['plan_id']}）", f"抽查范围：{scope_name}",
             f"检查期限：{pd.Timestamp(plan['period_from']):%Y-%m-%d} 至 {pd.Timestamp(plan['period_to']):%Y-%m-%d}",
             f"抽取户数：{len(items):,} 户；随机种子 {plan['seed']}；主体库指纹 {plan['fingerprint']}",
             "任何人可按随机种子和主体库复核抽取结果。"]
    head = "".join(f"<th>{h}</th>" for h in ("序号", "主体名称", "统一社会信用代码", "抽查结果", "检查日期", "检查人员"))
    body = (f'<article id="report-body" class="report-doc" data-state="ok"><header class="report-header">'
            f'<h1>{escape(title)}</h1></header><section class="report-section">'
            + "".join(f'<p class="report-note">{escape(f)}</p>' for f in facts)
            + f'<table class="report-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            '</section></article><div id="report-ready" class="report-ready" data-ready="1"></div>')
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{css}</style></head>"
            f'<body class="report-print"><div class="page report-page">{body}</div></body></html>')


def joint_note(fig: Mapping[str, int]) -> str:
    """联合惩戒 on /tasks: cases in force and the departments' feedback (queries.joint.figures)."""
    rate = f"{100 * fig['ontime'] / fig['due']:.1f}%" if fig.get("due") else "—"
    return (f"在办案件 {fig['open']:,} 件；应反馈 {fig['due']:,} 件，按期反馈率 {rate}，"
            f"逾期未反馈 {fig['overdue']:,} 件")
