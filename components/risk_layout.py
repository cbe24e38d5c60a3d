"""风险预警's page skeleton and URL handling: pure helpers for ``pages/risk.py``
(no callbacks, no database, no server, no settings).

- :func:`region_param`, :func:`precheck`, :func:`selected_grid`: the URL's region
  and grid, and the 404 / 403 cases known without the database;
- :func:`status_panel`: the 404 / 403 panel; :func:`breadcrumbs`: the region path;
- :func:`create_layout`: the page with every panel empty, ids ``risk-*`` (the
  callbacks in ``pages/risk.py`` fill them) — cards, donut, map, details, top-risk
  table, trend, feed, batches and fan-out come from ``components.risk_views`` and
  ``components.risk_map``.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Sequence

import pandas as pd
from dash import dcc, html

from components import risk_views as rv
from components.risk_map import create_risk_map
from domain.errors import InvalidParameter
from store.filters import RegionScope, check_region_code

HIDDEN = "hidden"


# ----------------------------------------------------------------------------- URL
def region_param(value: str | None, root: str) -> str:
    """The URL's ``region``: '' / 'root' → ``root``, 'all' → '' (the whole country)."""
    value = (value or "").strip()
    return root if value in ("", "root") else "" if value.lower() == "all" else value


def precheck(code: str, root: str) -> str | None:
    """'not_found' / 'forbidden' when known without the database, else None."""
    try:
        check_region_code(code)
    except InvalidParameter:
        return "not_found"
    return None if RegionScope(root).contains(code) else "forbidden"


def selected_grid(grid: Any, code: str, status: str | None) -> str | None:
    """The URL's ``grid`` when it is a code below ``code`` (and the region is fine), else None."""
    return grid if (not status and isinstance(grid, str) and grid.isdigit() and grid.startswith(code)
                    and len(grid) > len(code)) else None


# ----------------------------------------------------------------------------- header
def status_panel(kind: str, code: str, back_href: str) -> list[Any]:
    """The 404 (``kind`` 'not_found') or 403 ('forbidden') panel with a link back."""
    back = dcc.Link("返回辖区风险预警", href=back_href, className="region-back-link", id="risk-back")
    if kind == "forbidden":
        return [html.Div("403", className="region-status-code"), html.H2("无权查看该区域"),
                html.P(f"区划代码 {code or '全国'} 不在本平台的辖区范围内。"), back]
    return [html.Div("404", className="region-status-code"), html.H2("未找到该区域"),
            html.P(f"区划代码 “{code}” 不存在或格式不正确。"), back]


def breadcrumbs(path: pd.DataFrame, href: Callable[[str], str]) -> list[Any]:
    """The region path (code, name rows from the root down): links, the last one current."""
    out: list[Any] = []
    rows = list(path.itertuples(index=False))
    for i, r in enumerate(rows):
        if i:
            out.append(html.Span("›", className="risk-crumb-sep"))
        if i == len(rows) - 1:
            out.append(html.Span(r.name, className="risk-crumb risk-crumb-current", **{"aria-current": "page"}))
        else:
            out.append(dcc.Link(r.name, href=href(str(r.code)), className="risk-crumb"))
    return out


# ----------------------------------------------------------------------------- page
def create_layout(code: str, day: str, selected: str | None, status: list[Any] | None, *, nav: Any,
                  share_href: str, tile_url: str, grades: Sequence[float], trend_days: int) -> html.Div:
    """The page for region ``code`` as of ``day`` (ISO) with grid ``selected`` open;
    ``status`` (a :func:`status_panel`) hides the panels. ``nav``: the page's
    navigation bar; ``grades``: the score thresholds of the cards."""
    return html.Div(className="page risk-page", children=[
        nav,
        html.Header(className="page-header risk-header", children=[
            html.H1("风险预警"),
            html.Div(code or "全国", id="risk-title", className="region-name risk-title"),
            html.Span("", id="risk-level", className="risk-level"),
            html.Nav(id="risk-breadcrumbs", className="risk-breadcrumbs", **{"aria-label": "区域路径"}),
            html.Div(className="risk-controls", children=[
                html.Span("截至日期", className="risk-control-label"),
                dcc.DatePickerSingle(id="risk-date", date=day, display_format="YYYY-MM-DD", first_day_of_week=1,
                                     clearable=False, max_date_allowed=max(day, dt.date.today().isoformat())),
                html.A("分享链接", id="risk-share", className="risk-share", href=share_href,
                       title="当前区域、日期和所选网格的链接"),
            ]),
        ]),
        html.Div(id="risk-banner", className=f"banner {HIDDEN}", role="alert"),
        html.Div(status or [], id="risk-status", className="region-status" if status else f"region-status {HIDDEN}"),
        html.Div(id="risk-main", className=f"risk-main {HIDDEN}" if status else "risk-main", children=[
            html.Div(className="risk-summary", children=[
                html.Div(rv.create_grade_cards(None, grades), className="risk-cards"),
                html.Div(className="panel risk-donut-panel", children=[
                    dcc.Graph(id="risk-donut", figure=rv.create_grade_figure(None), className="risk-donut",
                              config={"displayModeBar": False}),
                    html.Div(id="risk-summary-note", className="risk-summary-note")]),
            ]),
            html.Div(className="risk-body", children=[
                html.Section(className="panel risk-map-panel", children=[
                    html.Div([html.H2("风险地图"), html.Span(id="risk-map-title", className="risk-note")],
                             className="risk-panel-head"),
                    create_risk_map("risk", tile_url)]),
                html.Section(className="panel risk-details-panel", children=[
                    html.H2("网格详情"),
                    html.Div(rv.create_grid_details(None, "", None, None, None, None, 0, {}, day),
                             id="risk-details", className="risk-details")]),
                html.Section(className="panel risk-table-panel", children=[
                    html.Div([html.H2("高风险主体"), html.Span(id="risk-table-note", className="risk-note")],
                             className="risk-panel-head"),
                    html.Div(rv.create_entity_grid("risk-grid"), className="risk-table-box")]),
            ]),
            html.Div(className="risk-lower", children=[
                html.Section(className="panel risk-trend-panel", children=[
                    html.Div([html.H2("预警趋势"), html.Span(f"近 {trend_days} 天 · 件/日", className="risk-note")],
                             className="risk-panel-head"),
                    dcc.Graph(id="risk-trend", className="risk-graph", config={"displayModeBar": False})]),
                html.Section(className="panel risk-feed-panel", children=[
                    html.H2("最新预警"), html.Ul(id="risk-feed", className="risk-feed")]),
                html.Section(className="panel risk-batch-panel", children=[
                    html.Div([html.H2("批次追溯预警"), html.Span(id="risk-batch-note", className="risk-note")],
                             className="risk-panel-head"),
                    html.Div(className="risk-batch-body", children=[
                        html.Div(rv.create_batch_grid("risk-batches"), className="risk-batch-box"),
                        html.Div(rv.create_fanout(None, None, 0, {}, {}, day), id="risk-fanout",
                                 className="risk-fanout")])]),
            ]),
        ]),
        dcc.Store(id="risk-region", data=code),
        dcc.Store(id="risk-selected", data=selected),
        dcc.Location(id="risk-location", refresh="callback-nav"),
    ])


__all__ = ["HIDDEN", "region_param", "precheck", "selected_grid", "status_panel", "breadcrumbs", "create_layout"]
