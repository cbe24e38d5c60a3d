"""任务督办: supervision tasks of a region as of a date — warning buckets (cards), then
one view at a time (tabs): the ageing chart, the task list with CSV / Excel export and a
task's timeline; 效能监察 per town and per department; 推送时效; 双随机与联合惩戒. A view
other than the list is computed and built only when shown.

URL parameters (all optional, so links can be shared):
``/tasks?region=4419&date=2026-11-20&dept=4419-01&type=clue&status=open&bucket=overdue_mild&view=eff``.
``layout()`` does no database work; everything else comes from callbacks.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any, Mapping

import dash
import pandas as pd
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from auth.web import nav_account
from components.nav import create_nav
from components.ageing_chart import BAR_TYPE, create_ageing_chart
from components.push_views import create_push_section
from components.random_views import create_tasks_section
from components.task_layout import DEFAULT_VIEW, HIDDEN, VIEWS, create_efficiency_section, create_layout, pending
from components.task_views import (BUCKETS, SUMMARY_CARDS, ageing_summary, build_efficiency_rows, build_task_rows,
                                   create_summary_cards, create_timeline, csv_params,
                                   dept_options, excel_frame, export_name, list_note, page_href, page_query,
                                   period_text, workday_notice)
from domain.holiday_file import HolidayFileError
from domain.workdays import fallback_years
from indicators.periods import period_to_date, previous_period
from store.db import get_db
from store.engine import Engine
from domain.errors import InvalidParameter, JinjianError
from store.filters import Filter, RegionScope, check_region_code
from queries.regions import region_names, region_node
from queries.tasks import (STATUS_FILTERS, TASK_EXPORT_LIMIT, TaskQuery, ageing, departments_in, efficiency_units,
                           task_events, task_list)
from auth import audit, require, scope_root
from settings import ConfigError
from supervision.routing import valid_dept_id
from supervision.rules import TASK_TYPE_ZH, TaskRules
from pages import inputs, push

logger = logging.getLogger(__name__)

PATH = "/tasks"
dash.register_page(__name__, path=PATH, title="金监 · 任务督办", name="任务督办")

RULES_MESSAGE = "任务督办规则配置不正确（办理时限等设置），请联系系统管理员"
CALENDAR_MESSAGE = "节假日安排文件有误，请联系系统管理员"
#: What a callback shows instead of failing: the project's errors and a broken holiday file.
SHOWN_ERRORS = (JinjianError, HolidayFileError)
#: Department choices sent at a time (the rest are found by typing).
DEPT_OPTIONS = 50


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def _rules() -> TaskRules:
    try:
        return TaskRules.from_env()
    except ConfigError as exc:
        raise InvalidParameter(f"task rules: {exc}", user_message=RULES_MESSAGE) from None


def _labels() -> dict[str, str]:
    try:
        return TaskRules.from_env().bucket_labels()
    except ConfigError:
        return TaskRules().bucket_labels()


def _message(exc: Exception) -> str:
    return exc.user_message if isinstance(exc, JinjianError) else CALENDAR_MESSAGE


def _detail(exc: Exception) -> str:
    return exc.detail if isinstance(exc, JinjianError) else str(exc)


def _pick(value: str | None, allowed: Any) -> str | None:
    return value if isinstance(value, str) and value in allowed else None


def _dept_ok(value: str | None) -> str | None:
    return value if valid_dept_id(value) else None


def layout(region: str | None = None, date: str | None = None, dept: str | None = None, type: str | None = None,
           status: str | None = None, bucket: str | None = None, view: str | None = None, **_: Any) -> html.Div:
    code = (inputs.param(region) or "").strip() or _root()
    try:
        day = inputs.day(date).isoformat()
    except JinjianError:
        day = dt.date.today().isoformat()
    dept_, type_ = _dept_ok(dept), _pick(type, TASK_TYPE_ZH)
    status_, bucket_ = _pick(status, STATUS_FILTERS), _pick(bucket, BUCKETS)
    labels = _labels()
    view_ = _pick(view, dict(VIEWS)) or DEFAULT_VIEW
    query = page_query(code, day, dept=dept_, type=type_, status=status_, bucket=bucket_, view=_view_param(view_))
    return create_layout(code, day, (dept_, type_, status_, bucket_), labels,
                         nav=create_nav(PATH, nav_account()), share_href=_href(query), view=view_)


def _view_param(view: Any) -> str | None:
    """The URL's ``view`` for a chosen view (none for the task list, and for anything unknown)."""
    return view if view in dict(VIEWS) and view != DEFAULT_VIEW else None


def _shown(view: Any, mine: str) -> bool:
    """Whether the view ``mine`` is the one shown: the others compute nothing and hold only
    :func:`pending` (no old region's or day's figures when their tab is chosen again)."""
    return (view or DEFAULT_VIEW) == mine


def _href(query: dict[str, str]) -> str:
    return page_href(query, prefix=dash.get_relative_path(PATH))


# ----------------------------------------------------------------------------- helpers
def _filter(db: Engine, code: str | None) -> Filter:
    """The region's filter; unknown, malformed and out-of-jurisdiction codes raise
    (with a Chinese user message)."""
    root = _root()
    code = inputs.text(code, limit=64) or root
    scope = RegionScope(root)
    check_region_code(code)
    region_node(db, code, scope)  # exists (cached)
    return Filter(region=code, scope=scope)


def _checked(code: Any, date: Any, dept: Any, ttype: Any, status: Any, bucket: Any) -> tuple[Any, ...]:
    """The filter controls' values checked: (region text, date, dept, type, status, bucket)."""
    return (inputs.text(code, limit=64), inputs.day(date), inputs.optional_text(dept),
            inputs.choice(ttype, TASK_TYPE_ZH), inputs.choice(status, STATUS_FILTERS), inputs.choice(bucket, BUCKETS))


def _query(db: Engine, code: str, day: dt.date, dept: str | None, ttype: str | None,
           status: str | None, bucket: str | None) -> TaskQuery:
    return TaskQuery(_filter(db, code), day, dept_id=dept, task_type=ttype, status=status, bucket=bucket)


def _names(db: Engine, region: str, df: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Department names and grid names for a task list."""
    depts = departments_in(db, region)
    grids = sorted(set(df["grid_code"].astype(str))) if len(df) else []
    return dict(zip(depts["dept_id"], depts["name"])), region_names(db, grids)


def _notice(day: dt.date) -> str:
    try:
        years = fallback_years(dt.date(day.year, 1, 1), dt.date(day.year + 1, 12, 31))
    except (OSError, HolidayFileError) as exc:  # a broken holiday file: say so instead of failing the page
        logger.warning("working-day calendar: %s", exc)
        return f"注意：{CALENDAR_MESSAGE}"
    return workday_notice(years)


# ----------------------------------------------------------------------------- callbacks
@callback(
    Output("tasks-region-name", "children"), Output("tasks-region-name", "className"), Output("tasks-dept", "value"),
    Input("tasks-region", "value"), State("tasks-dept", "value"),
)
def update_region(code: str | None, dept: str | None) -> tuple[Any, ...]:
    """The region's name (a department outside the region is cleared)."""
    try:
        dept = inputs.optional_text(dept)
        db = get_db()
        flt = _filter(db, code)
        node = region_node(db, flt.region, flt.scope)
        ids = set(departments_in(db, flt.region)["dept_id"].astype(str))
    except JinjianError as exc:
        logger.info("tasks region %r: %s", code, exc.detail)
        return exc.user_message, "region-name tasks-region-name tasks-region-error", no_update
    root = _root()
    names = node.path.loc[node.path["code"].str.startswith(root) & (node.path["code"] != ""), "name"]
    path = " › ".join(names) or node.name
    keep = dept if dept in ids else None
    return path, "region-name tasks-region-name", (no_update if keep == dept else keep)


@callback(Output("tasks-dept", "options"), Input("tasks-region", "value"), Input("tasks-dept", "search_value"),
          State("tasks-dept", "value"))
def dept_choices(code: str | None, search: str | None, dept: str | None) -> Any:
    """The departments of the region matching what is typed (the first 50, and the chosen one)."""
    try:
        search, dept = inputs.text(search, limit=64) or None, inputs.optional_text(dept)
        db = get_db()
        depts = departments_in(db, _filter(db, code).region)
    except JinjianError as exc:
        logger.info("tasks departments %r: %s", code, exc.detail)
        return no_update
    return dept_options(depts, search, dept, DEPT_OPTIONS)


@callback(
    [Output(cid, "children") for cid, _, _ in SUMMARY_CARDS],
    Output("tasks-ageing", "children"), Output("tasks-grid", "rowData"), Output("tasks-grid", "csvExportParams"),
    Output("tasks-table-note", "children"), Output("tasks-banner", "children"), Output("tasks-banner", "className"),
    Output("tasks-share", "href"), Output("tasks-workday-note", "children"), Output("tasks-workday-note", "className"),
    Input("tasks-region", "value"), Input("tasks-date", "date"), Input("tasks-dept", "value"),
    Input("tasks-type", "value"), Input("tasks-status", "value"), Input("tasks-bucket", "value"),
    State("tasks-view", "value"),
)
def refresh(code: str | None, date: str | None, dept: str | None, ttype: str | None, status: str | None,
            bucket: str | None, view: str | None = None) -> tuple[Any, ...]:
    """Cards, ageing chart and task list for the filters (cards and chart ignore
    the bucket filter: they are the breakdown by bucket)."""
    href: Any = no_update  # a share link only for values that passed the checks
    try:
        args = _checked(code, date, dept, ttype, status, bucket)
        href = _href(page_query(args[0], args[1].isoformat(), dept=args[2], type=args[3], status=args[4],
                                bucket=args[5], view=_view_param(view)))
        db, rules = get_db(), _rules()
        q = _query(db, *args)
        frame = ageing(db, dataclasses.replace(q, bucket=None), rules)
        df, total = task_list(db, q, rules)
        dept_names, grid_names = _names(db, q.flt.region, df)
    except SHOWN_ERRORS as exc:
        logger.warning("tasks page refresh failed: %s", _detail(exc))
        return (no_update,) * (len(SUMMARY_CARDS) + 4) + (_message(exc), "banner", href, no_update, no_update)
    labels = rules.bucket_labels()
    summary = ageing_summary(frame)
    cards = [c.children for c in create_summary_cards(summary, labels)]
    rows = build_task_rows(df, labels, dept_names, grid_names)
    notice = _notice(q.asof)
    return (*cards, create_ageing_chart(frame, labels, args[5]), rows,
            csv_params(export_name(q.flt.region, q.asof.isoformat(), "csv")), list_note(len(rows), total),
            "", f"banner {HIDDEN}", href, notice, "tasks-notice" if notice else f"tasks-notice {HIDDEN}")


@callback(
    Output("tasks-pane-eff", "children"),
    Input("tasks-region", "value"), Input("tasks-date", "date"), Input("tasks-view", "value"),
)
def show_efficiency(code: str | None, date: str | None, view: str | None) -> html.Div | html.Section:
    """The 效能监察 view, built when it is shown."""
    if not _shown(view, "eff"):
        return pending()
    town, dept, period, note = refresh_efficiency(code, date)
    return create_efficiency_section(_or(town), _or(dept), _or(period, ""), note)


def _or(value: Any, empty: Any = None) -> Any:
    """A part of a view that its data function left unchanged (no_update) when it failed."""
    return empty if value is no_update else value


def refresh_efficiency(code: str | None, date: str | None) -> tuple[Any, ...]:
    """效能监察 per town and per department: month to date and the previous month's same stretch."""
    try:
        db, rules = get_db(), _rules()
        flt = _filter(db, code)
        period = period_to_date(inputs.day(date), "month")
        prev = previous_period(period, "month")
        now, before = efficiency_units(db, flt, period, rules), efficiency_units(db, flt, prev, rules)
        out = {unit: (now[unit], before[unit]) for unit in ("town", "dept")}  # each source read once per period
        towns = region_names(db, sorted(set(out["town"][0]["unit"].astype(str))))
        depts = departments_in(db, flt.region)
    except SHOWN_ERRORS as exc:
        logger.warning("tasks efficiency failed: %s", _detail(exc))
        return no_update, no_update, no_update, _message(exc)
    dept_names = dict(zip(depts["dept_id"], depts["name"]))
    return (build_efficiency_rows(*out["town"], towns), build_efficiency_rows(*out["dept"], dept_names),
            period_text((period.start, period.end), (prev.start, prev.end)), "")


@callback(Output("tasks-pane-random", "children"),
          Input("tasks-region", "value"), Input("tasks-date", "date"), Input("tasks-view", "value"))
def show_random(code: str | None, date: str | None, view: str | None) -> html.Div | html.Section:
    """双随机抽查 (completion, overdue firms, the problem rate by credit-risk class), 涉企检查 and
    联合惩戒 (pages/random.py), built when the view is shown."""
    from pages.random import tasks_random

    if not _shown(view, "random"):
        return pending()
    cards, figure, note, joint = tasks_random(code, date)
    return create_tasks_section(_or(cards), _or(figure), note, _or(joint, ""))


@callback(Output("tasks-pane-push", "children"),
          Input("tasks-region", "value"), Input("tasks-date", "date"), Input("tasks-view", "value"))
def show_push(code: str | None, date: str | None, view: str | None) -> html.Div | html.Section:
    """推送时效 per child region, month to date (pages/push.py), built when the view is shown."""
    if not _shown(view, "push"):
        return pending()
    rows, note = push.tasks_push(code, date)
    return create_push_section("tasks", "下级区划", rows=_or(rows), note=note)


# The chosen view is shown at once in the browser, and the share link follows it; the view's own
# callback (above) fills it on the server.
clientside_callback(
    """function(view, href) {
        const out = %s.map(v => v === view ? 'tasks-pane' : 'tasks-pane hidden');
        if (!href) { return [...out, window.dash_clientside.no_update]; }
        const u = new URL(href, window.location.origin);
        if (view && view !== '%s') { u.searchParams.set('view', view); } else { u.searchParams.delete('view'); }
        return [...out, u.pathname + u.search];
    }""" % (json.dumps([v for v, _ in VIEWS]), DEFAULT_VIEW),
    [Output(f"tasks-pane-{v}", "className") for v, _ in VIEWS], Output("tasks-share", "href", allow_duplicate=True),
    Input("tasks-view", "value"), State("tasks-share", "href"), prevent_initial_call=True,
)


@callback(
    Output("tasks-timeline", "children"),
    Input("tasks-grid", "selectedRows"), State("tasks-region", "value"),
)
def show_timeline(selected: list[dict[str, Any]] | None, code: str | None) -> list[Any]:
    """The selected task's events (the head from the row's text fields)."""
    try:
        row = inputs.first_row(selected)
        if not row:
            return create_timeline(None, None)
        task = {k: inputs.field(row, k) for k in ("task_id", "type_zh", "bucket", "bucket_label", "detail")}
        db = get_db()
        flt = _filter(db, code)
        events = task_events(db, flt, task["task_id"])
        depts = departments_in(db, flt.region)
    except JinjianError as exc:
        logger.warning("task timeline failed: %s", exc.detail)
        return [html.P(exc.user_message, className="tasks-timeline-hint tasks-error")]
    return create_timeline(task, events, dict(zip(depts["dept_id"], depts["name"])))


@callback(
    Output("tasks-download", "data"), Output("tasks-export-note", "children"),
    Input("tasks-export-xlsx", "n_clicks"),
    State("tasks-region", "value"), State("tasks-date", "date"), State("tasks-dept", "value"),
    State("tasks-type", "value"), State("tasks-status", "value"), State("tasks-bucket", "value"),
    prevent_initial_call=True,
)
def export_excel(_n: int | None, code: str | None, date: str | None, dept: str | None, ttype: str | None,
                 status: str | None, bucket: str | None) -> tuple[Any, str]:
    """The whole filtered task list (up to TASK_EXPORT_LIMIT rows) as an .xlsx file."""
    require("export")
    try:
        db, rules = get_db(), _rules()
        q = _query(db, *_checked(code, date, dept, ttype, status, bucket))
        df, total = task_list(db, q, rules, limit=TASK_EXPORT_LIMIT)
        dept_names, grid_names = _names(db, q.flt.region, df)
    except SHOWN_ERRORS as exc:
        logger.warning("tasks excel export failed: %s", _detail(exc))
        return no_update, _message(exc)
    frame = excel_frame(build_task_rows(df, rules.bucket_labels(), dept_names, grid_names))
    try:
        data = _xlsx(frame)
    except ImportError:
        logger.error("Excel export needs openpyxl")
        return no_update, "导出 Excel 需要安装 openpyxl"
    note = "" if total <= len(frame) else f"已导出前 {len(frame):,} 件（共 {total:,} 件）"
    name = export_name(q.flt.region, q.asof.isoformat(), "xlsx")
    logger.info("tasks excel export %s rows=%d", name, len(frame))
    audit.record("export_xlsx", target=f"{name} ({len(frame)} rows)", region=q.flt.region)
    return dcc.send_bytes(data, name), note


def _xlsx(frame: pd.DataFrame) -> bytes:
    from reports.excel import workbook_bytes

    return workbook_bytes({"任务督办": frame})  # strings as text, never formulas


@callback(Output("tasks-grid", "exportDataAsCsv"), Input("tasks-export-csv", "n_clicks"),
          State("tasks-grid", "csvExportParams"), State("tasks-region", "value"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def export_csv(_n: int | None, params: dict | None, code: str | None) -> bool:
    """The browser writes the CSV of the rows shown; the server checks and audits it."""
    audit.exported("export_csv", inputs.export_name(params), inputs.text(code, limit=64) or _root())
    return True


@callback(
    Output("tasks-bucket", "value"),
    Input({"type": BAR_TYPE, "bucket": ALL}, "n_clicks"), State("tasks-bucket", "value"),
    prevent_initial_call=True,
)
@inputs.keep_on_bad_input
def pick_bucket(clicks: Any, current: str | None) -> Any:
    """A click on a column filters the list by its bucket (a second click clears it)."""
    trigger = ctx.triggered[0] if ctx.triggered else {}
    return bucket_after(ctx.triggered_id, trigger.get("value"), current)


def bucket_after(bar: Any, clicks: Any, current: Any) -> Any:
    """The bucket filter after a click on the column ``bar`` (its pattern-matching id)."""
    bucket, current = bar.get("bucket") if isinstance(bar, Mapping) else None, inputs.choice(current, BUCKETS)
    if not isinstance(bucket, str) or bucket not in BUCKETS or not isinstance(clicks, int) or clicks < 1:
        return no_update  # a column redrawn (n_clicks back to 0) is no click
    return None if bucket == current else bucket
