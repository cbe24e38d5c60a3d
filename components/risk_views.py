"""风险预警's panels: pure component factories (no database, no server, no settings).

- the grade palette and bands, links to the risk page and to 主体画像 (also used
  by ``components.risk_map`` and ``pages/entity.py``);
- grade cards and donut from ``queries.risk.grade_distribution``;
- the top-risk table with a stacked factor bar per row (``components.risk_factors``),
  the warning trend and feed, batch alerts with their fan-out, the grid details panel.

The risk map is ``components.risk_map``; an entity's score explained factor by
factor is ``components.risk_factors``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import dash_ag_grid as dag
import pandas as pd
import plotly.graph_objects as go
from dash import html

from components.figures import create_figure
from components.format import finite_or_none, format_cn
from components.risk_factors import bar_background, breakdown_text
from components.tables import DARK_THEME, WRAP_HEADERS
from indicators.model import GRADES
from queries.events import EVENT_TYPE_ZH
from supervision.risk import FACTORS, RISK_GRADES
from supervision.rules import STATUS_ZH, TASK_TYPE_ZH

PATH = "/risk"
ENTITY_PATH = "/entity/"
NONE = "—"
GRADE_ORDER: tuple[str, ...] = ("red", "orange", "yellow", "blue")
GRADE_SHORT: dict[str, str] = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
GRADE_COLOURS: dict[str, str] = {g: GRADES[g][1] for g in GRADE_ORDER}
#: Warning event kinds (queries.risk.WARNING_EVENTS) with their labels and colours.
WARNING_ZH: dict[str, str] = {"complaint": "投诉举报", "penalty": "行政处罚", "list_entry": "列入名录",
                              "inspection": "检查不合格", "sampling": "抽检不合格"}
WARNING_COLOURS: dict[str, str] = {"complaint": "#2ec7ff", "penalty": "#ff5b5b", "list_entry": "#ffb020",
                                   "inspection": "#a47cff", "sampling": "#38d39f"}
RULES_MESSAGE = "风险评分规则配置不正确（风险权重或分级阈值），请联系系统管理员"
LOCALE = {"noRowsToShow": "暂无数据", "loadingOoo": "加载中…", "filterOoo": "筛选…", "contains": "包含",
          "equals": "等于", "lessThan": "小于", "greaterThan": "大于", "inRange": "介于"}


# ----------------------------------------------------------------------------- links and numbers
def page_query(region: str, date: str | None = None, grid: str | None = None) -> dict[str, str]:
    q = {"region": region}
    if date:
        q["date"] = date
    if grid:
        q["grid"] = grid
    return q


def risk_href(region: str, date: str | None = None, grid: str | None = None, prefix: str = PATH) -> str:
    """'/risk?region=441900003&date=2026-11-20' (``grid`` opens that grid's details)."""
    return f"{prefix}?{urlencode(page_query(region, date, grid))}"


def entity_href(code: str, date: str | None = None, prefix: str = ENTITY_PATH) -> str:
    """'/entity/91441900…?date=2026-11-20'."""
    return f"{prefix}{code}" + (f"?{urlencode({'date': date})}" if date else "")


def round_or_none(x: Any, digits: int = 2) -> float | None:
    """``x`` rounded to ``digits``; None when it is missing or not finite."""
    f = finite_or_none(x)
    return None if f is None else round(f, digits)


def _chip(grade: str | None, text: str | None = None) -> html.Span:
    return html.Span(text or (GRADE_SHORT.get(grade or "", NONE)), className=f"risk-chip risk-chip-{grade or 'none'}")


# ----------------------------------------------------------------------------- distribution
def grade_counts(dist: pd.DataFrame | None) -> dict[str, int]:
    """{grade: entities} for the four grades (missing → 0)."""
    got = {} if dist is None else dict(zip(dist["grade"], dist["entities"]))
    return {g: int(got.get(g, 0) or 0) for g in GRADE_ORDER}


def grade_ranges(grades: Sequence[float], unit: str = "分") -> dict[str, str]:
    """Score (or share) bands of the grades from the (yellow, orange, red) thresholds."""
    y, o, r = (f"{float(v):g}" for v in grades)
    return {"red": f"≥{r}{unit}", "orange": f"{o}–{r}{unit}", "yellow": f"{y}–{o}{unit}", "blue": f"<{y}{unit}"}


def create_grade_cards(counts: Mapping[str, int] | None, grades: Sequence[float]) -> list[html.Div]:
    """Four cards (``risk-card-<grade>``): entities per grade with share and score band."""
    total = sum(counts.values()) if counts else 0
    ranges = grade_ranges(grades)
    cards = []
    for g in GRADE_ORDER:
        n = None if counts is None else int(counts.get(g, 0))
        share = f" · 占 {n / total * 100:.2f}%" if n is not None and total else ""
        cards.append(html.Div(id=f"risk-card-{g}", className=f"stat-card risk-card risk-card-{g}", children=[
            html.Div(RISK_GRADES[g], className="stat-label"),
            html.Div([html.Span(format_cn(n), id=f"risk-card-{g}-value", className="stat-value",
                                **{"data-value": "" if n is None else str(n)}),
                      html.Span("户", className="stat-unit")]),
            html.Div(f"评分{ranges[g]}{share}", className="stat-note risk-card-note"),
        ]))
    return cards


def create_grade_figure(counts: Mapping[str, int] | None) -> go.Figure:
    """A donut of the entities per grade (total in the hole)."""
    counts = counts or {g: 0 for g in GRADE_ORDER}
    total = sum(counts.values())
    pie = {"type": "pie", "labels": [RISK_GRADES[g] for g in GRADE_ORDER], "values": [counts[g] for g in GRADE_ORDER],
           "hole": 0.62, "sort": False, "direction": "clockwise",
           "marker": {"colors": [GRADE_COLOURS[g] for g in GRADE_ORDER], "line": {"color": "#06122b", "width": 1}},
           "textinfo": "none", "hovertemplate": "%{label}：%{value:,} 户（%{percent}）<extra></extra>"}
    fig = create_figure([pie], {
        "showlegend": False, "margin": {"l": 4, "r": 4, "t": 4, "b": 4}, "font": {"size": 13},
        "annotations": [{"text": f"{format_cn(total)}<br><span style='font-size:11px'>评分主体</span>",
                         "showarrow": False, "font": {"size": 16, "color": "#ffffff"}}]})
    return fig


# ----------------------------------------------------------------------------- top-risk table
def build_entity_rows(df: pd.DataFrame, grid_names: Mapping[str, str], date: str | None,
                      weights: Mapping[str, float], max_score: float) -> list[dict[str, Any]]:
    """Rows of ``top_entities`` for the grid (rank, links, breakdown bar and text, p_*)."""
    rows = []
    for i, r in enumerate(df.to_dict("records"), start=1):
        code, grid = str(r["credit_code"]), str(r["grid_code"])
        rows.append({
            "rank": i, "credit_code": code, "name": str(r["name"]),
            "code_md": f"[{code}]({entity_href(code, date)})", "grid_code": grid,
            "grid": grid_names.get(grid, grid), "score": round_or_none(r["score"]), "grade": str(r["grade"]),
            "grade_zh": RISK_GRADES.get(str(r["grade"]), str(r["grade"])),
            "bar_bg": bar_background(r, max_score), "breakdown": breakdown_text(r, weights),
            **{f"p_{f.id}": round_or_none(r.get(f"p_{f.id}")) for f in FACTORS},
        })
    return rows


def entity_column_defs() -> list[dict[str, Any]]:
    num = {"type": "numericColumn", "filter": "agNumberColumnFilter"}
    return [
        {"field": "rank", "headerName": "#", "width": 58, **num, "filter": False},
        {"field": "name", "headerName": "主体名称", "minWidth": 160, "flex": 2, "filter": "agTextColumnFilter",
         "tooltipField": "name", "wrapText": True, "autoHeight": True},  # long names wrap, never "…"
        {"field": "score", "headerName": "评分", "width": 88, **num, "filter": False, "sort": "desc",
         "valueFormatter": {"function": "params.value == null ? '—' : params.value.toFixed(2)"}},
        {"field": "grade_zh", "headerName": "等级", "width": 80, "tooltipField": "grade_zh", "filter": False,
         "valueFormatter": {"function": "params.value.slice(0, 2)"},
         "cellClassRules": {f"risk-grade-{g}": f"params.data.grade == '{g}'" for g in GRADE_ORDER}},
        {"field": "breakdown", "headerName": "风险构成", "minWidth": 150, "flex": 1, "tooltipField": "breakdown",
         "valueFormatter": {"function": "''"}, "cellClass": "risk-bar-cell", "sortable": False, "filter": False,
         "cellStyle": {"function": "({'backgroundImage': params.data.bar_bg})"}},
        {"field": "code_md", "headerName": "统一社会信用代码", "minWidth": 240, "cellRenderer": "markdown",
         "cellClass": "risk-link-cell", "filterValueGetter": {"function": "params.data.credit_code"},
         "tooltipField": "credit_code"},
        {"field": "grid", "headerName": "网格", "minWidth": 150, "flex": 1, "tooltipField": "grid", "wrapText": True,
         "autoHeight": True},
        *({"field": f"p_{f.id}", "headerName": f.name_zh, "hide": True, **num} for f in FACTORS),
    ]


def create_entity_grid(grid_id: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=entity_column_defs(), rowData=[], getRowId="params.data.credit_code",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "localeText": LOCALE, "tooltipShowDelay": 300,
                         "enableCellTextSelection": True},
        className="risk-grid", style={"height": "100%", "width": "100%"})


# ----------------------------------------------------------------------------- trend and feed
def create_trend_figure(trend: pd.DataFrame, start: dt.date, end: dt.date) -> go.Figure:
    """Warnings per day stacked by type over [start, end] (days without any are zeros).
    The panel carries the title; the legend sits on top."""
    days = pd.date_range(start, end, freq="D")
    t = trend.assign(day=pd.to_datetime(trend["day"])) if len(trend) else trend
    totals = pd.Series(0, index=days)
    bars = []
    for kind, label in WARNING_ZH.items():
        s = (t[t["event_type"] == kind].groupby("day")["events"].sum() if len(t) else pd.Series(dtype="int64"))
        y = s.reindex(days, fill_value=0).astype(int)
        totals += y
        bars.append({"type": "bar", "x": days, "y": y.tolist(), "name": label, "marker": {"color": WARNING_COLOURS[kind]},
                     "hovertemplate": f"{label}：%{{y}} 件<extra>%{{x|%m-%d}}</extra>"})
    peak = int(totals.max()) if len(totals) else 0
    layout: dict[str, Any] = {
        "barmode": "stack", "bargap": 0.2, "font": {"size": 13}, "margin": {"l": 40, "r": 10, "t": 28, "b": 28},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": 12}},
        "xaxis": {"tickformat": "%m-%d", "hoverformat": "%Y-%m-%d"},
        "yaxis": {"rangemode": "tozero", **({"dtick": 1, "range": [0, max(peak, 1) + 0.2]} if peak <= 5 else {})},
    }
    if not peak:
        layout["annotations"] = [{"text": "无预警事项", "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper",
                                  "yref": "paper", "font": {"size": 15, "color": "#7fa3c8"}}]
    fig = create_figure(bars, layout)
    return fig


def warning_label(event_type: str) -> str:
    return WARNING_ZH.get(event_type, EVENT_TYPE_ZH.get(event_type, event_type))


def create_feed(feed: pd.DataFrame, names: Mapping[str, str], date: str | None) -> list[Any]:
    """Newest warnings: time, kind, entity (link), detail and batch."""
    if feed.empty:
        return [html.Li("暂无预警事项", className="risk-empty")]
    items = []
    for r in feed.itertuples(index=False):
        code = str(r.credit_code)
        detail = " · ".join(x for x in (str(r.detail or ""), f"批次 {r.batch_no}" if r.batch_no else "") if x)
        items.append(html.Li(className=f"risk-feed-item risk-feed-{r.event_type}", children=[
            html.Span(pd.Timestamp(r.event_time).strftime("%Y-%m-%d %H:%M"), className="risk-feed-time"),
            html.Span(warning_label(str(r.event_type)), className="risk-feed-type",
                      style={"borderColor": WARNING_COLOURS.get(str(r.event_type), "#7fa3c8")}),
            html.A(names.get(code, code), href=entity_href(code, date), className="risk-feed-entity", title=code),
            html.Span(detail, className="risk-feed-detail"),
        ]))
    return items


# ----------------------------------------------------------------------------- batches
def build_batch_rows(alerts: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"batch_no": str(r.batch_no), "first_fail": pd.Timestamp(r.first_fail).strftime("%Y-%m-%d"),
             "entities": int(r.entities), "towns": int(r.towns)} for r in alerts.itertuples(index=False)]


def create_batch_grid(grid_id: str) -> dag.AgGrid:
    num = {"type": "numericColumn", "filter": False, "width": 66}
    cols = [{"field": "batch_no", "headerName": "批次号", "minWidth": 150, "flex": 1, "filter": "agTextColumnFilter",
             "wrapText": True, "autoHeight": True},  # batch numbers run up to 40 characters: they wrap
            {"field": "first_fail", "headerName": "首次不合格", "width": 120, "filter": False},
            {"field": "entities", "headerName": "主体", **num, "headerTooltip": "辖区内经营该批次的主体数"},
            {"field": "towns", "headerName": "镇街", **num, "headerTooltip": "辖区内涉及的镇街数"}]
    return dag.AgGrid(
        id=grid_id, columnDefs=cols, rowData=[], getRowId="params.data.batch_no",
        defaultColDef={"sortable": True, "resizable": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "localeText": {**LOCALE, "noRowsToShow": "近90天无不合格批次"},
                         "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}},
        className="risk-batch-grid", style={"height": "100%", "width": "100%"})


def create_fanout(batch_no: str | None, inside: pd.DataFrame | None, outside: int, names: Mapping[str, str],
                  grid_names: Mapping[str, str], date: str | None) -> list[Any]:
    """The entities inside the region that handled ``batch_no`` and how many outside."""
    if not batch_no or inside is None:
        return [html.P("点击一个批次，查看经营该批次产品的主体（追溯联动）。", className="risk-hint")]
    rows = [html.Tr([html.Td(html.A(names.get(str(r.credit_code), str(r.credit_code)),
                                    href=entity_href(str(r.credit_code), date))),
                     html.Td(grid_names.get(str(r.grid), str(r.grid))),
                     html.Td(f"{int(r.failed_samples)}/{int(r.samples)}"),
                     html.Td(pd.Timestamp(r.first_seen).strftime("%Y-%m-%d"))])
            for r in inside.itertuples(index=False)]
    return [html.Div([html.Span(f"批次 {batch_no}", className="risk-fanout-batch"),
                      html.Span(f"辖区内 {len(inside)} 户", className="risk-fanout-inside"),
                      html.Span(f"另有 {outside} 户在辖区外", className="risk-fanout-outside",
                                id="risk-fanout-outside", **{"data-value": str(outside)})],
                     className="risk-fanout-head"),
            html.Table([html.Thead(html.Tr([html.Th(h) for h in ("主体", "网格", "不合格/抽检", "首次记录")])),
                        html.Tbody(rows)], className="risk-table risk-fanout-table")]


# ----------------------------------------------------------------------------- grid details
def create_grid_details(code: str | None, name: str, area: Mapping[str, Any] | None, entities: pd.DataFrame | None,
                        workers: pd.DataFrame | None, tasks: pd.DataFrame | None, total_tasks: int,
                        names: Mapping[str, str], date: str | None) -> list[Any]:
    """A grid's (or a leaf region's) scored entities, grid workers and open tasks."""
    if not code:
        return [html.P("下钻至村居后，点击地图上的网格，查看其评分主体、网格员和在办任务。", className="risk-hint")]
    grade = (area or {}).get("grade")
    head = html.Div(className="risk-details-head", **{"data-code": code}, children=[
        html.Span(name, className="risk-details-name"), html.Span(code, className="risk-details-code"),
        _chip(grade, f"区域{GRADE_SHORT[grade]}" if grade in GRADE_SHORT else "无评分主体")])
    ws = workers if workers is not None else pd.DataFrame(columns=["name", "phone"])
    worker_list = html.Ul([html.Li([html.Span(str(w.name), className="risk-worker-name"),
                                    html.Span(str(w.phone), className="risk-worker-phone")], className="risk-worker",
                                   title=str(getattr(w, "worker_id", "")))
                           for w in ws.itertuples(index=False)] or [html.Li("未登记网格员", className="risk-empty")],
                          id="risk-details-workers", className="risk-workers")
    ents = entities if entities is not None else pd.DataFrame()
    ent_rows = [html.Tr([html.Td(html.A(str(r.name), href=entity_href(str(r.credit_code), date),
                                        className="risk-entity-link")),
                         html.Td(f"{float(r.score):.2f}", className="risk-num"), html.Td(_chip(str(r.grade)))],
                        **{"data-code": str(r.credit_code)})
                for r in ents.itertuples(index=False)]
    ent_table = html.Table([html.Thead(html.Tr([html.Th("主体"), html.Th("评分"), html.Th("等级")])),
                            html.Tbody(ent_rows)], id="risk-details-entities", className="risk-table") \
        if ent_rows else html.P("无评分主体", className="risk-empty", id="risk-details-entities")
    ts = tasks if tasks is not None else pd.DataFrame()
    task_items = [html.Li([html.Span(TASK_TYPE_ZH.get(str(t.task_type), str(t.task_type)), className="risk-task-type"),
                           html.Span(STATUS_ZH.get(str(t.status), str(t.status)), className="risk-task-status"),
                           html.Span(f"期限 {pd.Timestamp(t.due_date).strftime('%Y-%m-%d')}",
                                     className=f"risk-task-due risk-bucket-{t.bucket}"),
                           html.Span(names.get(str(t.credit_code), str(t.credit_code or "")), className="risk-task-entity")],
                          className="risk-task", title=str(t.task_id)) for t in ts.itertuples(index=False)]
    return [head,
            html.H3(f"网格员（{len(ws)}）"), worker_list,
            html.H3(f"评分主体（{len(ents)}）"), ent_table,
            html.H3(f"在办任务（{total_tasks}）"),
            html.Ul(task_items or [html.Li("无在办任务", className="risk-empty")], id="risk-details-tasks",
                    className="risk-tasks")]


__all__ = ["GRADE_ORDER", "GRADE_COLOURS", "WARNING_ZH", "page_query", "risk_href", "entity_href", "round_or_none",
           "grade_counts", "grade_ranges", "create_grade_cards", "create_grade_figure", "build_entity_rows",
           "entity_column_defs", "create_entity_grid", "create_trend_figure", "create_feed", "build_batch_rows",
           "create_batch_grid", "create_fanout", "create_grid_details"]
