"""The region map renders in Chromium: 36 Dongguan towns, legend, no tiles, no errors."""
from __future__ import annotations

from urllib.parse import urlparse

import dash
import pytest
from dash import Input, Output, html
from selenium.webdriver.common.action_chains import ActionChains

from components.region_map import create_region_map, map_layer
from indicators.catalogue import CATALOGUE
from queries.geo import children_features
from settings import ROOT

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.mark.browser
def test_region_map_renders_offline(dash_duo, demo_db):
    features = children_features(demo_db, "4419")
    codes = [f["properties"]["code"] for f in features["features"]]
    values = {c: (i * 37) % 11 + 1.5 for i, c in enumerate(codes)}
    values[codes[0]] = None
    indicator = CATALOGUE["abnormal_rate"]

    from dash import _callback

    # Page callbacks that an unserved app of an earlier test left in Dash's global registry
    # would join this bare app (and fail against its layout): they belong to no app here.
    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()
    _callback.GLOBAL_INLINE_SCRIPTS.clear()
    app = dash.Dash(__name__, assets_folder=str(ROOT / "assets"))
    app.layout = html.Div([html.Button("load", id="t-load"), html.Div(id="t-clicked"),
                           html.Div(create_region_map("t"), style={"height": "700px"})])

    @app.callback(Output("t-clicked", "children"), Input("t-geojson", "clickData"),
                  prevent_initial_call=True)
    def clicked(feature):
        return feature["properties"]["code"]

    @app.callback(Output("t-geojson", "data"), Output("t-legend", "children"),
                  Output("t-note", "children"), Output("t-map", "viewport"),
                  Input("t-load", "n_clicks"))
    def fill(_):
        layer = map_layer(features, values, indicator)
        return layer.geojson, layer.legend, layer.note, {"bounds": layer.bounds, "transition": "fitBounds"}

    dash_duo.start_server(app)
    dash_duo.wait_for_element("#t-map path.leaflet-interactive", timeout=30)
    dash_duo.wait_for_contains_text("#t-legend", "经营异常名录占比", timeout=10)
    paths = dash_duo.find_elements("#t-map path.leaflet-interactive")
    assert len(paths) == 36
    fills = {p.get_attribute("fill").lower() for p in paths}
    assert "#3a4a63" in fills and "#ff3b3b" in fills  # no-data grey and red grade drawn
    assert dash_duo.find_element("#t-legend").is_displayed()
    assert "示意" in dash_duo.find_element("#t-note").text
    assert dash_duo.find_elements("img.leaflet-tile") == []
    # the polygons fill the map view (viewport fitted to the bounds)
    box = dash_duo.find_element("#t-map").rect
    xs = [p.rect for p in paths]
    width = max(r["x"] + r["width"] for r in xs) - min(r["x"] for r in xs)
    assert width > box["width"] * 0.3
    # hover: tooltip with name and value; click: clickData carries the feature's code
    target = paths[5]
    ActionChains(dash_duo.driver).move_to_element(target).perform()
    dash_duo.wait_for_element(".leaflet-tooltip", timeout=10)
    tip = dash_duo.find_element(".leaflet-tooltip").text
    assert "经营异常名录占比" in tip and "%" in tip
    name = tip.splitlines()[0]
    target.click()
    code = {f["properties"]["name"]: f["properties"]["code"] for f in features["features"]}[name]
    dash_duo.wait_for_text_to_equal("#t-clicked", code, timeout=10)
    severe = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert severe == []
    hosts = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href]);")
    external = [u for u in hosts if urlparse(u).hostname not in LOOPBACK and urlparse(u).scheme in ("http", "https")]
    assert external == []
