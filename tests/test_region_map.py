"""Region map factories: colours, labels, legend, notes, bounds; no tiles, no internet."""
from __future__ import annotations

import copy
import json
import re

import dash_leaflet as dl
import pytest
from dash import html

from components.format import format_cn
from components.region_map import (HOVER_FUNCTION, NO_DATA_COLOUR, QUANTILE_COLOURS, STYLE_FUNCTION,
                                   MapLayer, create_region_map, map_layer)
from indicators.catalogue import CATALOGUE
from indicators.model import GRADES
from settings import ROOT


def _square(code, name, x, y, size=1.0, schematic=False):
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Feature", "properties": {"code": code, "name": name, "schematic": schematic},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _fc(n=10, schematic=False, missing=(), missing_names=None):
    feats = [_square(f"44{i:02d}", f"区{i}", 110 + i, 20 + i / 2, schematic=schematic) for i in range(n)]
    fc = {"type": "FeatureCollection", "features": feats, "missing": list(missing)}
    if missing_names is not None:
        fc["missing_names"] = missing_names
    return fc


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for c in children:
            yield from _walk(c)
    elif children is not None and not isinstance(children, (str, int, float)):
        yield from _walk(children)


def _text(components) -> str:
    out = []
    for comp in components:
        for node in _walk(comp):
            if isinstance(node, str):
                out.append(node)
            elif isinstance(getattr(node, "children", None), str):
                out.append(node.children)
    return " ".join(out)


def _props(layer: MapLayer) -> dict[str, dict]:
    return {f["properties"]["code"]: f["properties"] for f in layer.geojson["features"]}


def test_thresholded_indicator_uses_grade_colours():
    ind = CATALOGUE["abnormal_rate"]  # higher_worse 3 / 4 / 5 / 8 %
    fc = _fc(6)
    values = {"4400": 1.0, "4401": 3.0, "4402": 4.5, "4403": 5.0, "4404": 9.25, "4405": None}
    before = copy.deepcopy(fc)
    layer = map_layer(fc, values, ind)
    assert fc == before  # pure
    props = _props(layer)
    expected = {"4400": "normal", "4401": "blue", "4402": "yellow", "4403": "orange", "4404": "red"}
    for code, grade in expected.items():
        assert props[code]["grade"] == grade
        assert props[code]["fill"] == GRADES[grade][1]
    assert props["4404"]["label"] == "9.25" and props["4404"]["value"] == 9.25
    assert props["4405"]["value"] is None and props["4405"]["label"] == "—"
    assert props["4405"]["fill"] == NO_DATA_COLOUR and props["4405"]["grade"] is None
    assert "区4" in props["4404"]["tooltip"] and "9.25%" in props["4404"]["tooltip"]
    # legend: title + five grades (most severe first) + no-data row
    rows = [c for c in layer.legend if "legend-row" in (c.className or "")]
    assert [r.__dict__["data-class"] for r in rows] == ["red", "orange", "yellow", "blue", "normal", "none"]
    text = _text(layer.legend)
    assert "经营异常名录占比" in text and "%" in text and "≥ 8.00" in text and "< 3.00" in text
    assert "红色" in text and "无数据" in text
    json.dumps(layer.geojson)  # JSON-ready


def test_count_indicator_uses_quantile_classes():
    ind = CATALOGUE["entity_stock"]
    fc = _fc(10)
    values = {f"44{i:02d}": float((i + 1) * 1000) for i in range(10)}
    values["4409"] = 123456.0
    layer = map_layer(fc, values, ind)
    props = _props(layer)
    grades = [props[f"44{i:02d}"]["grade"] for i in range(10)]
    assert grades == ["q1", "q1", "q2", "q2", "q3", "q3", "q4", "q4", "q5", "q5"]
    assert [props[f"44{i:02d}"]["fill"] for i in (0, 2, 4, 6, 8)] == list(QUANTILE_COLOURS)
    assert props["4409"]["label"] == format_cn(123456.0) == "12.35万"
    assert props["4400"]["label"] == "1,000"
    rows = [c for c in layer.legend if "legend-row" in (c.className or "")]
    assert len(rows) == 5
    text = _text(layer.legend)
    assert "市场主体总量" in text and "五分位" in text and "1,000" in text and "12.35万" in text
    # the legend's breaks are consistent with the classes
    assert rows[-1].__dict__["data-class"] == "q1" and rows[0].__dict__["data-class"] == "q5"


def test_quantile_with_ties_and_missing_values():
    ind = CATALOGUE["entity_stock"]
    fc = _fc(4)
    layer = map_layer(fc, {"4400": 5, "4401": 5, "4402": float("nan")}, ind)
    props = _props(layer)
    assert props["4400"]["grade"] == props["4401"]["grade"] == "q1"
    assert props["4402"]["label"] == props["4403"]["label"] == "—"
    assert props["4402"]["fill"] == props["4403"]["fill"] == NO_DATA_COLOUR
    rows = [c for c in layer.legend if "legend-row" in (c.className or "")]
    assert [r.__dict__["data-class"] for r in rows] == ["q1", "none"]
    empty = map_layer(_fc(3), {}, ind)
    assert all(p["fill"] == NO_DATA_COLOUR for p in _props(empty).values())


def test_notes_schematic_and_missing():
    ind = CATALOGUE["entity_stock"]
    real = map_layer(_fc(3), {}, ind)
    assert real.note == []
    fc = _fc(3, schematic=True, missing=["130171"], missing_names={"130171": "石家庄高新技术产业开发区"})
    text = _text(map_layer(fc, {}, ind).note)
    assert "示意" in text and "无边界数据：石家庄高新技术产业开发区" in text
    # without names the code is shown
    text = _text(map_layer(_fc(2, missing=["130172", "130173"]), {}, ind).note)
    assert "无边界数据：130172、130173" in text and "示意" not in text


def test_note_counts_schematic_areas_when_some_boundaries_are_real():
    """Loaded (real) town/village boundaries beside generated ones: the note says how many."""
    ind = CATALOGUE["entity_stock"]
    fc = _fc(3, schematic=True)
    fc["features"][0]["properties"]["schematic"] = False
    assert "2/3 个边界为示意，其余为真实边界" in _text(map_layer(fc, {}, ind).note)
    assert "2 of 3 boundaries schematic" in _text(map_layer(fc, {}, ind, lang="en").note)
    every = _text(map_layer(_fc(3, schematic=True), {}, ind).note)
    assert "边界为示意" in every and "个边界为示意" not in every  # all generated: the short note


def test_bounds():
    fc = _fc(3)  # squares at (110, 20), (111, 20.5), (112, 21), size 1
    assert map_layer(fc, {}, CATALOGUE["entity_stock"]).bounds == [[20, 110], [22, 113]]
    multi = {"type": "FeatureCollection", "missing": [], "features": [{
        "type": "Feature", "properties": {"code": "11", "name": "x", "schematic": False},
        "geometry": {"type": "MultiPolygon", "coordinates": [
            [[[1, 2], [3, 2], [3, 4], [1, 2]]], [[[-5, -1], [0, -1], [0, 0], [-5, -1]]]]}}]}
    assert map_layer(multi, {}, CATALOGUE["entity_stock"]).bounds == [[-1, -5], [4, 3]]
    assert map_layer({"type": "FeatureCollection", "features": [], "missing": []}, {},
                     CATALOGUE["entity_stock"]).bounds is None


def _all_components(tree):
    return list(_walk(tree))


def test_create_region_map_ids_and_no_tiles_by_default():
    box = create_region_map("wall")
    nodes = _all_components(box)
    ids = {getattr(n, "id", None) for n in nodes} - {None}
    assert {"wall-map", "wall-geojson", "wall-legend", "wall-note"} <= ids
    assert all(i.startswith("wall-") for i in ids)
    assert not any(isinstance(n, dl.TileLayer) for n in nodes)
    m = next(n for n in nodes if isinstance(n, dl.Map))
    assert m.attributionControl is False and m.style["height"] == "100%"
    gj = next(n for n in nodes if isinstance(n, dl.GeoJSON))
    assert gj.data is None and isinstance(gj.hideout, dict)
    assert gj.style == {"variable": STYLE_FUNCTION} and gj.hoverStyle == {"variable": HOVER_FUNCTION}
    assert isinstance(next(n for n in nodes if getattr(n, "id", None) == "wall-legend"), html.Div)


def test_create_region_map_with_tile_url():
    url = "http://10.0.0.8/tiles/{z}/{x}/{y}.png"
    tiles = [n for n in _all_components(create_region_map("d", tile_url=url)) if isinstance(n, dl.TileLayer)]
    assert len(tiles) == 1 and tiles[0].url == url


def test_js_asset_defines_functions_and_is_offline():
    js = (ROOT / "assets" / "region_map.js").read_text(encoding="utf-8")
    for ref in (STYLE_FUNCTION, HOVER_FUNCTION):
        ns, fn = ref.rsplit(".", 1)
        assert ns == "dashExtensions.jinjian"
        assert re.search(rf"\b{fn}\s*:\s*function\s*\(", js), fn
    assert "window.dashExtensions.jinjian" in js and "properties" in js and ".fill" in js
    for name in ("region_map.js", "region_map.css"):
        text = (ROOT / "assets" / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert "@import" not in text and "url(" not in text


def test_component_module_has_no_external_urls():
    src = (ROOT / "components" / "region_map.py").read_text(encoding="utf-8")
    assert not re.search(r"https?://", src)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lang(lang):
    layer = map_layer(_fc(2, schematic=True), {"4400": 1}, CATALOGUE["abnormal_rate"], lang=lang)
    text = _text(layer.legend + layer.note)
    assert ("Abnormal" in text) == (lang == "en") and ("示意" in text) == (lang == "zh")


@pytest.mark.parametrize("url, ok", [
    ("", True), ("http://10.0.0.8/tiles/{z}/{x}/{y}.png", True), ("https://gis.local/{z}/{y}/{x}", True),
    ("ftp://x/{z}/{x}/{y}", False), ("http://10.0.0.8/tiles.png", False), ("/tiles/{z}/{x}/{y}", False),
])
def test_tile_url_setting(url, ok):
    from settings import ConfigError, Settings

    if ok:
        assert Settings.from_env({"JINJIAN_TILE_URL": url}).tile_url == url
    else:
        with pytest.raises(ConfigError, match="JINJIAN_TILE_URL"):
            Settings.from_env({"JINJIAN_TILE_URL": url})
