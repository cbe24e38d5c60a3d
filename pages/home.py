"""指挥大屏 — the command wall at ``/``.

16:9, fills the screen at any size (sizes in em of a viewport-relative base),
refreshes in place every ``JINJIAN_WALL_REFRESH_SECONDS``, rotates through
``JINJIAN_WALL_PLAYLIST``, drills down by clicking the map, keeps the last values
with a banner when the database is unreachable, and recovers by itself.
``layout()`` does no database work.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import dash
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from components.figures import create_empty_figure, create_flow_lines, merge
from components.format import json_ready
from components.region_map import create_region_map, map_layer
from components.wall import WALL_TILES, create_batch_alert, create_kpi, create_ranking, create_ticker, create_tiles, label
from indicators.catalogue import CATALOGUE
from store.cache import shared_view
from store.db import get_db
from domain.errors import JinjianError
from queries.events import EVENT_TYPE_EN, EVENT_TYPE_ZH
from store.filters import check_region_code
from queries.geo import children_features
from queries.overview import wall_data
from queries.regions import LEVEL_NAMES_ZH, region_node
from auth.current import current, scope_root
from pages import inputs
from settings import Settings

logger = logging.getLogger(__name__)

dash.register_page(__name__, path="/", title="金监 · 智慧监管指挥大屏", name="指挥大屏")

MAP_INDICATORS = ("entity_stock", "new_registrations", "tasks_overdue", "abnormal_rate",
                  "complaint_rate", "overdue_rate", "load_per_worker")


def _initial_region(raw: object, root: str) -> str:
    try:
        code = check_region_code(str(raw)) if raw is not None else root
    except JinjianError:
        return root
    return code if code.startswith(root) else root


def layout(region: str | None = None, **_: object) -> html.Div:
    settings = Settings.from_env()
    start = _initial_region(inputs.param(region), scope_root())
    tiles = [html.Div(id=tile_id, className="kpi", children=create_kpi(tile_id, zh, None, ""))
             for tile_id, _ind, _g, zh, _en in WALL_TILES]
    return html.Div(className="wall", id="wall-root", children=[
        html.Header(className="wall-header", children=[
            html.Div(id="wall-title", className="wall-title", children=label("zh", "title")),
            html.Div(id="wall-path", className="wall-path"),
            html.Button(label("zh", "up"), id="wall-up", className="wall-up", n_clicks=0),
            html.Div(className="wall-right-head", children=[
                html.Span(id="wall-fresh", className="wall-fresh"),
                html.Span(id="wall-clock", className="wall-clock"),
                dcc.RadioItems(id="wall-lang", className="wall-lang", value="zh", inline=True,
                               options=[{"label": "中", "value": "zh"}, {"label": "EN", "value": "en"}]),
            ]),
        ]),
        html.Div(id="wall-banner", className="wall-banner hidden", role="alert"),
        html.Div(className="wall-kpis", children=tiles),
        html.Div(className="wall-main", children=[
            html.Div(className="wall-col wall-col-3", children=[
                html.Div(className="wall-panel", children=[
                    html.Div(id="wall-trend-day-title", className="panel-title"),
                    dcc.Graph(id="wall-trend-day", figure=create_empty_figure(),
                              config={"displayModeBar": False, "staticPlot": True},
                              className="wall-graph")]),
                html.Div(className="wall-panel", children=[
                    html.Div(id="wall-trend-month-title", className="panel-title"),
                    dcc.Graph(id="wall-trend-month", figure=create_empty_figure(),
                              config={"displayModeBar": False, "staticPlot": True},
                              className="wall-graph")]),
                html.Div(className="wall-panel", children=[
                    html.Div(id="wall-overdue-title", className="panel-title"),
                    html.Div(id="wall-overdue", className="wall-ranking wall-overdue")]),
            ]),
            html.Div(className="wall-panel wall-map-panel", children=[
                dcc.Dropdown(id="wall-map-indicator", className="wall-map-indicator", clearable=False,
                             value="entity_stock",
                             options=[{"label": CATALOGUE[i].name_zh, "value": i} for i in MAP_INDICATORS]),
                create_region_map("wall", settings.tile_url),
            ]),
            html.Div(className="wall-col", children=[
                html.Div(className="wall-panel", children=[
                    html.Div(id="wall-ranking-title", className="panel-title"),
                    html.Div(id="wall-ranking", className="wall-ranking")]),
                html.Div(className="wall-panel", children=[
                    html.Div(id="wall-ticker-title", className="panel-title"),
                    html.Div(id="wall-batch-alert", className="wall-batch-alert hidden", role="alert"),
                    html.Div(id="wall-ticker", className="wall-ticker")]),
            ]),
        ]),
        dcc.Store(id="wall-region", data=start),
        dcc.Store(id="wall-scale", data=1.0),
        dcc.Store(id="wall-trend-day-fig"), dcc.Store(id="wall-trend-month-fig"),
        dcc.Store(id="wall-map-sig"),
        dcc.Store(id="wall-playlist-pos", data=0),
        dcc.Location(id="wall-url", refresh=False),
        dcc.Interval(id="wall-refresh", interval=settings.wall_refresh_seconds * 1000),
        dcc.Interval(id="wall-rotate", interval=max(settings.wall_rotate_seconds, 1) * 1000,
                     disabled=settings.wall_rotate_seconds == 0),
        dcc.Interval(id="wall-tick", interval=1000),
        # Real time: a cheap check of the data version; the wall redraws as soon as a batch lands.
        dcc.Interval(id="wall-live", interval=settings.wall_live_seconds * 1000),
        dcc.Store(id="wall-live-gate"), dcc.Store(id="wall-drawn-at"),
        dcc.Store(id="wall-data-version"),
        dcc.Store(id="wall-drawn-version"),
    ])


#: After a redraw the wall rests this long before it looks for newer data: a screen fed two
#: batches a second then still stands still between redraws (it settles) instead of redrawing
#: back to back, and a record still reaches it within about two seconds.
LIVE_REST_MS = 1000

# The browser keeps the time the last redraw ended, and lets the live check through only
# when the wall has rested since (no request at all while it rests).
clientside_callback("function(v) { return Date.now(); }",
                    Output("wall-drawn-at", "data"), Input("wall-drawn-version", "data"))
clientside_callback(
    """function(n, at) {
        return (Date.now() - (at || 0) >= %d) ? n : window.dash_clientside.no_update;
    }""" % LIVE_REST_MS,
    Output("wall-live-gate", "data"), Input("wall-live", "n_intervals"), State("wall-drawn-at", "data"))


@callback(Output("wall-data-version", "data"), Input("wall-live-gate", "data"),
          State("wall-data-version", "data"), State("wall-drawn-version", "data"))
@inputs.keep_on_bad_input
def live_version(_n: int | None, known: int | None, drawn: int | None):
    """The loaded-data version when it differs from the one drawn last and the wall has
    finished drawing (so a slow redraw is never cancelled by the next batch, and the first
    draw is not repeated for the version it already showed); else no update."""
    from store.versions import data_version

    known, drawn = inputs.integer(known), inputs.integer(drawn)
    if drawn is None or (known is not None and drawn != known):
        return no_update  # the first draw, or the redraw for ``known``, is still running
    try:
        version = data_version(get_db())
    except JinjianError:
        return no_update
    return no_update if version == drawn else version


clientside_callback(
    """function(n) {
        const d = new Date(), p = x => String(x).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    }""",
    Output("wall-clock", "children"), Input("wall-tick", "n_intervals"))

clientside_callback(
    """function(n, current) {
        const scale = Math.round(window.innerWidth / 1920 * 4) / 4 || 1;
        return scale === current ? window.dash_clientside.no_update : scale;
    }""",
    Output("wall-scale", "data"), Input("wall-tick", "n_intervals"), State("wall-scale", "data"))

#: The trend charts' margins and font in px at 1920 wide; the browser multiplies them by
#: the screen's scale (a 4K wall does not make the server draw again).
FIGURE_MARGIN = {"l": 40, "r": 10, "t": 10, "b": 30}
FIGURE_FONT = 14

clientside_callback(
    """function(day, month, scale) {
        const k = Math.max(0.5, Math.min(scale || 1, 4));
        const fit = f => {
            if (!f || !f.layout) { return window.dash_clientside.no_update; }
            const m = f.layout.margin || {}, font = f.layout.font || {};
            const layout = Object.assign({}, f.layout, {
                margin: {l: (m.l || 0) * k, r: (m.r || 0) * k, t: (m.t || 0) * k, b: (m.b || 0) * k},
                font: Object.assign({}, font, {size: (font.size || %d) * k})});
            return Object.assign({}, f, {layout: layout});
        };
        return [fit(day), fit(month)];
    }""" % FIGURE_FONT,
    Output("wall-trend-day", "figure"), Output("wall-trend-month", "figure"),
    Input("wall-trend-day-fig", "data"), Input("wall-trend-month-fig", "data"), Input("wall-scale", "data"))


N_OUT = len(WALL_TILES) + 19


def _region(value: object) -> str:
    return inputs.region(value, scope_root())


def _lang(value: object) -> str:
    return inputs.choice(value, ("zh", "en"), "zh")


def _indicator(value: object) -> str:
    return inputs.choice(value, MAP_INDICATORS, "entity_stock")


@callback(
    [Output(tile_id, "children") for tile_id, *_ in WALL_TILES]
    + [Output("wall-title", "children"), Output("wall-path", "children"),
       Output("wall-trend-day-title", "children"), Output("wall-trend-day-fig", "data"),
       Output("wall-trend-month-title", "children"), Output("wall-trend-month-fig", "data"),
       Output("wall-ranking-title", "children"), Output("wall-ranking", "children"),
       Output("wall-overdue-title", "children"), Output("wall-overdue", "children"),
       Output("wall-ticker-title", "children"),
       Output("wall-batch-alert", "children"), Output("wall-batch-alert", "className"), Output("wall-ticker", "children"),
       Output("wall-fresh", "children"), Output("wall-fresh", "className"),
       Output("wall-banner", "children"), Output("wall-banner", "className"),
       Output("wall-drawn-version", "data")],
    Input("wall-refresh", "n_intervals"), Input("wall-region", "data"), Input("wall-lang", "value"),
    Input("wall-map-indicator", "value"), Input("wall-data-version", "data"),
)
@inputs.keep_on_bad_input
def refresh(_n: int | None, region: str, lang: str, map_indicator: str, _version: int | None = None):
    from store.versions import data_version

    _version = inputs.integer(_version)  # the page's own store
    today = dt.date.today()
    db = get_db()
    try:  # every screen showing this view shares one computation per data version (store.cache)
        region, lang, map_indicator = _region(region), _lang(lang), _indicator(map_indicator)
        if _version is None:  # the first draw: the version it shows, so the live check does not redraw it
            _version = data_version(db)
        return shared_view(db, "wall_refresh", (region, lang, map_indicator, _version, today),
                           lambda: json_ready(_refresh(db, region, lang, map_indicator, _version, today)))
    except JinjianError as exc:
        logger.warning("wall refresh failed: %s", exc.detail)
        return [no_update] * (N_OUT - 3) + [exc.user_message, "wall-banner", _version]


def _refresh(db, region: str, lang: str, map_indicator: str, _version: int | None, today: dt.date) -> list:
    settings = Settings.from_env()
    data = wall_data(db, region, today, ranking_indicator=map_indicator)
    top = scope_root()  # the path starts at the viewer's own region
    shown = data.node.path[data.node.path["code"].astype(str).str.startswith(top) & ((data.node.path["code"] != "") | (top == ""))]
    names = list(shown["name"]) or [data.node.name]
    path = " › ".join(names) + f"（{LEVEL_NAMES_ZH[data.node.level]}）"
    style = {"margin": dict(FIGURE_MARGIN), "uirevision": "wall", "font": {"size": FIGURE_FONT},
             "legend": {"orientation": "h", "y": 1.12, "x": 0}}  # in px at 1920 wide: scaled in the browser
    day_fig = create_flow_lines(data.daily, "", style)
    month_fig = create_flow_lines(data.monthly, "", merge(style, {"xaxis": {"tickformat": "%Y-%m"}}))
    ind = CATALOGUE[map_indicator]
    ranking = create_ranking(data.children, ind.unit)
    ticker = create_ticker(data.ticker, EVENT_TYPE_ZH if lang == "zh" else EVENT_TYPE_EN)
    if data.latest is None:
        fresh, fresh_cls = label(lang, "no_data"), "wall-fresh stale"
    else:
        age = dt.datetime.now() - data.latest
        fresh = f"{label(lang, 'fresh')} {data.latest:%Y-%m-%d %H:%M}"
        fresh_cls = "wall-fresh"
        if age >= dt.timedelta(days=1):  # old data (e.g. a restart on an old demo): say how old
            fresh += " · " + label(lang, "stale_days").format(d=age.days)
            fresh_cls = "wall-fresh stale"
        elif age > dt.timedelta(minutes=settings.stale_minutes):
            fresh += " · " + label(lang, "stale").format(m=settings.stale_minutes)
            fresh_cls = "wall-fresh stale"
    return (create_tiles(data.headlines, lang)
            + [label(lang, "title"), path, label(lang, "trend_day"), day_fig, label(lang, "trend_month"),
               month_fig, f"{label(lang, 'ranking')} · {ind.name_zh if lang == 'zh' else ind.name_en}",
               ranking, label(lang, "overdue"), create_ranking(data.overdue, "件", top=5),
               label(lang, "ticker"), *create_batch_alert(data.alerts, lang, data.alert_total),
               ticker, fresh, fresh_cls, data.problem or "", "wall-banner" if data.problem else "wall-banner hidden",
               _version])


@callback(
    Output("wall-geojson", "data"), Output("wall-legend", "children"), Output("wall-note", "children"),
    Output("wall-map", "viewport"), Output("wall-map-sig", "data"),
    Input("wall-refresh", "n_intervals"), Input("wall-region", "data"), Input("wall-map-indicator", "value"),
    Input("wall-lang", "value"), State("wall-map-sig", "data"),
)
@inputs.keep_on_bad_input
def refresh_map(_n: int | None, region: str, indicator_id: str, lang: str, last_sig: dict | None):
    """Redraw the map only when its content changed, and refit only when the region changed."""
    from queries.indicator_values import compute
    from indicators.periods import period_to_date
    from store.filters import Filter

    region, lang, last_sig = _region(region), _lang(lang), inputs.mapping(last_sig)
    ind = CATALOGUE[_indicator(indicator_id)]
    month = period_to_date(dt.date.today(), "month")

    def child_values() -> dict[str, float]:
        values = compute(db, [ind], Filter(region=region), month, by_child=True)
        return dict(zip(values["region_code"], values["value"]))

    try:
        db = get_db()
        shown = shared_view(db, "wall_map_values", (region, ind.id, month), child_values)
    except JinjianError as exc:
        logger.warning("wall map refresh failed: %s", exc.detail)
        return no_update, no_update, no_update, no_update, no_update
    # The boundaries follow from the region: the values, indicator and language tell a redraw apart.
    digest = hashlib.sha1(json.dumps([region, ind.id, lang, shown], sort_keys=True, default=str).encode()).hexdigest()
    if last_sig and last_sig.get("digest") == digest:
        return no_update, no_update, no_update, no_update, no_update
    try:
        geojson, legend, note, bounds = shared_view(db, "wall_map", (region, ind.id, lang, digest),
                                                    lambda: _map_outputs(db, region, shown, ind, lang))
    except JinjianError as exc:
        logger.warning("wall map refresh failed: %s", exc.detail)
        return no_update, no_update, no_update, no_update, no_update
    same_region = bool(last_sig) and last_sig.get("region") == region
    viewport = no_update if same_region or not bounds else {"bounds": bounds}
    return geojson, legend, note, viewport, {"digest": digest, "region": region}


def _map_outputs(db, region: str, shown: dict, ind, lang: str) -> list:
    layer = map_layer(children_features(db, region), shown, ind, lang=lang)
    return json_ready([layer.geojson, layer.legend, layer.note, layer.bounds])


@callback(
    Output("wall-region", "data"), Output("wall-playlist-pos", "data"),
    Input("wall-geojson", "clickData"), Input("wall-up", "n_clicks"), Input("wall-rotate", "n_intervals"),
    State("wall-region", "data"), State("wall-playlist-pos", "data"),
    prevent_initial_call=True,
)
@inputs.keep_on_bad_input
def navigate(click: dict | None, _up: int, _tick: int | None, region: str, pos: int):
    """Drill down on a map click, go up with the button, rotate on the timer."""
    settings = Settings.from_env()
    root = scope_root()
    trigger = ctx.triggered_id
    region, pos = _region(region), inputs.integer(pos, 0, lo=0)
    try:
        if trigger == "wall-geojson" and click:
            code = inputs.clicked_code(click)
            if code and code.startswith(region) and code.startswith(root):
                node = region_node(get_db(), code)
                return (code if not node.children.empty else no_update), no_update
            return no_update, no_update
        if trigger == "wall-up":
            if region == root:
                return no_update, no_update
            path = region_node(get_db(), region).path["code"].tolist()
            parent = path[-2] if len(path) > 1 else root
            return (parent if parent.startswith(root) else root), no_update
        if trigger == "wall-rotate":
            own = current().playlist or settings.wall_playlist  # a display token's playlist first
            playlist = ([c for c in own if c.startswith(root)]
                        or [root] + region_node(get_db(), root).children["code"].tolist())
            nxt = (pos + 1) % len(playlist)
            return playlist[nxt], nxt
    except JinjianError as exc:
        logger.warning("wall navigation failed: %s", exc.detail)
    return no_update, no_update


@callback(Output("wall-url", "search"), Input("wall-region", "data"), prevent_initial_call=True)
@inputs.keep_on_bad_input
def sync_url(region: str) -> str:
    """Keep the drill state in the URL, so a reload or a shared link shows the same view."""
    return f"?region={_region(region)}"



