"""风险预警: entity risk grades of a region as of a date — distribution, a map of
its children coloured by area grade with red / orange entity points (drill down
by clicking; at the grid level a click opens the grid's details), the top-risk
entities with their factor breakdown, the warning trend and feed, and batch
alerts with their traceability fan-out.

URL (shareable): ``/risk?region=441900003001&date=2026-11-20&grid=441900003001005``
(all optional: the jurisdiction, today, no grid selected). ``layout()`` does no
database work; malformed and out-of-jurisdiction codes are recognised without it
(the skeleton and URL parsing: ``components.risk_layout``). Here: the callbacks.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
from dash import Input, Output, State, callback, html, no_update

from components import risk_layout as rl, risk_views as rv
from auth.web import nav_account
from components.nav import create_nav
from components.risk_layout import HIDDEN
from components.risk_map import map_hideout, map_title, point_layer, risk_map_layer
from store.cache import shared_view
from store.db import get_db
from domain.errors import InvalidParameter, JinjianError, RegionNotFound, ScopeViolation
from store.filters import Filter, RegionScope
from queries.geo import GRID_CODE_LENGTH, children_features
from queries.grid import entity_names, grid_workers
from queries.regions import LEVEL_NAMES_ZH, region_names, region_node
from queries.risk import (batch_fanout, grade_distribution, high_risk_points, risk_by_child,
                          newest_batch_alerts, scored_at, top_entities, warning_feed, warning_trend)
from queries.risk_snapshots import usable
from queries.tasks import TaskQuery, task_list
from auth import scope_root
from pages import inputs
from settings import ConfigError, Settings
from supervision.risk import RiskRules
from supervision.rules import TaskRules

logger = logging.getLogger(__name__)

PATH = "/risk"
dash.register_page(__name__, path=PATH, title="金监 · 风险预警", name="风险预警")

TOP_N = 100
TREND_DAYS = 30
BATCH_DAYS = 90
#: Batches listed (the newest; the note gives how many there are in all).
BATCH_ROWS = 500
FEED_ROWS = 30
POINTS_LIMIT = 1000
DETAIL_ENTITIES = 200
DETAIL_TASKS = 50


def _root() -> str:
    """The top region the signed-in user may see (their scope within the jurisdiction)."""
    return scope_root()


def _rules() -> RiskRules:
    try:
        return RiskRules.from_env()
    except ConfigError as exc:
        raise InvalidParameter(f"risk rules: {exc}", user_message=rv.RULES_MESSAGE) from None


def _href(region: str, date: str | None, grid: str | None = None) -> str:
    return rv.risk_href(region, date, grid, prefix=dash.get_relative_path(PATH))


def _status_panel(kind: str, code: str) -> list[Any]:
    return rl.status_panel(kind, code, _href(_root(), None))


def layout(region: str | None = None, date: str | None = None, grid: str | None = None, **_: Any) -> html.Div:
    root = _root()
    code = rl.region_param(inputs.param(region), root)
    try:
        day = inputs.day(date).isoformat()
    except JinjianError:
        day = dt.date.today().isoformat()
    status = rl.precheck(code, root)
    selected = rl.selected_grid(grid, code, status)
    return rl.create_layout(code, day, selected, _status_panel(status, code) if status else None,
                            nav=create_nav(PATH, nav_account()), share_href=_href(code, day, selected),
                            tile_url=Settings.from_env().tile_url, grades=RiskRules().grades, trend_days=TREND_DAYS)


# ----------------------------------------------------------------------------- helpers
def _code(code: Any) -> str:
    """The region input as text (None → the user's top region; not text → BadInput)."""
    return inputs.text(code, _root(), limit=64)


def _when(date: Any) -> str | None:
    """A date for links: ISO text, or None (not a date → BadInput)."""
    day = inputs.optional_day(date)
    return day and day.isoformat()


def _flt(code: str | None) -> Filter:
    """The region's filter; malformed, out-of-jurisdiction and unknown codes raise."""
    root = _root()
    flt = Filter(region=_code(code), scope=RegionScope(root))
    region_node(get_db(), flt.region, flt.scope)  # exists (cached)
    return flt


def _shown(exc: JinjianError, what: str, code: str | None) -> bool:
    """Log a callback failure; False for not-found / forbidden (the status panel says it)."""
    if isinstance(exc, (RegionNotFound, ScopeViolation)) or (isinstance(exc, InvalidParameter)
                                                          and exc.user_message.startswith("区划代码")):
        logger.info("risk %s %r: %s", what, code, exc.detail)
        return False
    logger.warning("risk %s %r failed: %s", what, code, exc.detail)
    return True


def _error(exc: JinjianError, what: str, code: str | None) -> list[Any]:
    return [html.P(exc.user_message, className="risk-error")] if _shown(exc, what, code) else []


# ----------------------------------------------------------------------------- callbacks
@callback(
    Output("risk-title", "children"), Output("risk-level", "children"), Output("risk-breadcrumbs", "children"),
    Output("risk-status", "children"), Output("risk-status", "className"), Output("risk-main", "className"),
    Output("risk-banner", "children"), Output("risk-banner", "className"),
    Input("risk-region", "data"), Input("risk-date", "date"),
)
@inputs.keep_on_bad_input
def refresh_header(code: str | None, date: str | None) -> tuple[Any, ...]:
    """Name, level and path of the region, or the 404 / 403 panel."""
    root, code = _root(), _code(code)
    try:
        node = region_node(get_db(), code, RegionScope(root))
        day = inputs.day(date).isoformat()
        _rules()
    except (RegionNotFound, ScopeViolation) as exc:
        kind = "forbidden" if isinstance(exc, ScopeViolation) else "not_found"
        return (no_update, "", [], _status_panel(kind, code), "region-status", f"risk-main {HIDDEN}",
                "", f"banner {HIDDEN}")
    except JinjianError as exc:
        if not _shown(exc, "header", code):
            return (no_update, "", [], _status_panel("not_found", code), "region-status", f"risk-main {HIDDEN}",
                    "", f"banner {HIDDEN}")
        return (no_update,) * 6 + (exc.user_message, "banner")
    path = node.path[node.path["code"].str.startswith(root)] if root else node.path
    return (node.name, LEVEL_NAMES_ZH.get(node.level, ""), rl.breadcrumbs(path, lambda c: _href(c, day)), [], f"region-status {HIDDEN}",
            "risk-main", "", f"banner {HIDDEN}")


@callback(
    [Output(f"risk-card-{g}", "children") for g in rv.GRADE_ORDER],
    Output("risk-donut", "figure"), Output("risk-summary-note", "children"),
    Input("risk-region", "data"), Input("risk-date", "date"),
)
def refresh_summary(code: str | None, date: str | None) -> tuple[Any, ...]:
    """Entities per grade (cards and donut)."""
    try:
        rules, day = _rules(), inputs.day(date)
        db, flt = get_db(), _flt(code)
        counts = rv.grade_counts(grade_distribution(db, flt, day, rules))
        when = scored_at(db, flt, day, rules)
    except JinjianError as exc:
        _shown(exc, "summary", code)
        return (no_update,) * (len(rv.GRADE_ORDER) + 1) + ("",)  # the cards and the donut unchanged, no note
    cards = [c.children for c in rv.create_grade_cards(counts, rules.grades)]
    how = f"评分于 {when:%m-%d %H:%M} 计算（风险评分快照）" if when else "评分实时计算"
    note = f"截至 {day.isoformat()} 存续主体 {sum(counts.values()):,} 户参与评分；{how}"
    return (*cards, rv.create_grade_figure(counts), note)


@callback(
    Output("risk-geojson", "data"), Output("risk-legend", "children"), Output("risk-note", "children"),
    Output("risk-map", "viewport"), Output("risk-points", "data"), Output("risk-map-title", "children"),
    Input("risk-region", "data"), Input("risk-date", "date"),
)
def refresh_map(code: str | None, date: str | None) -> tuple[Any, ...]:
    """Children coloured by area grade, red / orange points, view fitted to the children."""
    try:
        db, rules, day = get_db(), _rules(), inputs.day(date)
        flt = _flt(code)
        snapshot = usable(db, flt.region, day, rules)

        def draw() -> tuple[Any, ...]:
            by_child = risk_by_child(db, flt, day, rules)
            features = children_features(db, flt.region, flt.scope)
            points = high_risk_points(db, flt, day, rules, limit=POINTS_LIMIT)
            layer = risk_map_layer(features, by_child, rules.area_grades, points)
            return (layer.geojson, layer.legend, layer.note, layer.bounds, point_layer(points, day.isoformat()),
                    map_title(layer, len(points), POINTS_LIMIT))

        # Drawn once per data version and shared by every screen showing it (geometry and points
        # are the slow part, not the queries; the snapshot it reads is part of the key).
        geojson, legend, note, bounds, points, title = shared_view(
            db, "risk_map", (flt.region, day, rules, snapshot and snapshot.id), draw)
    except JinjianError as exc:
        return (no_update,) * 5 + ((exc.user_message if _shown(exc, "map", code) else ""),)
    viewport = {"bounds": bounds, "transition": "fitBounds"} if bounds else no_update
    return geojson, legend, note, viewport, points, title


@callback(
    Output("risk-grid", "rowData"), Output("risk-table-note", "children"),
    Input("risk-region", "data"), Input("risk-date", "date"),
)
def refresh_table(code: str | None, date: str | None) -> tuple[Any, ...]:
    """The highest-scoring entities with their breakdown."""
    try:
        db, rules, day = get_db(), _rules(), inputs.day(date)
        flt = _flt(code)
        top = top_entities(db, flt, day, rules, limit=TOP_N)
        grids = region_names(db, sorted(set(top["grid_code"].astype(str))))
    except JinjianError as exc:
        shown = _shown(exc, "table", code)
        return (no_update if shown else []), (exc.user_message if shown else "")
    rows = rv.build_entity_rows(top, grids, day.isoformat(), rules.weights, rules.max_score)
    return rows, f"评分最高的 {len(rows)} 户 · 条形为各因素得分（满分 {rules.max_score:g}）"


@callback(Output("risk-trend", "figure"), Input("risk-region", "data"), Input("risk-date", "date"))
def refresh_trend(code: str | None, date: str | None) -> Any:
    """Warnings per day and type over the last 30 days."""
    try:
        day = inputs.day(date)
        start = day - dt.timedelta(days=TREND_DAYS - 1)
        trend = warning_trend(get_db(), _flt(code), start, day)
    except JinjianError as exc:
        _shown(exc, "trend", code)
        return no_update
    return rv.create_trend_figure(trend, start, day)


@callback(Output("risk-feed", "children"), Input("risk-region", "data"), Input("risk-date", "date"))
def refresh_feed(code: str | None, date: str | None) -> list[Any]:
    """The newest warnings with links to the entities."""
    try:
        db, day = get_db(), inputs.day(date)
        flt = _flt(code)
        feed = warning_feed(db, flt, day, limit=FEED_ROWS)
        names = entity_names(db, flt, feed["credit_code"])
    except JinjianError as exc:
        return _error(exc, "feed", code)
    return rv.create_feed(feed, names, day.isoformat())


@callback(
    Output("risk-batches", "rowData"), Output("risk-batch-note", "children"),
    Input("risk-region", "data"), Input("risk-date", "date"),
)
def refresh_batches(code: str | None, date: str | None) -> tuple[Any, ...]:
    """Batches that failed sampling in the last 90 days and were handled in the region."""
    try:
        db, day = get_db(), inputs.day(date)
        flt = _flt(code)

        def rows() -> tuple[list[dict[str, Any]], str]:
            alerts, total = newest_batch_alerts(db, flt, day - dt.timedelta(days=BATCH_DAYS - 1), day,
                                                limit=BATCH_ROWS)
            more = f"，列出最新 {len(alerts)} 批" if total > len(alerts) else ""
            return rv.build_batch_rows(alerts), f"近 {BATCH_DAYS} 天 {total} 批{more}"

        return shared_view(db, "risk_batches", (flt.region, day), rows)  # shared like the map
    except JinjianError as exc:
        shown = _shown(exc, "batches", code)
        return (no_update if shown else []), (exc.user_message if shown else "")


@callback(
    Output("risk-fanout", "children"),
    Input("risk-batches", "selectedRows"), State("risk-region", "data"), State("risk-date", "date"),
)
def show_fanout(selected: list[dict[str, Any]] | None, code: str | None, date: str | None) -> list[Any]:
    """The chosen batch's handlers inside the region and the count outside."""
    try:
        batch, when = inputs.field(inputs.first_row(selected) or {}, "batch_no"), _when(date)
        if not batch:
            return rv.create_fanout(None, None, 0, {}, {}, when)
        db = get_db()
        flt = _flt(code)
        inside, outside = batch_fanout(db, flt, batch)
        names = entity_names(db, flt, inside["credit_code"])
        grids = region_names(db, sorted(set(inside["grid"].astype(str))))
    except JinjianError as exc:
        return _error(exc, "fanout", code)
    return rv.create_fanout(batch, inside, outside, names, grids, when)


@callback(
    Output("risk-location", "href"), Output("risk-selected", "data"),
    Input("risk-geojson", "clickData"), State("risk-region", "data"), State("risk-date", "date"),
    prevent_initial_call=True,
)
@inputs.keep_on_bad_input
def map_click(feature: dict[str, Any] | None, code: str | None, date: str | None) -> tuple[Any, Any]:
    """A click on a child with children drills down (URL); on a grid (or another
    leaf) it opens the details panel."""
    child, when = inputs.clicked_code(feature), _when(date)
    if not child:
        return no_update, no_update
    if len(child) == GRID_CODE_LENGTH:
        return no_update, child
    try:
        flt = _flt(code)
        node = region_node(get_db(), child, flt.scope)
    except JinjianError as exc:
        _shown(exc, "map click", child)
        return no_update, no_update
    if len(node.children):
        return _href(child, when), None
    return no_update, child


@callback(
    Output("risk-details", "children"), Output("risk-geojson", "hideout"),
    Input("risk-selected", "data"), Input("risk-date", "date"), State("risk-region", "data"),
)
@inputs.keep_on_bad_input
def show_details(selected: str | None, date: str | None, code: str | None) -> tuple[Any, Any]:
    """The selected grid's scored entities, grid workers and open tasks."""
    selected = inputs.optional_text(selected)
    if not selected:
        return rv.create_grid_details(None, "", None, None, None, None, 0, {}, _when(date)), map_hideout(None)
    try:
        db, rules, day = get_db(), _rules(), inputs.day(date)
        parent = _flt(code)
        if not selected.startswith(parent.region):
            raise ScopeViolation(f"{selected!r} is not inside {parent.region!r}")
        node = region_node(db, selected, parent.scope)
        flt = Filter(region=selected, scope=parent.scope)
        ents = top_entities(db, flt, day, rules, limit=DETAIL_ENTITIES)
        workers = grid_workers(db, flt)
        try:
            task_rules = TaskRules.from_env()
        except ConfigError as exc:
            raise InvalidParameter(f"task rules: {exc}", user_message="任务督办规则配置不正确，请联系管理员") from None
        tasks, total = task_list(db, TaskQuery(flt, day, status="open"), task_rules, limit=DETAIL_TASKS)
        names = entity_names(db, flt, tasks["credit_code"])
    except JinjianError as exc:
        msg = exc.user_message if _shown(exc, "details", selected) else "所选网格不在当前区域内"
        return [html.P(msg, className="risk-error")], map_hideout(None)
    n, high = len(ents), int(ents["grade"].isin(["red", "orange"]).sum()) if len(ents) else 0
    area = {"grade": rules.area_grade(high / n * 100) if n else None, "entities": n, "high": high}
    return (rv.create_grid_details(selected, node.name, area, ents, workers, tasks, total, names, day.isoformat()),
            map_hideout(selected))


@callback(
    Output("risk-share", "href"),
    Input("risk-date", "date"), Input("risk-selected", "data"), State("risk-region", "data"),
)
@inputs.keep_on_bad_input
def update_share(date: str | None, selected: str | None, code: str | None) -> str:
    return _href(_code(code), _when(date), inputs.optional_text(selected))


# In-app links in tables, feed, popups and details navigate without a reload: assets/inapp_links.js.
