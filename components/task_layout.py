"""任务督办's page skeleton: pure factories, no database (pages/tasks.py fills it by callbacks).

:func:`create_layout` is the whole page for a region, a date and the filters taken from
the URL; the department dropdown starts with the URL's department only — its options come
from a callback, as the user types (a province has thousands of departments).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from dash import dcc, html

from components.ageing_chart import create_ageing_chart
from components.format import DROPDOWN_LABELS
from components.task_views import (bucket_options, create_efficiency_grid, create_summary_cards, create_task_grid,
                                   create_timeline, status_options, type_options)

HIDDEN = "hidden"
#: The page's views (URL ``view=``): the task list first; the others are computed only when shown.
VIEWS: tuple[tuple[str, str], ...] = (("list", "督办清单"), ("eff", "效能监察"), ("push", "推送时效"),
                                      ("random", "双随机与联合惩戒"))
DEFAULT_VIEW = VIEWS[0][0]


def pane_class(view: str, shown: str) -> str:
    """The class of the pane ``view`` when ``shown`` is the chosen view."""
    return "tasks-pane" if view == shown else f"tasks-pane {HIDDEN}"


def create_layout(code: str, day: str, filters: tuple[str | None, str | None, str | None, str | None],
                  labels: dict[str, str], nav: Any, share_href: str, view: str = DEFAULT_VIEW) -> html.Div:
    """The page: header, filter controls, cards, then one view at a time — ageing chart,
    task list and timeline; 效能监察; 推送时效; 双随机与联合惩戒.
    ``filters`` = (department, task type, status, bucket)."""
    dept_, type_, status_, bucket_ = filters
    return html.Div(className="page tasks-page", children=[
        nav,
        html.Header(className="page-header tasks-header", children=[
            html.H1("任务督办"),
            html.Div(code, id="tasks-region-name", className="region-name tasks-region-name"),
            html.A("分享链接", id="tasks-share", className="tasks-share", href=share_href,
                   title="当前区域、日期和筛选条件的链接"),
        ]),
        html.Div(className="tasks-controls", children=[
            control("区划代码", dcc.Input(id="tasks-region", value=code, type="text", debounce=True,
                                        placeholder="如 4419", autoComplete="off", className="tasks-region-input")),
            control("截至日期", dcc.DatePickerSingle(id="tasks-date", date=day, display_format="YYYY-MM-DD",
                                                  first_day_of_week=1, clearable=False,
                                                  max_date_allowed=max(day, dt.date.today().isoformat()))),
            control("责任部门", dropdown("tasks-dept", [{"label": dept_, "value": dept_}] if dept_ else [], dept_,
                                       "全部部门", searchable=True), "tasks-control-dept"),
            control("任务类型", dropdown("tasks-type", type_options(), type_, "全部类型")),
            control("办理状态", dropdown("tasks-status", status_options(), status_, "全部状态")),
            control("预警等级", dropdown("tasks-bucket", bucket_options(labels), bucket_, "全部预警"),
                     "tasks-control-bucket"),
            html.Button("导出 CSV", id="tasks-export-csv", className="tasks-button", n_clicks=0),
            html.Button("导出 Excel", id="tasks-export-xlsx", className="tasks-button", n_clicks=0),
            html.Span(id="tasks-export-note", className="tasks-export-note"),
        ]),
        html.Div(id="tasks-banner", className=f"banner {HIDDEN}", role="alert"),
        html.Div(id="tasks-workday-note", className=f"tasks-notice {HIDDEN}", role="status"),
        html.Div(create_summary_cards(None, labels), className="card-row tasks-cards"),
        dcc.Tabs(id="tasks-view", value=view, className="tasks-views", parent_className="tasks-views-bar",
                 children=[dcc.Tab(label=label, value=value, className="tasks-view-tab",
                                   selected_className="tasks-view-tab--selected") for value, label in VIEWS]),
        html.Div(id="tasks-pane-list", className=pane_class("list", view), children=html.Div(
            className="tasks-body", children=[
                html.Section(className="panel tasks-ageing-panel", children=[
                    html.Div(create_ageing_chart(None, labels), id="tasks-ageing", className="tasks-graph"),
                    html.Div("点击柱形按预警等级筛选任务清单", className="tasks-hint"),
                ]),
                html.Section(className="panel tasks-table-panel", children=[
                    html.Div(className="tasks-panel-head", children=[
                        html.H2("任务清单"), html.Span(id="tasks-table-note", className="tasks-table-note")]),
                    html.Div(create_task_grid("tasks-grid"), className="tasks-table-box"),
                ]),
                html.Section(className="panel tasks-timeline-panel", children=[
                    html.H2("办理过程"),
                    html.Div(create_timeline(None, None), id="tasks-timeline", className="tasks-timeline"),
                ]),
            ])),
        # The other views are built by their callbacks when shown (a placeholder otherwise).
        *[html.Div(pending(), id=f"tasks-pane-{v}", className=pane_class(v, view)) for v, _ in VIEWS[1:]],
        dcc.Download(id="tasks-download"),
    ])


def pending() -> html.Div:
    """What a view shows until its callback has filled it."""
    return html.Div("正在统计…", className="panel tasks-pane-pending")


def create_efficiency_section(town_rows: list[dict[str, Any]] | None = None,
                              dept_rows: list[dict[str, Any]] | None = None, period: str = "",
                              note: str = "") -> html.Section:
    """效能监察: the period, a note (errors), and the town and department rankings."""
    return html.Section(className="panel tasks-eff-panel", children=[
        html.Div(className="tasks-panel-head", children=[
            html.H2("效能监察"), html.Span(period, id="tasks-eff-period", className="tasks-table-note"),
            html.Span(note, id="tasks-eff-note", className="tasks-eff-note")]),
        html.Div(className="tasks-eff-body", children=[
            html.Div([html.H3("镇街排名"), html.Div(create_efficiency_grid("tasks-eff-town", "镇街", town_rows),
                                                   className="tasks-eff-box")], className="tasks-eff-col"),
            html.Div([html.H3("责任部门排名"), html.Div(create_efficiency_grid("tasks-eff-dept", "责任部门", dept_rows),
                                                     className="tasks-eff-box")], className="tasks-eff-col"),
        ]),
    ])


def control(label: str, component: Any, extra_class: str = "") -> html.Div:
    return html.Div([html.Span(label, className="tasks-control-label"), component],
                    className=f"tasks-control {extra_class}".strip())


def dropdown(cid: str, options: list[dict[str, str]], value: str | None, placeholder: str,
              searchable: bool = False) -> dcc.Dropdown:
    return dcc.Dropdown(id=cid, options=options, value=value, placeholder=placeholder, clearable=True,
                        searchable=searchable, labels=DROPDOWN_LABELS, className="tasks-dropdown")


