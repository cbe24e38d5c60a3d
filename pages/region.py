"""区域下钻: one region at any level (province … grid) with its headline numbers,
a table (and map) of its children and its registration trends.

URLs (shareable; the browser's back/forward step through the levels):
``/region/<code>?indicator=entity_stock,abnormal_rate&date=2026-11-20&grain=month``
where ``code`` is 2/4/6/9/12/15 digits, ``root`` = the deployment's jurisdiction
(``JINJIAN_ROOT_REGION``, the nav link) and ``all`` = the whole country ('').
Pass-through levels are skipped (东莞市 4419 → its 镇街 directly).

``layout()`` does no database work: malformed and out-of-jurisdiction codes are
recognised without it, everything else comes from callbacks.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from components.cards import create_stat_card
from components.figures import create_flow_lines, merge
from components.format import DROPDOWN_LABELS, format_change
from auth.web import nav_account
from components.nav import create_nav
from components.region_table import (build_rows, code_from_slug, column_defs, create_region_grid, csv_params,
                                     indicator_options, level_of, page_query, parse_indicators, region_href)
from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute, compute_with_comparisons, tolerant
from indicators.periods import Period, period_to_date, previous_period, span_text
from store.db import get_db
from queries.entities import registration_flows
from domain.errors import InvalidParameter, JinjianError, RegionNotFound, ScopeViolation
from store.parallel import run_beside
from store.filters import Filter, RegionScope, check_region_code
from queries.regions import LEVEL_NAMES_ZH, region_node
from auth import audit, scope_root
from pages import inputs
from settings import Settings

from components.region_map import create_region_map, map_layer
from queries.geo import children_features

logger = logging.getLogger(__name__)

NAV_PATH = "/region/root"
dash.register_page(__name__, path_template="/region/<code>", title="金监 · 区域下钻", name="区域下钻")

GRAIN_ZH: dict[str, str] = {"day": "日", "week": "周", "month": "月", "quarter": "季", "year": "年"}
DEFAULT_GRAIN = "month"
DAILY_DAYS = 30
MONTHS = 13
#: (card id, indicator id, label; {g} = the grain's Chinese name).
CARDS: list[tuple[str, str, str]] = [
    ("region-card-stock", "entity_stock", "存续市场主体"),
    ("region-card-new", "new_registrations", "本{g}新设立"),
    ("region-card-cancel", "cancellations", "本{g}注销"),
    ("region-card-open", "tasks_open", "在办任务"),
    ("region-card-overdue", "tasks_overdue", "逾期任务"),
    ("region-card-abnormal", "abnormal_rate", "经营异常名录占比"),
]
HIDDEN = "hidden"


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def _prefix() -> str:
    return dash.get_relative_path("/region/")


def _href(code: str, query: dict[str, str]) -> str:
    return region_href(code, query, prefix=_prefix())


def _grain(value: str | None) -> str:
    """A URL's grain (unknown → the default)."""
    return value if isinstance(value, str) and value in GRAIN_ZH else DEFAULT_GRAIN


def _grain_in(value: object) -> str:
    """A callback's grain (unknown → refused)."""
    return inputs.choice(value, GRAIN_ZH, DEFAULT_GRAIN)


def _status_panel(kind: str, code: str) -> list[Any]:
    """The 404 / 403 panel (in Chinese, with a way back)."""
    back = dcc.Link("返回辖区总览", href=_href(_root(), {}), className="region-back-link", id="region-back")
    if kind == "forbidden":
        return [html.Div("403", className="region-status-code"), html.H2("无权查看该区域"),
                html.P(f"区划代码 {code or '全国'} 不在本平台的辖区范围内。"), back]
    return [html.Div("404", className="region-status-code"), html.H2("未找到该区域"),
            html.P(f"区划代码 “{code}” 不存在或格式不正确。"), back]


def _precheck(code: str, root: str) -> str | None:
    """'not_found' / 'forbidden' when known without the database, else None."""
    try:
        check_region_code(code)
    except InvalidParameter:
        return "not_found"
    return None if RegionScope(root).contains(code) else "forbidden"


def layout(code: str | None = None, indicator: str | None = None, date: str | None = None,
           grain: str | None = None, **_: Any) -> html.Div:
    root = _root()
    region = code_from_slug(code, root)
    try:
        day = inputs.day(date).isoformat()
    except JinjianError:
        day = dt.date.today().isoformat()
    grain_ = _grain(grain)
    ids = parse_indicators(inputs.param(indicator))
    status = _precheck(region, root)
    return html.Div(className="page region-page", children=[
        create_nav(NAV_PATH, nav_account()),
        html.Header(className="page-header region-header", children=[
            html.H1("区域下钻"),
            html.Div(region or "全国", id="region-title", className="region-name region-title"),
            html.Span("", id="region-level", className="region-level"),
            html.Nav(id="region-breadcrumbs", className="region-breadcrumbs", **{"aria-label": "区域路径"}),
            html.A("分享链接", id="region-share", className="region-share", title="当前区域、日期、粒度和指标列的链接",
                   href=_href(region, page_query(ids, day, grain_))),
        ]),
        html.Div(className="region-controls", children=[
            _control("日期", dcc.DatePickerSingle(id="region-date", date=day, display_format="YYYY-MM-DD",
                                                 first_day_of_week=1, clearable=False,
                                                 max_date_allowed=max(day, dt.date.today().isoformat()))),
            _control("粒度", dcc.RadioItems(id="region-grain", value=grain_, inline=True, className="region-grain",
                                           options=[{"label": zh, "value": g} for g, zh in GRAIN_ZH.items()])),
            _control("表格指标（首项用于地图着色）",
                     dcc.Dropdown(id="region-indicators", options=indicator_options(), value=ids, multi=True,
                                  clearable=False, searchable=True, labels=DROPDOWN_LABELS,
                                  placeholder="选择指标列", className="region-indicator-dropdown"),
                     "region-control-indicators"),
            html.Button("导出 CSV", id="region-export", className="region-button", n_clicks=0),
            html.Div(id="region-period", className="region-period"),
        ]),
        html.Div(id="region-banner", className="banner hidden", role="alert"),
        html.Div(_status_panel(status, region) if status else [], id="region-status",
                 className="region-status" if status else f"region-status {HIDDEN}"),
        html.Div(id="region-main", className=f"region-main {HIDDEN}" if status else "region-main", children=[
            html.Div(className="card-row region-cards", children=[
                create_stat_card(cid, label.format(g=GRAIN_ZH[grain_]), None, CATALOGUE[ind].unit)
                for cid, ind, label in CARDS]),
            html.Div(className="region-body", children=[
                html.Section(className="panel region-table-panel", children=[
                    html.Div(className="region-panel-head", children=[
                        html.H2("下级区域", id="region-table-title"),
                        html.Span(id="region-table-note", className="region-table-note")]),
                    html.Div(create_region_grid("region-grid", ids), className="region-table-box"),
                ]),
                html.Section(_map_panel(), className="panel region-map-panel"),
                html.Section(className="panel region-trend-panel", children=[
                    dcc.Graph(id="region-daily", config={"displayModeBar": False}, className="region-graph"),
                    dcc.Graph(id="region-monthly", config={"displayModeBar": False}, className="region-graph"),
                ]),
            ]),
        ]),
        dcc.Store(id="region-code", data=region),
        dcc.Store(id="region-path", data=[]),
        dcc.Location(id="region-location", refresh="callback-nav"),
    ])


def _control(label: str, component: Any, extra_class: str = "") -> html.Div:
    return html.Div([html.Span(label, className="region-control-label"), component],
                    className=f"region-control {extra_class}".strip())


# ----------------------------------------------------------------------------- header, cards, trends
def _breadcrumbs(path: list[dict[str, Any]], query: dict[str, str]) -> list[Any]:
    """Links to every level of ``path`` (the current one is plain text)."""
    out: list[Any] = []
    for i, item in enumerate(path):
        if i:
            out.append(html.Span("›", className="region-crumb-sep"))
        if i == len(path) - 1:
            out.append(html.Span(item["name"], className="region-crumb region-crumb-current",
                                 **{"aria-current": "page"}))
        else:
            out.append(dcc.Link(item["name"], href=_href(item["code"], query), className="region-crumb"))
    return out


def _card_note(ind_id: str, row: pd.Series | None, grain: str) -> str:
    ind = CATALOGUE[ind_id]
    if not ind.comparable:
        return "当前状态"
    if row is None:
        return ""
    return f"环比（上{GRAIN_ZH[grain]}同期） {format_change(row['mom'])}"


def _card_value(ind_id: str, value: Any) -> float | int | None:
    ind = CATALOGUE[ind_id]
    if value is None or pd.isna(value):
        return None
    if not ind.is_ratio and ind.decimals == 0:
        return int(round(float(value)))
    return round(float(value), max(ind.decimals, 1))


def _months_back(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` before ``day``'s month."""
    total = day.year * 12 + day.month - 1 - months
    return dt.date(total // 12, total % 12 + 1, 1)


def _period_text(period: Period, grain: str) -> list[Any]:
    prev = previous_period(period, grain)
    return [html.Span(f"统计期间 {period.start} 至 {period.end}", className="region-period-main"),
            html.Span(f"环比 {span_text(prev)}")]


def _not_shown(n_cards: int) -> list[Any]:
    return [no_update] * (n_cards + 5)


@callback(
    Output("region-title", "children"), Output("region-level", "children"), Output("region-path", "data"),
    Output("region-status", "children"), Output("region-status", "className"), Output("region-main", "className"),
    [Output(cid, "children") for cid, _, _ in CARDS],
    Output("region-daily", "figure"), Output("region-monthly", "figure"), Output("region-period", "children"),
    Output("region-table-title", "children"),
    Output("region-banner", "children"), Output("region-banner", "className"),
    Input("region-code", "data"), Input("region-date", "date"), Input("region-grain", "value"),
)
@inputs.keep_on_bad_input
def refresh(code: str | None, date: str | None, grain: str | None) -> tuple[Any, ...]:
    """The region's name, path, headline cards and trends (or the 404 / 403 panel)."""
    root = _root()
    code = inputs.text(code, root, limit=64)  # '' = the whole country
    keep = _not_shown(len(CARDS))
    try:
        db = get_db()
        node = region_node(db, code, RegionScope(root))
    except (InvalidParameter, RegionNotFound):
        return (no_update, "", [], _status_panel("not_found", code), "region-status", f"region-main {HIDDEN}",
                *keep[:-1], "", "banner hidden")
    except ScopeViolation:
        return (no_update, "", [], _status_panel("forbidden", code), "region-status", f"region-main {HIDDEN}",
                *keep[:-1], "", "banner hidden")
    except JinjianError as exc:
        logger.warning("region page %r failed: %s", code, exc.detail)
        return (no_update,) * 6 + tuple(keep[:-1]) + (exc.user_message, "banner")
    path = node.path[node.path["code"].str.startswith(root)] if root else node.path
    path_data = [{"code": r.code, "name": r.name, "level": int(r.level)} for r in path.itertuples()]
    level = LEVEL_NAMES_ZH.get(node.level, "")
    head = (node.name, level, path_data, [], f"region-status {HIDDEN}", "region-main")
    child_level = level_of(str(node.children["code"].iloc[0])) if len(node.children) else None
    table_title = (f"下级{LEVEL_NAMES_ZH[child_level]}（{len(node.children)}）" if child_level is not None
                   else "下级区域")
    try:
        day, grain = inputs.day(date), _grain_in(grain)
        period = period_to_date(day, grain)
        flt = Filter(region=code, scope=RegionScope(root))
        inds, problems = [CATALOGUE[i] for _, i, _ in CARDS], []  # a broken setting: its cards only show —
        # The trends beside the cards, whose queries run side by side as well (store.parallel).
        values, out = run_beside(
            lambda: tolerant(lambda some: [compute_with_comparisons(db, some, flt, period, grain)], inds,
                             problems)[0].set_index("indicator_id"),
            {"flows": lambda: registration_flows(db, flt, {
                "daily": ("day", day - dt.timedelta(days=DAILY_DAYS - 1), day),
                "monthly": ("month", _months_back(day, MONTHS - 1), day)})})
        daily, monthly = out["flows"]["daily"], out["flows"]["monthly"]
    except JinjianError as exc:
        logger.warning("region page %r refresh failed: %s", code, exc.detail)
        return (*head, *keep[:-2], table_title, exc.user_message, "banner")
    cards = []
    for cid, ind_id, label in CARDS:
        row = values.loc[ind_id] if ind_id in values.index else None
        value = _card_value(ind_id, None if row is None else row["value"])
        cards.append(create_stat_card(cid, label.format(g=GRAIN_ZH[grain]), value, CATALOGUE[ind_id].unit,
                                      _card_note(ind_id, row, grain)).children)
    style = {"margin": {"l": 44, "r": 12, "t": 40, "b": 40}, "title": {"font": {"size": 15}},
             "legend": {"orientation": "h", "y": -0.16}}
    fig_daily = create_flow_lines(daily, f"近 {DAILY_DAYS} 天新设立与注销吊销（户/日）", style)
    fig_monthly = create_flow_lines(monthly, f"近 {MONTHS} 个月新设立与注销吊销（户/月）",
                                    merge(style, {"xaxis": {"tickformat": "%Y-%m", "hoverformat": "%Y-%m"}}))
    told = problems[0].user_message if problems else ""
    return (*head, *cards, fig_daily, fig_monthly, _period_text(period, grain), table_title, told,
            "banner" if told else "banner hidden")


@callback(
    Output("region-breadcrumbs", "children"), Output("region-share", "href"),
    Input("region-path", "data"), Input("region-date", "date"), Input("region-grain", "value"),
    Input("region-indicators", "value"), State("region-code", "data"),
)
@inputs.keep_on_bad_input
def update_links(path: list[dict[str, Any]] | None, date: str | None, grain: str | None,
                 indicators: list[str] | None, code: str | None) -> tuple[Any, Any]:
    """Breadcrumbs and the share link keep the date, grain and columns (no database)."""
    day = inputs.optional_day(date)
    query = page_query(parse_indicators(inputs.texts(indicators)), day and day.isoformat(), _grain_in(grain))
    crumbs = [{"code": inputs.field(p, "code"), "name": inputs.field(p, "name")} for p in inputs.records(path)]
    return _breadcrumbs(crumbs, query), _href(inputs.text(code, _root(), limit=64), query)


# ----------------------------------------------------------------------------- table
@callback(
    Output("region-grid", "rowData"), Output("region-grid", "columnDefs"), Output("region-grid", "csvExportParams"),
    Output("region-table-note", "children"),
    Input("region-code", "data"), Input("region-date", "date"), Input("region-grain", "value"),
    Input("region-indicators", "value"),
)
def refresh_table(code: str | None, date: str | None, grain: str | None,
                  indicators: list[str] | None) -> tuple[Any, ...]:
    """The children of the region with the chosen indicators as columns."""
    root = _root()
    try:
        code, ids = inputs.text(code, root, limit=64), parse_indicators(inputs.texts(indicators))
        day, grain = inputs.day(date), _grain_in(grain)
        flt = Filter(region=code, scope=RegionScope(root))
        values = compute(get_db(), [CATALOGUE[i] for i in ids], flt, period_to_date(day, grain), by_child=True)
    except (RegionNotFound, ScopeViolation) as exc:  # the status panel says it
        logger.info("region table %r: %s", code, exc.detail)
        return [], no_update, no_update, ""
    except JinjianError as exc:
        logger.warning("region table %r failed: %s", code, exc.detail)
        return no_update, no_update, no_update, exc.user_message
    query = page_query(ids, day.isoformat(), grain)
    rows = build_rows(values, ids, href=lambda c: _href(c, query))
    note = "" if rows else "网格为最小单元，无下级区域" if len(code) == 15 else "暂无下级区域"
    name = f"region_{code or 'all'}_{day.isoformat()}_{grain}.csv"
    return rows, column_defs(ids), csv_params(name, ids), note


@callback(Output("region-grid", "exportDataAsCsv"), Input("region-export", "n_clicks"),
          State("region-grid", "csvExportParams"), State("region-code", "data"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def export_csv(_n: int | None, params: dict | None, code: str | None) -> bool:
    """The browser writes the CSV of the rows shown; the server checks and audits it."""
    audit.exported("export_csv", inputs.export_name(params), inputs.text(code, limit=64) or _root())
    return True


# In-app links in the child table navigate without a reload: assets/inapp_links.js.


# ----------------------------------------------------------------------------- map
def _map_panel() -> list[Any]:
    return [create_region_map("region", Settings.from_env().tile_url)]


def refresh_map(code: str | None, date: str | None, grain: str | None,
                indicators: list[str] | None) -> tuple[Any, ...]:
    """The children's polygons coloured by the first chosen indicator, and the view fitted to them."""
    root = _root()
    try:
        code, ind = inputs.text(code, root, limit=64), CATALOGUE[parse_indicators(inputs.texts(indicators))[0]]
        db = get_db()
        scope = RegionScope(root)
        flt = Filter(region=code, scope=scope)
        values = compute(db, [ind], flt, period_to_date(inputs.day(date), _grain_in(grain)), by_child=True)
        features = children_features(db, code, scope)
    except JinjianError as exc:
        logger.info("region map %r: %s", code, exc.detail)
        return no_update, no_update, exc.user_message, no_update
    layer = map_layer(features, {str(c): float(v) for c, v in zip(values["region_code"], values["value"])
                                 if pd.notna(v)}, ind)
    viewport = {"bounds": layer.bounds, "transition": "fitBounds"} if layer.bounds else no_update
    return layer.geojson, layer.legend, layer.note, viewport


def map_click(feature: dict[str, Any] | None, date: str | None, grain: str | None,
              indicators: list[str] | None) -> Any:
    """A click on a child's polygon opens its page (a history entry, no reload)."""
    child = inputs.clicked_code(feature)
    if not child:
        return no_update
    day = inputs.optional_day(date)
    return _href(child, page_query(parse_indicators(inputs.texts(indicators)), day and day.isoformat(),
                                   _grain_in(grain)))


def _register_map_callbacks() -> None:
    """Map wiring (needs components.region_map and queries.geo)."""
    callback(
        Output("region-geojson", "data"), Output("region-legend", "children"), Output("region-note", "children"),
        Output("region-map", "viewport"),
        Input("region-code", "data"), Input("region-date", "date"), Input("region-grain", "value"),
        Input("region-indicators", "value"),
    )(refresh_map)
    callback(
        Output("region-location", "href"),
        Input("region-geojson", "clickData"),
        State("region-date", "date"), State("region-grain", "value"), State("region-indicators", "value"),
        prevent_initial_call=True,
    )(inputs.keep_on_bad_input(map_click))


_register_map_callbacks()
