"""风险预警 and 主体画像: pure component factories (no database, no server, no settings).

- grade cards and donut from ``queries.risk.grade_distribution``;
- the risk map: :func:`create_risk_map` (``components.region_map`` plus a pane of
  high-risk points), :func:`risk_map_layer` colours the children by their area grade
  (``queries.risk.risk_by_child``) with a categorical legend, :func:`point_markers`
  draws red / orange entities (``high_risk_points``) as circle markers;
- the top-risk table with a stacked factor bar per row, the warning trend and feed,
  batch alerts with their fan-out, the grid details panel;
- :func:`factor_breakdown`: an entity's score explained factor by factor.
"""
from __future__ import annotations

import datetime as dt
import html as _html
from typing import Any, Mapping, NamedTuple, Sequence
from urllib.parse import urlencode

import dash_ag_grid as dag
import dash_leaflet as dl
import pandas as pd
import plotly.graph_objects as go
from dash import html

from components.figures import create_figure
from components.format import finite_or_none, format_cn
from components.region_map import DEFAULT_HIDEOUT, NO_DATA_COLOUR, create_region_map, map_layer
from components.tables import DARK_THEME
from indicators.catalogue import CATALOGUE
from indicators.model import GRADES
from queries.events import EVENT_TYPE_ZH
from supervision.risk import FACTORS, RISK_GRADES, Factor
from supervision.rules import STATUS_ZH, TASK_TYPE_ZH

PATH = "/risk"
ENTITY_PATH = "/entity/"
NONE = "—"
GRADE_ORDER: tuple[str, ...] = ("red", "orange", "yellow", "blue")
GRADE_SHORT: dict[str, str] = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
GRADE_COLOURS: dict[str, str] = {g: GRADES[g][1] for g in GRADE_ORDER}
FACTOR_COLOURS: dict[str, str] = {
    "complaints": "#2ec7ff", "penalties": "#ff5b5b", "abnormal": "#ffb020", "dishonest": "#d94cff",
    "failed_batches": "#38d39f", "failed_inspections": "#a47cff", "overdue_verifications": "#ff7ab6",
    "credit": "#8fb3d9", "industry": "#4fd1c5"}
FACTOR_UNITS: dict[str, str] = {"complaints": "件", "penalties": "次", "failed_batches": "批",
                                "failed_inspections": "次", "overdue_verifications": "件"}
#: Warning event kinds (queries.risk.WARNING_EVENTS) with their labels and colours.
WARNING_ZH: dict[str, str] = {"complaint": "投诉举报", "penalty": "行政处罚", "list_entry": "列入名录",
                              "inspection": "检查不合格", "sampling": "抽检不合格"}
WARNING_COLOURS: dict[str, str] = {"complaint": "#2ec7ff", "penalty": "#ff5b5b", "list_entry": "#ffb020",
                                   "inspection": "#a47cff", "sampling": "#38d39f"}
POINTS_PANE = "risk-points-pane"
RULES_MESSAGE = "风险评分规则配置不正确（风险权重或分级阈值），请联系管理员"
LOCALE = {"noRowsToShow": "暂无数据", "loadingOoo": "加载中…", "filterOoo": "筛选…", "contains": "包含",
          "equals": "等于", "lessThan": "小于", "greaterThan": "大于", "inRange": "介于"}


# ----------------------------------------------------------------------------- links
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


def _num(x: Any, digits: int = 2) -> float | None:
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


# ----------------------------------------------------------------------------- map
class RiskLayer(NamedTuple):
    geojson: dict
    legend: list
    note: list
    bounds: list[list[float]] | None
    counts: dict[str, int]   # children per area grade ('none' = no scored entity)


def create_risk_map(prefix: str, tile_url: str = "") -> html.Div:
    """The region map (``{prefix}-map``, ``{prefix}-geojson``, legend, note) with a
    pane above the polygons holding ``{prefix}-points`` (circle markers)."""
    box = create_region_map(prefix, tile_url, extra_layers=[
        dl.Pane(dl.LayerGroup(id=f"{prefix}-points"), name=POINTS_PANE, style={"zIndex": 450})])
    box.className = f"{box.className} risk-map"
    return box


def map_hideout(selected: str | None) -> dict[str, Any]:
    """The GeoJSON ``hideout`` outlining ``selected`` (None: nothing) in white."""
    return {**DEFAULT_HIDEOUT, "selected": selected}


def _legend_row(colour: str, label: str, text: str, count: int, key: str, shape: str = "legend-swatch") -> html.Div:
    return html.Div([html.Span(className=shape, style={"backgroundColor": colour}),
                     html.Span(label, className="legend-label"), html.Span(text, className="legend-range"),
                     html.Span(str(count), className="legend-count")],
                    className="legend-row", **{"data-class": key})


def risk_map_layer(features: dict, by_child: pd.DataFrame, area_grades: Sequence[float],
                   points: pd.DataFrame | None = None) -> RiskLayer:
    """Colour ``features`` (``queries.geo.children_features``) by the area grade of
    ``by_child`` (``risk_by_child``: region_code, entities, high, high_share,
    avg_score, grade). Children without scored entities are grey. The legend lists
    the grades with their high-risk-share bands and region counts (and the red /
    orange points when ``points`` is given); boundary notes (示意, missing) come from
    ``components.region_map.map_layer``. Pure: the input is not modified."""
    base = map_layer(features, {}, CATALOGUE["high_risk_share"])
    rows = {str(r["region_code"]): r for r in by_child.to_dict("records")} if len(by_child) else {}
    schematic = any((f.get("properties") or {}).get("schematic") for f in (features or {}).get("features") or [])
    out, counts = [], {g: 0 for g in (*GRADE_ORDER, "none")}
    for feat in (features or {}).get("features") or []:
        props = dict(feat.get("properties") or {})
        r = rows.get(str(props.get("code")), {})
        n = int(r.get("entities") or 0)
        grade = r.get("grade") if n and r.get("grade") in GRADE_COLOURS else None
        counts[grade or "none"] += 1
        share, avg = _num(r.get("high_share")), _num(r.get("avg_score"))
        name = _html.escape(str(props.get("name", props.get("code"))))
        tip = (f"<b>{name}</b><br>评分主体 {n:,} 户 · 高风险 {int(r.get('high') or 0)} 户"
               f"（{NONE if share is None else f'{share:.2f}%'}）<br>平均评分 {NONE if avg is None else avg}"
               f" · 区域等级 {GRADE_SHORT[grade] if grade else '无主体'}")
        props.update(grade=grade, fill=GRADE_COLOURS[grade] if grade else NO_DATA_COLOUR, entities=n,
                     high=int(r.get("high") or 0), high_share=share, avg_score=avg, tooltip=tip)
        out.append({**feat, "properties": props})
    geojson = {**base.geojson, "features": out}
    ranges = grade_ranges(area_grades, "%")
    legend: list[Any] = [html.Div([html.Span("区域风险等级", className="legend-name"),
                                   html.Span("（示意）" if schematic else "", className="legend-unit legend-schematic"),
                                   html.Div("按高风险（红、橙）主体占比", className="legend-unit")],
                                  className="legend-title")]
    legend += [_legend_row(GRADE_COLOURS[g], GRADE_SHORT[g], ranges[g], counts[g], g) for g in GRADE_ORDER]
    if counts["none"]:
        legend.append(_legend_row(NO_DATA_COLOUR, "无", "无评分主体", counts["none"], "none"))
    if points is not None:
        for g in ("red", "orange"):
            legend.append(_legend_row(GRADE_COLOURS[g], f"{GRADE_SHORT[g]}点", f"{GRADE_SHORT[g]}色预警主体",
                                      int((points["grade"] == g).sum()) if len(points) else 0, f"point-{g}",
                                      "legend-dot"))
    return RiskLayer(geojson, legend, base.note, base.bounds, counts)


def point_markers(points: pd.DataFrame, date: str | None = None, prefix: str = ENTITY_PATH) -> list[dl.CircleMarker]:
    """Red and orange entities as circle markers (red on top) with a tooltip and a
    popup linking to the entity page."""
    marks = []
    for r in points.sort_values("score", kind="stable").itertuples(index=False):
        if r.grade not in ("red", "orange"):
            continue
        label = f"{r.name} · {float(r.score):.2f}分"
        marks.append(dl.CircleMarker(
            center=[float(r.lat), float(r.lon)], radius=8 if r.grade == "red" else 6, pane=POINTS_PANE,
            color="#ffffff", weight=1, fillColor=GRADE_COLOURS[r.grade], fillOpacity=0.95,
            className=f"risk-point risk-point-{r.grade}",
            children=[dl.Tooltip(label),
                      dl.Popup(html.Div([html.B(str(r.name)), html.Div(f"风险评分 {float(r.score):.2f}（{RISK_GRADES[r.grade]}）"),
                                         html.A("查看主体画像", href=entity_href(str(r.credit_code), date, prefix))],
                                        className="risk-popup"))]))
    return marks


# ----------------------------------------------------------------------------- factor breakdown
def factor_count(row: Mapping[str, Any], f: Factor) -> float:
    key = {"credit": "credit_class", "industry": "industry_class"}.get(f.id, f.id)
    return float(finite_or_none(row.get(key)) or 0.0)


def breakdown(row: Mapping[str, Any], weights: Mapping[str, float]) -> list[dict[str, Any]]:
    """Per factor: id, name, points, weight, count, definition (FACTORS order)."""
    return [{"id": f.id, "name": f.name_zh, "points": float(finite_or_none(row.get(f"p_{f.id}")) or 0.0),
             "weight": float(weights.get(f.id, f.weight)), "count": factor_count(row, f),
             "definition": f.definition_zh} for f in FACTORS]


def bar_background(row: Mapping[str, Any], max_score: float) -> str:
    """A CSS gradient: one segment per factor's points, scaled to ``max_score``."""
    stops, at = [], 0.0
    for f in FACTORS:
        p = float(finite_or_none(row.get(f"p_{f.id}")) or 0.0)
        if p <= 0:
            continue
        end = min(100.0, at + p / max_score * 100.0) if max_score > 0 else at
        stops.append(f"{FACTOR_COLOURS[f.id]} {at:.2f}% {end:.2f}%")
        at = end
    stops.append(f"rgba(120,170,255,0.10) {at:.2f}% 100%")
    return "linear-gradient(to right, " + ", ".join(stops) + ")"


def breakdown_text(row: Mapping[str, Any], weights: Mapping[str, float]) -> str:
    parts = [f"{b['name']} {b['points']:.2f}" for b in breakdown(row, weights) if b["points"] > 0]
    return "；".join(parts) or "各项均为 0 分"


def _count_text(f_id: str, row: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    if f_id in ("abnormal", "dishonest"):
        return "已列入" if b["count"] else "未列入"
    if f_id == "credit":
        return f"信用等级 {row.get('credit_grade') or NONE}"
    if f_id == "industry":
        return f"行业门类 {row.get('industry') or NONE}（{['低', '中', '高'][min(int(b['count']), 2)]}）"
    return f"{int(b['count'])} {FACTOR_UNITS.get(f_id, '')}"


def factor_breakdown(row: Mapping[str, Any], weights: Mapping[str, float]) -> html.Div:
    """The entity's score explained: a bar per factor (points / weight, count, the
    zh definition as the "why"), factors with points first."""
    items = sorted(breakdown(row, weights), key=lambda b: -b["points"])
    out = []
    for b in items:
        pct = b["points"] / b["weight"] * 100 if b["weight"] > 0 else 0.0
        out.append(html.Div(className=f"entity-factor{' entity-factor-zero' if b['points'] <= 0 else ''}",
                            id=f"entity-factor-{b['id']}", **{"data-points": f"{b['points']:.2f}"}, children=[
            html.Div([html.Span(b["name"], className="entity-factor-name"),
                      html.Span(_count_text(b["id"], row, b), className="entity-factor-count"),
                      html.Span(f"{b['points']:.2f} / {b['weight']:g} 分", className="entity-factor-points")],
                     className="entity-factor-head"),
            html.Div(html.Div(className="entity-factor-fill",
                              style={"width": f"{pct:.1f}%", "backgroundColor": FACTOR_COLOURS[b["id"]]}),
                     className="entity-factor-bar"),
            html.Div(b["definition"], className="entity-factor-why"),
        ]))
    return html.Div(out, className="entity-factors")


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
            "grid": grid_names.get(grid, grid), "score": _num(r["score"]), "grade": str(r["grade"]),
            "grade_zh": RISK_GRADES.get(str(r["grade"]), str(r["grade"])),
            "bar_bg": bar_background(r, max_score), "breakdown": breakdown_text(r, weights),
            **{f"p_{f.id}": _num(r.get(f"p_{f.id}")) for f in FACTORS},
        })
    return rows


def entity_column_defs() -> list[dict[str, Any]]:
    num = {"type": "numericColumn", "filter": "agNumberColumnFilter"}
    return [
        {"field": "rank", "headerName": "#", "width": 58, **num, "filter": False},
        {"field": "name", "headerName": "主体名称", "minWidth": 160, "flex": 2, "filter": "agTextColumnFilter",
         "tooltipField": "name"},
        {"field": "score", "headerName": "评分", "width": 88, **num, "filter": False, "sort": "desc",
         "valueFormatter": {"function": "params.value == null ? '—' : params.value.toFixed(2)"}},
        {"field": "grade_zh", "headerName": "等级", "width": 80, "tooltipField": "grade_zh", "filter": False,
         "valueFormatter": {"function": "params.value.slice(0, 2)"},
         "cellClassRules": {f"risk-grade-{g}": f"params.data.grade == '{g}'" for g in GRADE_ORDER}},
        {"field": "breakdown", "headerName": "风险构成", "minWidth": 150, "flex": 1, "tooltipField": "breakdown",
         "valueFormatter": {"function": "''"}, "cellClass": "risk-bar-cell", "sortable": False, "filter": False,
         "cellStyle": {"function": "({'backgroundImage': params.data.bar_bg})"}},
        {"field": "code_md", "headerName": "统一社会信用代码", "minWidth": 186, "cellRenderer": "markdown",
         "cellClass": "risk-link-cell", "filterValueGetter": {"function": "params.data.credit_code"},
         "tooltipField": "credit_code"},
        {"field": "grid", "headerName": "网格", "minWidth": 150, "flex": 1, "tooltipField": "grid"},
        *({"field": f"p_{f.id}", "headerName": f.name_zh, "hide": True, **num} for f in FACTORS),
    ]


def create_entity_grid(grid_id: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=entity_column_defs(), rowData=[], getRowId="params.data.credit_code",
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
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
    cols = [{"field": "batch_no", "headerName": "批次号", "minWidth": 110, "flex": 1, "filter": "agTextColumnFilter"},
            {"field": "first_fail", "headerName": "首次不合格", "width": 120, "filter": False},
            {"field": "entities", "headerName": "主体", **num, "headerTooltip": "辖区内经营该批次的主体数"},
            {"field": "towns", "headerName": "镇街", **num, "headerTooltip": "辖区内涉及的镇街数"}]
    return dag.AgGrid(
        id=grid_id, columnDefs=cols, rowData=[], getRowId="params.data.batch_no",
        defaultColDef={"sortable": True, "resizable": True},
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


__all__ = ["GRADE_ORDER", "GRADE_COLOURS", "FACTOR_COLOURS", "WARNING_ZH", "RiskLayer", "page_query", "risk_href",
           "entity_href", "grade_counts", "grade_ranges", "create_grade_cards", "create_grade_figure",
           "create_risk_map", "map_hideout", "risk_map_layer", "point_markers", "breakdown", "bar_background", "breakdown_text",
           "factor_breakdown", "build_entity_rows", "entity_column_defs", "create_entity_grid",
           "create_trend_figure", "create_feed", "build_batch_rows", "create_batch_grid", "create_fanout",
           "create_grid_details"]
