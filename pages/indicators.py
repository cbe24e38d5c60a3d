"""指标体系: every catalogue indicator with its definition, thresholds and the
current value, 环比, 同比 and warning grade for a region and period.

URL parameters (all optional, so links can be shared):
``/indicators?region=4419&date=2026-11-20&grain=month&category=credit&q=投诉``.
``layout()`` does no database work; values come from a callback.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from auth import audit, scope_root
from auth.web import nav_account
from components.format import DROPDOWN_LABELS
from components.indicator_table import (GRADE_ORDER, build_rows, category_options, create_indicator_grid,
                                        csv_params, filter_rows, grade_counts)
from components.nav import create_nav
from indicators.catalogue import INDICATORS
from queries.indicator_values import compute_with_comparisons
from indicators.model import CATEGORIES, GRADES
from indicators.periods import Period, period_to_date, previous_period, span_text, year_ago
from store.db import get_db
from domain.errors import JinjianError
from store.filters import Filter, RegionScope, check_region_code
from queries.regions import RegionNode, region_node
from pages import inputs

logger = logging.getLogger(__name__)

PATH = "/indicators"
dash.register_page(__name__, path=PATH, title="金监 · 指标体系", name="指标体系")

GRAIN_ZH: dict[str, str] = {"day": "日", "week": "周", "month": "月", "quarter": "季", "year": "年"}
DEFAULT_GRAIN = "month"


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def _initial(region: str | None, date: str | None, grain: str | None,
             category: str | None) -> tuple[str, str, str, str | None]:
    """URL parameters checked without the database; bad ones fall back to defaults."""
    root = _root()
    region, grain, category = inputs.param(region), inputs.param(grain), inputs.param(category)
    code = (region or "").strip() or root
    try:
        RegionScope(root).check(check_region_code(code))
    except JinjianError:
        logger.info("ignoring region parameter %r", region)
        code = root
    try:
        day = inputs.day(date).isoformat()
    except JinjianError:
        day = dt.date.today().isoformat()
    return (code, day, grain if grain in GRAIN_ZH else DEFAULT_GRAIN,
            category if category in CATEGORIES else None)


def layout(region: str | None = None, date: str | None = None, grain: str | None = None,
           category: str | None = None, q: str | None = None, **_: Any) -> html.Div:
    code, day, grain_, cat = _initial(region, date, grain, category)
    rows = build_rows(INDICATORS)
    return html.Div(className="page ind-page", children=[
        create_nav(PATH, nav_account()),
        html.Header(className="page-header", children=[
            html.H1("指标体系"),
            html.Div(code, id="ind-region-path", className="region-name"),
            html.Div(f"共 {len(INDICATORS)} 项指标", className="ind-total"),
            html.A("分享链接", id="ind-share", className="ind-share", href=_share_href(code, day, grain_),
                   title="本页当前区域、日期和粒度的链接"),
        ]),
        html.Div(className="ind-controls", children=[
            _control("区域", dcc.Dropdown(id="ind-region", options=[{"label": code, "value": code}], value=code,
                                         clearable=False, searchable=True, search_order="original",
                                         labels=DROPDOWN_LABELS, className="ind-region-dropdown",
                                         placeholder="选择区域"), "ind-control-region"),
            _control("日期", dcc.DatePickerSingle(id="ind-date", date=day, display_format="YYYY-MM-DD",
                                                 first_day_of_week=1, clearable=False,
                                                 max_date_allowed=max(day, dt.date.today().isoformat()))),
            _control("粒度", dcc.RadioItems(id="ind-grain", value=grain_, inline=True, className="ind-grain",
                                           options=[{"label": zh, "value": g} for g, zh in GRAIN_ZH.items()])),
            _control("分类", dcc.Dropdown(id="ind-category", options=category_options(), value=cat,
                                         placeholder="全部分类", clearable=True, searchable=False,
                                         labels=DROPDOWN_LABELS, className="ind-category-dropdown"),
                     "ind-control-category"),
            _control("搜索", dcc.Input(id="ind-search", type="search", value=inputs.param(q) or "", debounce=False,
                                      placeholder="指标名称或关键字", autoComplete="off",
                                      className="ind-search"), "ind-control-search"),
            html.Button("导出 CSV", id="ind-export", className="ind-button", n_clicks=0),
        ]),
        html.Div(className="ind-status", children=[
            html.Div(id="ind-period", className="ind-period"),
            html.Div(id="ind-summary", className="ind-summary"),
        ]),
        html.Div(id="ind-banner", className="banner hidden", role="alert"),
        html.Div(dcc.Loading(create_indicator_grid("ind-grid", filter_rows(rows, cat)),
                             target_components={"ind-rows": "data"}, type="dot", color="#2ec7ff", delay_show=400,
                             overlay_style={"visibility": "visible", "opacity": 0.6},
                             parent_style={"height": "100%"}),
                 className="ind-table-box"),
        dcc.Store(id="ind-rows", data=rows),
    ])


def _control(label: str, component: Any, extra_class: str = "") -> html.Div:
    return html.Div([html.Span(label, className="ind-control-label"), component],
                    className=f"ind-control {extra_class}".strip())


def _share_href(region: str, day: str, grain: str) -> str:
    return dash.get_relative_path(PATH) + "?" + urlencode({"region": region, "date": day, "grain": grain})


def _period_text(period: Period, grain: str) -> list[Any]:
    prev, ago = previous_period(period, grain), year_ago(period)
    return [html.Span(f"统计期间 {period.start} 至 {period.end}", className="ind-period-main"),
            html.Span(f"按{GRAIN_ZH[grain]}累计（期初至所选日期）"),
            html.Span(f"环比 {span_text(prev)}"), html.Span(f"同比 {span_text(ago)}")]


def _summary(rows: list[dict[str, Any]]) -> list[Any]:
    counts = grade_counts(rows)
    chips = [html.Span("预警概况", className="ind-summary-label")]
    for g in reversed(GRADE_ORDER):
        chips.append(html.Span(f"{GRADES[g][0]} {counts[g]}", className=f"ind-badge ind-badge-{g}"))
    return chips


def _region_options(node: RegionNode, root: str) -> list[dict[str, str]]:
    """The path from the jurisdiction root down to ``node`` (to go back up), the
    node itself, then its children (to go down)."""
    path = node.path[node.path["code"].str.startswith(root)]
    opts = []
    for row in path.itertuples():
        if row.code == node.code:
            break
        opts.append({"label": f"↑ {row.name}", "value": row.code})
    here = " › ".join(path["name"])
    opts.append({"label": here or node.name, "value": node.code})
    opts += [{"label": f"↓ {r.name}", "value": r.code} for r in node.children.itertuples()]
    return opts


@callback(
    Output("ind-region", "options"), Output("ind-region-path", "children"),
    Input("ind-region", "value"),
)
def update_region(code: str | None) -> tuple[Any, Any]:
    root = _root()
    try:
        node = region_node(get_db(), inputs.text(code, limit=64) or root, RegionScope(root))
    except JinjianError as exc:
        logger.warning("region selector for %r failed: %s", code, exc.detail)
        return no_update, no_update
    return _region_options(node, root), " › ".join(node.path["name"].iloc[1:]) or node.name


@callback(
    Output("ind-rows", "data"), Output("ind-period", "children"), Output("ind-summary", "children"),
    Output("ind-banner", "children"), Output("ind-banner", "className"), Output("ind-share", "href"),
    Output("ind-grid", "csvExportParams"),
    Input("ind-region", "value"), Input("ind-date", "date"), Input("ind-grain", "value"),
)
def refresh(code: str | None, date: str | None, grain: str | None) -> tuple[Any, ...]:
    root = _root()
    try:
        day, grain = inputs.day(date), inputs.choice(grain, GRAIN_ZH, DEFAULT_GRAIN)
        period = period_to_date(day, grain)
        flt = Filter(region=inputs.text(code, limit=64) or root, scope=RegionScope(root))
        values = compute_with_comparisons(get_db(), INDICATORS, flt, period, grain)
    except JinjianError as exc:
        logger.warning("indicator page refresh failed: %s", exc.detail)
        return no_update, no_update, no_update, exc.user_message, "banner", no_update, no_update
    rows = build_rows(INDICATORS, values)
    name = f"indicators_{flt.region}_{day.isoformat()}_{grain}.csv"
    return (rows, _period_text(period, grain), _summary(rows), "", "banner hidden",
            _share_href(flt.region, day.isoformat(), grain), csv_params(name))


@callback(Output("ind-grid", "rowData"), Input("ind-rows", "data"), Input("ind-category", "value"),
          prevent_initial_call=True)
@inputs.keep_on_bad_input
def show_rows(rows: list[dict[str, Any]] | None, category: str | None) -> list[dict[str, Any]]:
    """The category filter (no database: rows come from the store)."""
    return filter_rows(inputs.records(rows), inputs.choice(category, CATEGORIES))


@callback(Output("ind-grid", "exportDataAsCsv"), Input("ind-export", "n_clicks"),
          State("ind-grid", "csvExportParams"), State("ind-region", "value"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def export_csv(_n: int | None, params: dict | None, code: str | None) -> bool:
    """The browser writes the CSV of the rows shown; the server checks and audits it."""
    audit.exported("export_csv", inputs.export_name(params), inputs.text(code, limit=64) or _root())
    return True


# The search box filters in the browser (AG Grid quick filter): no request at all.
clientside_callback(
    """function(text, options) {
        return Object.assign({}, options || {}, {quickFilterText: text || ""});
    }""",
    Output("ind-grid", "dashGridOptions"), Input("ind-search", "value"), State("ind-grid", "dashGridOptions"),
)
