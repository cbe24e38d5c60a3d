"""数据质量: how the departments' data arrives — batches per source with records in /
loaded / rejected, the top rejection reasons, freshness per source (newest batch and
newest record time; sources past their reporting limit flagged 逾期未报送) and the
headline quality indicators (准确率, 完整率, 及时率; the catalogue's 数据质量 category).

Each batch with rejected records links to its rejection report (退回记录, served by
``etl.ingest.web``), the file that goes back to the sending unit.

URL parameters (all optional): ``/quality?region=4419&start=2026-11-01&end=2026-11-20&source=complaint``.
``layout()`` does no database work; the figures refresh every 30 seconds.
Definitions: docs/quality.md.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
from dash import Input, Output, callback, dcc, html, no_update

from components.format import DROPDOWN_LABELS
from components import quality_views as qv
from components.push_views import create_push_section
from pages import inputs, push
from auth.web import nav_account
from components.nav import create_nav
from etl.ingest.config import IngestSettings
from domain.sources import SOURCES
from etl.ingest.web import rejects_href
from store.db import get_db
from domain.errors import InvalidParameter, JinjianError
from store.filters import Filter, RegionScope, check_region_code
from queries.quality import batch_count, batches, quality_totals, source_summary, top_reasons
from queries.regions import region_names, region_node
from auth import scope_root
from settings import ConfigError

logger = logging.getLogger(__name__)

PATH = "/quality"
dash.register_page(__name__, path=PATH, title="金监 · 数据质量", name="数据质量")

HIDDEN = "hidden"
REFRESH_MS = 30_000
BATCH_ROWS = 500
TOP_REASONS = 10
SETTINGS_MESSAGE = "数据汇聚配置不正确（迟报时限等设置），请联系系统管理员"


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def _day(value: str | None, default: str) -> str:
    try:
        return inputs.day(value).isoformat()
    except JinjianError:
        return default


def layout(region: str | None = None, start: str | None = None, end: str | None = None,
           source: str | None = None, **_: Any) -> html.Div:
    code = (inputs.param(region) or "").strip() or _root()
    today = dt.date.today()
    first, last = qv.default_dates(today)
    start_, end_ = _day(start, first), _day(end, last)
    if start_ > end_:
        start_, end_ = first, last
    source_ = source if inputs.param(source) in SOURCES else None
    return html.Div(className="page dq-page", children=[
        create_nav(PATH, nav_account()),
        html.Header(className="page-header dq-header", children=[
            html.H1("数据质量"),
            html.Div(code, id="dq-region-name", className="region-name dq-region-name"),
            html.Span(id="dq-updated", className="updated dq-updated"),
        ]),
        html.Div(className="dq-controls", children=[
            _control("区划代码", dcc.Input(id="dq-region", value=code, type="text", debounce=True, placeholder="如 4419",
                                        autoComplete="off", className="dq-region-input")),
            _control("接收日期", dcc.DatePickerRange(
                id="dq-dates", start_date=start_, end_date=end_, display_format="YYYY-MM-DD", first_day_of_week=1,
                clearable=False, max_date_allowed=max(end_, today.isoformat()), className="dq-dates")),
            _control("数据来源", dcc.Dropdown(id="dq-source", options=qv.source_options(), value=source_,
                                          placeholder="全部来源", clearable=True, searchable=False,
                                          labels=DROPDOWN_LABELS, className="dq-dropdown")),
            html.Span("退回记录按报送单位原格式生成，可下载后返回报送单位整改重报", className="dq-hint"),
        ]),
        html.Div(id="dq-banner", className=f"banner {HIDDEN}", role="alert"),
        html.Div(qv.create_quality_cards(None), id="dq-cards", className="card-row dq-cards"),
        html.Div(className="dq-body", children=[
            html.Section(className="panel dq-fresh-panel", children=[
                html.Div(className="dq-panel-head", children=[
                    html.H2("数据时效"), html.Span(id="dq-late-note", className="dq-note")]),
                html.Div(qv.create_freshness_table(None), id="dq-fresh", className="dq-fresh-box"),
            ]),
            html.Section(className="panel dq-reasons-panel", children=[
                html.Div(className="dq-panel-head", children=[
                    html.H2("主要退回原因"), html.Span(id="dq-reasons-note", className="dq-note")]),
                dcc.Graph(id="dq-reasons", figure=qv.create_reasons_figure(None), className="dq-graph",
                          config={"displayModeBar": False, "displaylogo": False}),
            ]),
        ]),
        create_push_section("dq", "数据来源", "推送时效（迟报来源）"),
        html.Section(className="panel dq-batches-panel", children=[
            html.Div(className="dq-panel-head", children=[
                html.H2("报送批次"), html.Span(id="dq-batches-note", className="dq-note")]),
            html.Div(qv.create_batch_grid("dq-batches"), className="dq-table-box"),
        ]),
        dcc.Interval(id="dq-interval", interval=REFRESH_MS),
    ])


def _control(label: str, component: Any) -> html.Div:
    return html.Div([html.Span(label, className="dq-control-label"), component], className="dq-control")


# ----------------------------------------------------------------------------- helpers
def _filter(code: str | None, start: str | None, end: str | None) -> Filter:
    """The region (within the jurisdiction, known) and the period; raises with a Chinese message."""
    root = _root()
    code = inputs.text(code, limit=64) or root
    check_region_code(code)
    flt = Filter(region=code, scope=RegionScope(root), start=inputs.day(start), end=inputs.day(end))
    region_node(get_db(), flt.region, flt.scope)  # exists (cached)
    return flt


def _late_hours() -> dict[str, float]:
    try:
        return dict(IngestSettings.from_env().late_hours)
    except ConfigError as exc:
        raise InvalidParameter(f"ingest settings: {exc}", user_message=SETTINGS_MESSAGE) from None


def _href(batch_id: str) -> str:
    return dash.get_relative_path(rejects_href(batch_id))


# ----------------------------------------------------------------------------- callbacks
@callback(
    Output("dq-cards", "children"), Output("dq-fresh", "children"), Output("dq-late-note", "children"),
    Output("dq-reasons", "figure"), Output("dq-reasons-note", "children"),
    Output("dq-batches", "rowData"), Output("dq-batches-note", "children"),
    Output("dq-region-name", "children"), Output("dq-updated", "children"),
    Output("dq-banner", "children"), Output("dq-banner", "className"),
    Input("dq-interval", "n_intervals"), Input("dq-region", "value"), Input("dq-dates", "start_date"),
    Input("dq-dates", "end_date"), Input("dq-source", "value"),
)
def refresh(_n: int | None, code: str | None, start: str | None, end: str | None,
            source: str | None) -> tuple[Any, ...]:
    """Every figure of the page for the region, the period and the source (the
    freshness table always lists all sources, the chosen one highlighted)."""
    now = dt.datetime.now().replace(microsecond=0)
    try:
        source = inputs.choice(source, SOURCES)
        db = get_db()
        flt = _filter(code, start, end)
        late_hours = _late_hours()
        region, (first, last) = flt.region, flt.period()
        totals = quality_totals(db, region, first, last, source)  # within the user's scope
        summary = source_summary(db, region, first, last, now, late_hours)
        reasons = top_reasons(db, region, first, last, TOP_REASONS, source)
        listed = batches(db, region, first, last, source, BATCH_ROWS)
        total = batch_count(db, region, first, last, source) if len(listed) >= BATCH_ROWS else len(listed)
        node = region_node(db, region, flt.scope)
        names = region_names(db, sorted({c for c in listed["region_code"].astype(str) if c}))
    except JinjianError as exc:
        logger.warning("quality page refresh failed: %s", exc.detail)
        return (*(no_update,) * 9, exc.user_message, "banner")
    fresh = qv.build_freshness_rows(summary)
    late = sum(r["late"] for r in fresh)
    rejected = int(reasons.attrs.get("total_records", 0))
    return (qv.create_quality_cards(totals, late), qv.create_freshness_table(fresh, source), qv.late_note(fresh),
            qv.create_reasons_figure(reasons), f"本期退回 {rejected:,} 条记录" if rejected else "",
            qv.build_batch_rows(listed, _href, names), qv.list_note(len(listed), total),
            node.name or region, qv.updated_text(now), "", f"banner {HIDDEN}")


@callback(Output("dq-push-grid", "rowData"), Output("dq-push-note", "children"),
          Input("dq-interval", "n_intervals"), Input("dq-region", "value"), Input("dq-dates", "start_date"),
          Input("dq-dates", "end_date"))
def refresh_push(_n: int | None, code: str | None, start: str | None, end: str | None) -> tuple[Any, str]:
    """推送时效 per data source over the chosen dates: which source delivered late (pages/push.py)."""
    return push.quality_push(_n, code, start, end)
