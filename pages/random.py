"""双随机抽查: random inspections by credit-risk class (双随机一公开, docs/double_random.md).

A supervisor (监管人员, permission ``inspect``) draws a plan — department, region, period and
the pool's filters; the firms are drawn by class ratio (``JINJIAN_RANDOM_RATIOS``) and two
inspectors each from the department's roster — then enters each firm's result. Everyone who
may view sees the plans of their scope, the seed and pool fingerprint that make a draw
checkable, the figures (completion, overdue, problem rate by credit-risk class) and may, with
``export``, download the publication list (公示). ``layout()`` does no database work.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from auth import audit, can, require, scope_root
from auth.current import PermissionDenied
from auth.web import nav_account
from components import random_views as rv
from components.nav import create_nav
from domain.codes import RANDOM_RESULTS
from domain.errors import JinjianError, ScopeViolation
from domain.sources import INDUSTRY_SECTIONS
from etl.random_checks import PlanSpec, draw_plan, record_result
from pages import inputs
from queries import random_checks as q
from queries.discipline import flagged, spared_codes
from queries.joint import figures as joint_figures
from queries.regions import region_names
from store.db import get_db
from settings import ConfigError
from store.filters import Filter, RegionScope
from supervision.discipline import InspectionRules

logger = logging.getLogger(__name__)

PATH = "/random"
dash.register_page(__name__, path=PATH, title="金监 · 双随机抽查", name="双随机抽查")

HIDDEN = "hidden"
REFRESH_MS = 60_000


def layout(**_: Any) -> html.Div:
    today = dt.date.today()
    may_draw = can("inspect")
    return html.Div(className="page random-page", children=[
        create_nav(PATH, nav_account()),
        html.Header(className="page-header random-header", children=[
            html.H1("双随机抽查"), html.Span(id="random-updated", className="updated random-updated")]),
        html.Div(id="random-banner", className=f"banner {HIDDEN}", role="alert"),
        html.Div(rv.create_cards(None), id="random-cards", className="card-row random-cards"),
        html.Div(className="random-body", children=[
            html.Section(className="panel random-classes-panel", children=[
                html.H2("按信用风险分类的问题发现率"),
                dcc.Graph(id="random-classes", figure=rv.create_class_figure(None),
                          config={"displayModeBar": False, "displaylogo": False}, className="random-graph")]),
            html.Section(className="panel random-form-panel", children=[
                html.H2("新建抽查计划"),
                # Always in the layout (callbacks are validated against it), shown to ``inspect`` only.
                html.Div(rv.create_draw_form(today, scope_root()), className="" if may_draw else HIDDEN),
                html.P("制定抽查计划、抽取检查对象须由监管人员办理", className=HIDDEN if may_draw else "random-hint")]),
        ]),
        html.Section(className="panel random-plans-panel", children=[
            html.H2("抽查计划"), rv.create_plans_grid()]),
        html.Section(className="panel random-items-panel", children=[
            html.Div(className="random-panel-head", children=[
                html.H2("检查对象与结果"),
                html.Button("下载公示名单", id="random-publish", n_clicks=0, className="btn random-publish"),
                html.Button("公示 PDF", id="random-publish-pdf", n_clicks=0, className="btn random-publish-pdf"),
                html.Span(id="random-publish-msg", className="random-hint", role="status")]),
            html.Div(rv.plan_info(None, ""), id="random-plan-info", className="random-plan-info"),
            rv.create_items_grid(),
            html.Div(rv.create_result_form(), className="" if may_draw else HIDDEN),
        ]),
        rv.create_discipline_section(),
        dcc.Store(id="random-plan"), dcc.Store(id="random-version", data=0),
        dcc.Download(id="random-download"),
        dcc.Interval(id="random-interval", interval=REFRESH_MS),
    ])


def _scope() -> RegionScope:
    return RegionScope(scope_root())


@callback(
    Output("random-cards", "children"), Output("random-classes", "figure"), Output("random-plans", "rowData"),
    Output("random-updated", "children"), Output("random-banner", "children"), Output("random-banner", "className"),
    Input("random-interval", "n_intervals"), Input("random-version", "data"),
)
def refresh(_n: int | None, _version: int | None) -> tuple[Any, ...]:
    """Figures of the viewer's scope as of now, and the plans they see."""
    now = dt.datetime.now().replace(microsecond=0)
    try:
        db, scope = get_db(), _scope()
        figs = q.figures(db, scope.prefix, now.date())
        rates = q.class_rates(db, scope.prefix, now.date())
        plans = q.plans(db, scope)
        names = region_names(db, sorted(set(plans["region_code"].astype(str))))
    except JinjianError as exc:
        logger.warning("random page refresh failed: %s", exc.detail)
        return (*(no_update,) * 4, exc.user_message, "banner")
    return (rv.create_cards(figs), rv.create_class_figure(rates), rv.build_plan_rows(plans, names),
            f"数据截至 {now:%Y-%m-%d %H:%M}", "", f"banner {HIDDEN}")


@callback(Output("random-flags", "rowData"), Output("random-discipline-note", "children"),
          Input("random-interval", "n_intervals"), Input("random-version", "data"))
def refresh_discipline(_n: int | None, _version: int | None) -> tuple[Any, str]:
    """涉企检查 of the viewer's scope today: flagged firms and the 无事不扰 list's size."""
    try:
        rules = InspectionRules.from_env()
    except ConfigError as exc:
        logger.warning("inspection rules: %s", exc)
        return no_update, "涉企检查规则配置不正确，请联系系统管理员"
    try:
        db, scope, today = get_db(), _scope(), dt.date.today()
        flags = flagged(db, scope.prefix, today, rules)
        spared = spared_codes(db, scope.prefix, today, rules)
    except JinjianError as exc:
        logger.warning("discipline figures failed: %s", exc.detail)
        return no_update, exc.user_message
    return rv.build_flag_rows(flags), rv.discipline_note(flags, len(spared), rules.window_days, rules.max_per_year)


def tasks_random(code: Any, date: Any) -> tuple[Any, Any, str, str]:
    """双随机抽查 on /tasks: the cards and the class chart of the region on the chosen day,
    涉企检查 in the note (多头检查, 频繁检查, 无事不扰), and 联合惩戒's figures in a second note."""
    try:
        flt = Filter(region=inputs.region(code) or scope_root(), scope=_scope())
        day = inputs.day(date)
        try:
            rules = InspectionRules.from_env()
        except ConfigError as exc:
            raise JinjianError(f"inspection rules: {exc}", user_message="涉企检查规则配置不正确，请联系系统管理员") from None
        db = get_db()
        figs, rates = q.figures(db, flt.region, day), q.class_rates(db, flt.region, day)
        flags, spared = flagged(db, flt.region, day, rules), spared_codes(db, flt.region, day, rules)
        joint = joint_figures(db, flt.region, day)
    except JinjianError as exc:
        logger.warning("tasks random figures failed: %s", exc.detail)
        return no_update, no_update, exc.user_message, no_update
    note = f"截至 {day:%Y-%m-%d}，已抽取 {figs['drawn']:,} 户" if figs["drawn"] else "本区域尚无双随机抽查计划"
    note += "；" + rv.discipline_note(flags, len(spared), rules.window_days, rules.max_per_year)
    return rv.create_cards(figs, "tasks-random"), rv.create_class_figure(rates), note, rv.joint_note(joint)


@callback(Output("random-dept", "options"), Input("random-version", "data"))
def dept_options(_version: int | None) -> list[dict[str, str]]:
    """The departments that may draw in the viewer's scope."""
    try:
        depts = q.departments_for(get_db(), _scope())
    except JinjianError as exc:
        logger.warning("random departments failed: %s", exc.detail)
        return []
    return [{"label": n, "value": d} for d, n in zip(depts["dept_id"], depts["name"])]


@callback(Output("random-plan", "data"), Input("random-plans", "selectedRows"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def pick_plan(rows: Any) -> Any:
    row = inputs.first_row(rows)
    return inputs.text(row.get("plan_id"), limit=40) if row else no_update


@callback(
    Output("random-plan-info", "children"), Output("random-items", "rowData"),
    Input("random-plan", "data"), Input("random-version", "data"),
)
@inputs.keep_on_bad_input
def show_plan(plan_id: Any, _version: int | None) -> tuple[Any, Any]:
    """The chosen plan: how it was drawn, and its firms inside the viewer's scope."""
    plan_id = inputs.text(plan_id, limit=40)
    if not plan_id:
        return rv.plan_info(None, ""), []
    try:
        db, scope = get_db(), _scope()
        plan = q.plan(db, plan_id, scope)
        if plan is None:
            return [html.Span("未找到该抽查计划", className="random-hint")], []
        items = q.items(db, plan_id, scope)
        name = region_names(db, [str(plan["region_code"])]).get(str(plan["region_code"]), plan["region_code"])
    except JinjianError as exc:
        logger.warning("random plan %s failed: %s", plan_id, exc.detail)
        return [html.Span(exc.user_message, className="random-hint")], no_update
    return rv.plan_info(plan, name), rv.build_item_rows(items)


@callback(
    Output("random-draw-msg", "children"), Output("random-version", "data", allow_duplicate=True),
    Output("random-plan", "data", allow_duplicate=True),
    Input("random-draw", "n_clicks"),
    State("random-name", "value"), State("random-dept", "value"), State("random-region", "value"),
    State("random-dates", "start_date"), State("random-dates", "end_date"), State("random-industries", "value"),
    State("random-types", "value"), State("random-listed", "value"), State("random-version", "data"),
    prevent_initial_call=True,
)
@inputs.keep_on_bad_input
def draw(_n: int | None, name: Any, dept: Any, region: Any, start: Any, end: Any, industries: Any, types: Any,
         listed: Any, version: Any) -> tuple[Any, Any, Any]:
    """Draw a plan now (permission ``inspect``; audited ``random_draw`` with its seed and
    fingerprint). A refused plan says why; a region outside the scope is refused (403)."""
    p = require("inspect")
    spec = PlanSpec(inputs.text(name, limit=60), inputs.text(dept, limit=32), inputs.region(region),
                    inputs.day(start), inputs.day(end),
                    tuple(s for s in inputs.texts(industries) if s in INDUSTRY_SECTIONS) if industries else (),
                    tuple(inputs.texts(types)) if types else (), inputs.choice(listed, q.LISTED, "all") or "all")
    try:
        plan_id = draw_plan(get_db(), spec, _scope(), by=p.display_name or p.name)
    except (PermissionDenied, ScopeViolation):
        raise  # 403 with its audit entry
    except JinjianError as exc:
        return exc.user_message, no_update, no_update
    plan = q.plan(get_db(), plan_id, _scope()) or {}
    audit.record("random_draw", target=plan_id, region=spec.region,
                 detail=f"seed={plan.get('seed')} fingerprint={plan.get('fingerprint')} drawn={plan.get('drawn')}")
    return f"已抽取 {plan.get('drawn', 0)} 户（计划编号 {plan_id}）", inputs.counter(version) + 1, plan_id


@callback(
    Output("random-result-msg", "children"), Output("random-version", "data", allow_duplicate=True),
    Input("random-save", "n_clicks"),
    State("random-plan", "data"), State("random-items", "selectedRows"), State("random-result", "value"),
    State("random-note", "value"), State("random-version", "data"),
    prevent_initial_call=True,
)
@inputs.keep_on_bad_input
def save_result(_n: int | None, plan_id: Any, rows: Any, result: Any, note: Any, version: Any) -> tuple[Any, Any]:
    """Enter the chosen firm's result (permission ``inspect``; audited ``random_result``)."""
    p = require("inspect")
    row = inputs.first_row(rows)
    if not row:
        return "请先在表中选择一户检查对象", no_update
    code, plan_id = inputs.text(row.get("credit_code"), limit=18), inputs.text(plan_id, limit=40)
    try:
        record_result(get_db(), plan_id, code, inputs.choice(result, RANDOM_RESULTS) or "", _scope(),
                      by=p.display_name or p.name,
                      note=inputs.text(note, limit=400))
    except (PermissionDenied, ScopeViolation):
        raise
    except JinjianError as exc:
        return exc.user_message, no_update
    audit.record("random_result", target=f"{plan_id}/{code}", detail=str(result))
    return f"已保存：{row.get('entity_name') or code}", inputs.counter(version) + 1


@callback(Output("random-download", "data"), Output("random-publish-msg", "children"),
          Input("random-publish", "n_clicks"), Input("random-publish-pdf", "n_clicks"),
          State("random-plan", "data"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def publish(_csv: int | None, _pdf: int | None, plan_id: Any) -> tuple[Any, str]:
    """The publication list (抽查结果公示) of the chosen plan inside the viewer's scope, as CSV or
    PDF (permission ``export``; audited ``export_csv`` / ``export_pdf``)."""
    pdf = dash.ctx.triggered_id == "random-publish-pdf"
    plan_id = inputs.text(plan_id, limit=40)
    if not plan_id:
        return no_update, "请先在上表中选择一个抽查计划"
    try:
        db, scope = get_db(), _scope()
        plan = q.plan(db, plan_id, scope)
        if plan is None:
            return no_update, "未找到该抽查计划"
        audit.exported("export_pdf" if pdf else "export_csv", target=f"公示 {plan_id}", region=scope.prefix)
        items = q.items(db, plan_id, scope)
        if not pdf:
            return dcc.send_bytes(rv.publication_csv(plan, items), f"抽查结果公示-{plan_id}.csv"), ""
        from reports.pdf import PdfOptions, shared_renderer
        from reports.web import CSS_PATH

        region = str(plan["region_code"])
        name = region_names(db, [region]).get(region, region)
        document = rv.publication_html(plan, items, name, CSS_PATH.read_text(encoding="utf-8"))
        data = shared_renderer().render_html(document, PdfOptions(header_left=f"金监 · {plan['dept_name']}",
                                                                  header_right="双随机抽查结果公示"))
    except (PermissionDenied, ScopeViolation):
        raise
    except JinjianError as exc:
        logger.warning("publication of %s failed: %s", plan_id, exc.detail)
        return no_update, exc.user_message
    return dcc.send_bytes(data, f"抽查结果公示-{plan_id}.pdf"), ""


__all__ = ["PATH", "layout"]
