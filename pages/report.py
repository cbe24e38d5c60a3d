"""定期报告: one periodic report (日报/周报/月报/季报) of a region, printable.

URL (shareable, also what the PDF renderer loads):
``/report?region=4419&period=weekly&date=2026-11-16`` — ``period`` is daily,
weekly (the ISO week containing the date), monthly or quarterly; defaults are the
deployment's root region and the last complete week.

``layout()`` does no database work. One callback builds the report
(``queries.report_data.build_report``) and renders it (``components.report_views``);
then a clientside callback sets ``#report-ready[data-ready="1"]`` only when every
chart (inline SVG) and table is in the DOM and the fonts are loaded — the marker
the PDF renderer waits for (``data-ready="error"`` when the report failed).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from auth.web import nav_account
from components.nav import create_nav
from components.report_views import N_CHARTS, N_TABLES, create_report, file_stem, report_tables
from store.db import get_db
from domain.errors import JinjianError
from store.filters import RegionScope
from queries.report_data import cached_report
from queries.report_periods import KINDS, last_complete
from auth import audit, require, scope_root
from pages import inputs
from settings import ConfigError

logger = logging.getLogger(__name__)

PATH = "/report"
NAV_PATH = "/reports"
dash.register_page(__name__, path=PATH, title="金监 · 定期报告", name="定期报告")

KIND_OPTIONS = [{"label": f"{zh}", "value": k} for k, (_, zh, _) in KINDS.items()]


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def report_href(region: str, kind: str, day: str) -> str:
    return dash.get_relative_path(PATH) + "?" + urlencode({"region": region, "period": kind, "date": day})


def layout(region: str | None = None, period: str | None = None, date: str | None = None, **_: Any) -> html.Div:
    root = _root()
    region, period, date = inputs.param(region), inputs.param(period), inputs.param(date)
    kind = period if period in KINDS else "weekly"
    day = (date or "").strip() or last_complete(kind, dt.date.today()).start.isoformat()
    code = (region or "").strip() or root
    params = {"region": code, "period": period or kind, "date": day}
    return html.Div(className="page report-page", children=[
        html.Div(create_nav(NAV_PATH, nav_account()), className="report-noprint"),
        html.Div(className="report-controls report-noprint", children=[
            _control("区划代码", dcc.Input(id="report-region", value=code, type="text", debounce=True,
                                        autoComplete="off", className="report-input")),
            _control("报告类型", dcc.RadioItems(id="report-kind", options=KIND_OPTIONS, value=kind, inline=True,
                                            className="report-kind")),
            _control("报告期内任一日", dcc.Input(id="report-date", value=day, type="text", debounce=True,
                                            placeholder="年-月-日，如 2026-11-16", className="report-input")),
            dcc.Link("生成报告", id="report-go", href=report_href(code, kind, day), className="report-button"),
            html.Button("导出 PDF", id="report-pdf", n_clicks=0, className="report-button"),
            html.Button("导出 Excel", id="report-xlsx", n_clicks=0, className="report-button"),
            dcc.Link("报告归档", href=dash.get_relative_path(NAV_PATH), className="report-button report-link"),
            dcc.Loading(html.Span(id="report-export-note", className="report-export-note"), type="dot"),
        ]),
        html.Article(id="report-body", className="report-doc", **{"data-state": "loading"},
                     children=[html.P("报告生成中…", className="report-loading")]),
        html.Div(id="report-ready", className="report-ready", **{"data-ready": "0"}),
        dcc.Store(id="report-params", data=params),
        dcc.Store(id="report-svgs", data={}),
        dcc.Download(id="report-download"),
    ])


def _control(label: str, component: Any) -> html.Label:
    return html.Label([html.Span(label, className="report-control-label"), component], className="report-control")


def _error_panel(message: str) -> list[Any]:
    return [html.Div([html.H2("无法生成报告"), html.P(message, id="report-error")], className="report-error",
                     role="alert")]


def _request(params: Any) -> tuple[str, str, str]:
    """(region, period kind, date) of the page's parameters, as text (the report checks their values)."""
    p = inputs.mapping(params)
    return (inputs.text(p.get("region"), limit=64) or _root(), inputs.text(p.get("period"), limit=64) or "weekly",
            inputs.text(p.get("date"), limit=40))


def _build(params: dict[str, str] | None) -> Any:
    return cached_report(get_db(), *_request(params), RegionScope(_root()))


@callback(
    Output("report-body", "children"), Output("report-body", "data-state"),
    Output("report-body", "data-charts"), Output("report-body", "data-tables"), Output("report-svgs", "data"),
    Input("report-params", "data"),
)
def render(params: dict[str, str] | None) -> tuple[Any, ...]:
    """The report for the URL's region, period kind and date (or an error panel)."""
    t0 = time.perf_counter()
    try:
        data = _build(params)
    except (JinjianError, ConfigError) as exc:
        message = getattr(exc, "user_message", str(exc))
        logger.info("report %s: %s", params, getattr(exc, "detail", exc))
        return _error_panel(message), "error", "0", "0", {}
    body, svgs = create_report(data)
    logger.info("report page %s rendered in %.2f s", params, time.perf_counter() - t0)
    return body, "ok", str(N_CHARTS), str(N_TABLES), svgs


clientside_callback(
    """
    function(svgs, children, state) {
        if (state !== "ok") { return state === "error" ? "error" : "0"; }
        return new Promise(function(resolve) {
            var t0 = Date.now();
            function check() {
                var body = document.getElementById("report-body");
                if (!body) { return resolve("0"); }
                var ids = Object.keys(svgs || {});
                var placed = 0;
                ids.forEach(function(id) {
                    var box = document.getElementById(id);
                    if (box && !box.querySelector("svg")) { box.innerHTML = svgs[id]; }
                    if (box && box.querySelector("svg")) { placed += 1; }
                });
                var want = parseInt(body.getAttribute("data-charts") || "0", 10);
                var wantT = parseInt(body.getAttribute("data-tables") || "0", 10);
                var tables = body.querySelectorAll("table.report-table").length;
                if (placed === want && ids.length === want && tables === wantT) {
                    document.fonts.ready.then(function() {
                        requestAnimationFrame(function() { requestAnimationFrame(function() { resolve("1"); }); });
                    });
                    return;
                }
                if (Date.now() - t0 > 60000) { return resolve("timeout"); }
                setTimeout(check, 25);
            }
            check();
        });
    }
    """,
    Output("report-ready", "data-ready"),
    Input("report-svgs", "data"), Input("report-body", "children"), State("report-body", "data-state"),
)


@callback(
    Output("report-go", "href"),
    Input("report-region", "value"), Input("report-kind", "value"), Input("report-date", "value"),
)
@inputs.keep_on_bad_input
def update_link(region: str | None, kind: str | None, day: str | None) -> str:
    return report_href(inputs.text(region, limit=64), inputs.choice(kind, KINDS, "weekly"), inputs.text(day, limit=40))


@callback(
    Output("report-download", "data"), Output("report-export-note", "children"),
    Input("report-pdf", "n_clicks"), Input("report-xlsx", "n_clicks"), State("report-params", "data"),
    prevent_initial_call=True,
)
def export(_pdf: int | None, _xlsx: int | None, params: dict[str, str] | None) -> tuple[Any, str]:
    """The report shown as a PDF (headless Chromium) or its tables as an .xlsx file."""
    from reports.build import render_pdf
    from reports.excel import workbook_bytes
    from reports.pdf import PdfError

    which = dash.ctx.triggered_id
    try:
        require("export")
        if which == "report-xlsx":
            data = _build(params)
            stem = file_stem(data.region, data.period.kind, data.period.key)
            out = dcc.send_bytes(workbook_bytes(report_tables(data)), stem + ".xlsx")
            audit.record("export_xlsx", target=stem + ".xlsx", region=data.region)
            return out, ""
        from flask import current_app

        from reports.build import check_request

        checked = check_request(get_db(), *_request(params), RegionScope(_root()))
        pdf = render_pdf(current_app._get_current_object(), checked.region, checked.period.kind,  # type: ignore[attr-defined]
                         checked.period.start.isoformat(), checked=checked)
        name = file_stem(checked.region, checked.period.kind, checked.period.key) + ".pdf"
        audit.record("export_pdf", target=name, region=checked.region)
        return dcc.send_bytes(pdf, name), ""
    except (JinjianError, ConfigError, PdfError) as exc:
        logger.warning("report export %s failed: %s", which, getattr(exc, "detail", exc))
        return no_update, getattr(exc, "user_message", str(exc))

