"""报告归档: generated reports to download, failures with their error text, the
schedules (from JINJIAN_REPORT_SCHEDULES and added here) and a form to generate a
report now.

``/reports`` — ``layout()`` reads nothing; the lists come from callbacks (and
refresh every 30 s). Files are served by ``/reports/file/<run id>.pdf|xlsx``
(``reports.web``): the run id selects a recorded path inside the archive
directory, so no request can name another file.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from auth import audit, require, scope_root
from auth.current import current_scope
from auth.web import nav_account
from components.nav import create_nav
from domain.errors import JinjianError
from pages import inputs
from reports import web
from reports.config import ReportSettings, ScheduleSpec, parse_time
from queries.report_periods import KINDS, last_complete
from settings import ConfigError

logger = logging.getLogger(__name__)

PATH = "/reports"
dash.register_page(__name__, path=PATH, title="金监 · 报告归档", name="报告归档")

KIND_ZH = {k: zh for k, (_, zh, _) in KINDS.items()}
STATUS_ZH = {"ok": "成功", "failed": "失败", "running": "生成中"}
TRIGGER_ZH = {"schedule": "定时", "page": "手动", "cli": "命令行"}


def layout(**_: Any) -> html.Div:
    root = scope_root()
    day = last_complete("weekly", dt.date.today()).start.isoformat()
    kinds = [{"label": zh, "value": k} for k, zh in KIND_ZH.items()]
    return html.Div(className="page reports-page", children=[
        create_nav(PATH, nav_account()),
        html.Header(html.H1("定期报告 · 归档"), className="page-header"),
        html.Section(className="reports-section", children=[
            html.H2("立即生成"),
            html.Div(className="reports-form", children=[
                _control("区划代码", dcc.Input(id="reports-region", value=root, type="text", className="report-input")),
                _control("报告类型", dcc.RadioItems(id="reports-kind", options=kinds, value="weekly", inline=True,
                                                className="report-kind")),
                _control("报告期内任一日", dcc.Input(id="reports-date", value=day, type="text",
                                                placeholder="年-月-日，如 2026-11-16", className="report-input")),
                html.Button("生成并归档", id="reports-generate", n_clicks=0, className="report-button"),
                dcc.Link("在线查看", id="reports-view", href="/report", className="report-button"),
                dcc.Loading(html.Span(id="reports-message", className="reports-message"), type="dot"),
            ]),
        ]),
        html.Section(className="reports-section", children=[
            html.H2("生成记录"),
            html.P("定时任务和手动生成的报告；失败的记录列出原因（同时写入日志）。", className="reports-note"),
            html.Div(id="reports-runs"),
        ]),
        html.Section(className="reports-section", children=[
            html.H2("定时任务"),
            html.P("每天到达设定时间后，生成最近一个完整报告期的报告（例如周报：上周一至周日），每期只生成一次。"
                   "系统配置中的任务由系统管理员维护，此处可停用；此处添加的任务可随时修改。", className="reports-note"),
            html.Div(id="reports-schedules"),
            html.Div(className="reports-form", children=[
                _control("报告类型", dcc.RadioItems(id="reports-sched-kind", options=kinds, value="weekly",
                                                inline=True, className="report-kind")),
                _control("区划代码", dcc.Input(id="reports-sched-region", value=root, type="text",
                                           className="report-input")),
                _control("每天时间", dcc.Input(id="reports-sched-time", value="08:00", type="text",
                                           className="report-input")),
                html.Button("添加定时任务", id="reports-sched-add", n_clicks=0, className="report-button"),
                _control("任务编号", dcc.Input(id="reports-sched-id", type="text", className="report-input",
                                           placeholder="如 1")),
                html.Button("停用", id="reports-sched-off", n_clicks=0, className="report-button"),
                html.Button("启用", id="reports-sched-on", n_clicks=0, className="report-button"),
                html.Span(id="reports-sched-message", className="reports-message"),
            ]),
        ]),
        dcc.Interval(id="reports-tick", interval=30_000),
        dcc.Store(id="reports-changed", data=0),
    ])


def _control(label: str, component: Any) -> html.Label:
    return html.Label([html.Span(label, className="report-control-label"), component], className="report-control")


def _store() -> Any:
    from reports.store import ReportStore

    return ReportStore(ReportSettings.from_env().metadata_url)


def runs_table(rows: list[dict[str, Any]]) -> html.Table | html.P:
    if not rows:
        return html.P("暂无报告。", className="reports-note")
    head = html.Thead(html.Tr([html.Th(h) for h in ("编号", "开始时间", "方式", "类型", "区域", "报告期", "状态",
                                                     "用时(秒)", "下载 / 原因")]))
    body = []
    for r in rows:
        if r["status"] == "ok":
            last: Any = [html.A("PDF", href=web.file_href(r["id"], "pdf"), className="reports-pdf"), " · ",
                         html.A("Excel", href=web.file_href(r["id"], "xlsx"), className="reports-xlsx")]
        else:
            last = html.Span(r.get("error") or "", className="reports-error")
        body.append(html.Tr(className=f"reports-{r['status']}", children=[
            html.Td(r["id"]), html.Td(f"{r['started_at']:%Y-%m-%d %H:%M}"),
            html.Td(TRIGGER_ZH.get(r["trigger"], r["trigger"])), html.Td(KIND_ZH.get(r["kind"], r["kind"])),
            html.Td(f"{r.get('region_name') or ''}（{r['region']}）"), html.Td(r.get("period_label") or r["period_key"]),
            html.Td(STATUS_ZH.get(r["status"], r["status"])), html.Td(r.get("seconds") or ""), html.Td(last)]))
    return html.Table([head, html.Tbody(body)], className="reports-table", id="reports-runs-table")


def schedules_table(items: list[Any]) -> html.Table | html.P:
    if not items:
        return html.P("暂无定时任务。", className="reports-note")
    head = html.Thead(html.Tr([html.Th(h) for h in ("编号", "类型", "区划代码", "每天时间", "状态", "来源")]))
    return html.Table([head, html.Tbody([html.Tr([
        html.Td(s.id), html.Td(KIND_ZH.get(s.kind, s.kind)), html.Td(s.region), html.Td(s.time_of_day),
        html.Td("启用" if s.enabled else "停用"), html.Td("配置" if s.origin == "setting" else "页面")])
        for s in items])], className="reports-table", id="reports-schedules-table")


@callback(
    Output("reports-runs", "children"), Output("reports-schedules", "children"),
    Input("reports-tick", "n_intervals"), Input("reports-changed", "data"),
)
def refresh(_tick: int | None, _changed: int | None) -> tuple[Any, Any]:
    try:
        rs = ReportSettings.from_env()
        store = _store()
        store.sync_settings(rs.schedules)
        scope = scope_root()  # the user's own regions only
        return (runs_table(store.list_runs(scope=scope)),
                schedules_table([s for s in store.list_schedules() if s.region.startswith(scope)]))
    except (JinjianError, ConfigError) as exc:
        message = getattr(exc, "user_message", str(exc))
        logger.warning("reports archive: %s", getattr(exc, "detail", exc))
        return html.P(message, className="reports-error"), no_update


@callback(
    Output("reports-view", "href"),
    Input("reports-region", "value"), Input("reports-kind", "value"), Input("reports-date", "value"),
)
@inputs.keep_on_bad_input
def view_link(region: str | None, kind: str | None, day: str | None) -> str:
    from pages.report import report_href

    return report_href(inputs.text(region, limit=64), inputs.choice(kind, KINDS, "weekly"), inputs.text(day, limit=40))


@callback(
    Output("reports-message", "children"), Output("reports-changed", "data", allow_duplicate=True),
    Input("reports-generate", "n_clicks"),
    State("reports-region", "value"), State("reports-kind", "value"), State("reports-date", "value"),
    State("reports-changed", "data"),
    prevent_initial_call=True,
)
def generate_now(_n: int | None, region: str | None, kind: str | None, day: str | None,
                 changed: int | None) -> tuple[str, Any]:
    """Make the PDF and Excel now and file them (the list shows the outcome)."""
    from flask import current_app

    from reports.build import generate

    changed = inputs.counter(changed)
    try:
        require("export")
        region, kind, day = inputs.text(region, limit=64), inputs.text(kind, limit=64), inputs.text(day, limit=40)
        run = generate(current_app._get_current_object(), region, kind, day,  # type: ignore[attr-defined]
                       "page", store=_store())
    except (JinjianError, ConfigError) as exc:
        return getattr(exc, "user_message", str(exc)), no_update
    audit.record("report_generate", ok=run is None or run["status"] == "ok", target=f"{kind} {day}", region=region)
    if run is None:
        return "该报告已生成", changed + 1
    if run["status"] != "ok":
        return f"生成失败：{run.get('error') or ''}", changed + 1
    return f"已生成：{run.get('region_name')} {KIND_ZH[run['kind']]} {run.get('period_label')}", changed + 1


@callback(
    Output("reports-sched-message", "children"), Output("reports-changed", "data", allow_duplicate=True),
    Input("reports-sched-add", "n_clicks"), Input("reports-sched-off", "n_clicks"), Input("reports-sched-on", "n_clicks"),
    State("reports-sched-kind", "value"), State("reports-sched-region", "value"), State("reports-sched-time", "value"),
    State("reports-sched-id", "value"), State("reports-changed", "data"),
    prevent_initial_call=True,
)
def edit_schedules(_add: int | None, _off: int | None, _on: int | None, kind: str | None, region: str | None,
                   time_of_day: str | None, sched_id: str | None, changed: int | None) -> tuple[str, Any]:
    which, changed = dash.ctx.triggered_id, inputs.counter(changed)
    try:
        require("export")
        store = _store()
        if which == "reports-sched-add":
            from store.db import get_db
            from reports.build import check_request

            code, kind = inputs.text(region, limit=64), inputs.choice(kind, KINDS, "weekly")
            spec = ScheduleSpec(kind, code, parse_time(inputs.text(time_of_day, limit=40), "时间"))
            check_request(get_db(), code, spec.kind, last_complete(spec.kind, dt.date.today()).start,
                          current_scope())
            new_id = store.add_schedule(spec)
            return f"已添加定时任务 {new_id}：{spec}", changed + 1
        try:
            sid = inputs.integer(sched_id, lo=1)
        except inputs.BadInput:
            sid = None
        if sid is None:
            return "请填写任务编号（数字）", no_update
        target = next((s for s in store.list_schedules() if s.id == sid), None)
        if target is None:
            return f"未找到定时任务 {sid}", no_update
        current_scope().check(target.region)  # another region's schedule: 403 + audit
        store.set_enabled(sid, which == "reports-sched-on")
        return f"任务 {sid} 已{'启用' if which == 'reports-sched-on' else '停用'}", changed + 1
    except ConfigError as exc:
        return f"时间格式不正确（HH:MM）：{exc}", no_update
    except JinjianError as exc:
        return exc.user_message, no_update
