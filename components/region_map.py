"""The region map of the wall and the drill-down page (pure factories, no database).

``create_region_map(prefix)`` builds the container once (layout time);
``map_layer(features, values, indicator)`` turns a FeatureCollection from
``queries.geo.children_features`` and the children's values into everything a
callback writes back:

    layer = map_layer(children_features(db, code), values, CATALOGUE["abnormal_rate"])
    return layer.geojson, layer.legend, layer.note, {"bounds": layer.bounds}
    # Outputs: f"{p}-geojson".data, f"{p}-legend".children, f"{p}-note".children,
    #          f"{p}-map".viewport   (bounds None = leave the view alone)

A click on a polygon sets ``f"{p}-geojson".clickData`` to the clicked feature
(``clickData["properties"]["code"]``). ``hideout={"selected": code}`` outlines one
region in white. No tile layer unless a tile URL (``JINJIAN_TILE_URL``) is given:
government intranets have no internet, the boundaries are drawn on a plain dark
background. Polygon styling is ``assets/region_map.js``.
"""
from __future__ import annotations

import html as _html
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import dash_leaflet as dl
import numpy as np
from dash import html

from components.format import finite_or_none, format_cn
from indicators.model import GRADES, Indicator

__all__ = ["MapLayer", "create_region_map", "map_layer", "QUANTILE_COLOURS", "NO_DATA_COLOUR",
           "STYLE_FUNCTION", "HOVER_FUNCTION"]

#: Sequential blues for quantile classes, low → high (brighter = more on the dark theme).
QUANTILE_COLOURS = ("#123a6b", "#1c5a9e", "#2b7fd0", "#4fa8f0", "#9fd6ff")
NO_DATA_COLOUR = "#3a4a63"
STYLE_FUNCTION = "dashExtensions.jinjian.styleByColour"
HOVER_FUNCTION = "dashExtensions.jinjian.hoverStyle"
_CHINA_CENTRE = [35.0, 104.0]
_GRADE_ORDER = ("normal", "blue", "yellow", "orange", "red")


class MapLayer(NamedTuple):
    geojson: dict
    legend: list
    note: list
    bounds: list[list[float]] | None


#: The GeoJSON layer's initial ``hideout`` (read by STYLE_FUNCTION in region_map.js).
DEFAULT_HIDEOUT: dict[str, Any] = {"selected": None, "color": "#7fdcff", "weight": 1, "fillOpacity": 0.78,
                                   "noData": NO_DATA_COLOUR}


def create_region_map(prefix: str, tile_url: str = "", extra_layers: list[Any] | None = None) -> html.Div:
    """Map container: ``{prefix}-map`` (dl.Map) holding ``{prefix}-geojson`` and any
    ``extra_layers`` above it, with ``{prefix}-legend`` and ``{prefix}-note`` overlaid.
    No tiles unless ``tile_url``."""
    layers: list[Any] = []
    if tile_url:
        layers.append(dl.TileLayer(url=tile_url, attribution=""))
    layers.append(dl.GeoJSON(
        id=f"{prefix}-geojson", data=None,
        hideout=dict(DEFAULT_HIDEOUT),
        style={"variable": STYLE_FUNCTION},
        hoverStyle={"variable": HOVER_FUNCTION},
    ))
    layers.extend(extra_layers or [])
    return html.Div(
        [
            dl.Map(layers, id=f"{prefix}-map", center=_CHINA_CENTRE, zoom=4, minZoom=2, maxZoom=18,
                   zoomSnap=0.25, zoomControl=True, attributionControl=False,
                   className="region-map-canvas", style={"height": "100%", "width": "100%"}),
            html.Div(id=f"{prefix}-legend", className="region-map-legend"),
            html.Div(id=f"{prefix}-note", className="region-map-note"),
        ],
        id=f"{prefix}-map-box", className="region-map",
    )


# --------------------------------------------------------------------------- layer



def _fmt(value: float | None, ind: Indicator) -> str:
    if value is None:
        return "—"
    if ind.is_ratio or ind.decimals:
        return f"{value:,.{ind.decimals}f}"
    return format_cn(value)


def _quantile_breaks(values: list[float], classes: int = 5) -> list[float]:
    """Upper bounds of the first ``classes - 1`` quantile classes, distinct and sorted."""
    if not values:
        return []
    qs = np.quantile(np.asarray(values, dtype=float), [i / classes for i in range(1, classes)])
    hi = max(values)
    return sorted({float(q) for q in qs if q < hi})


def _class_of(value: float, breaks: list[float]) -> int:
    for i, b in enumerate(breaks):
        if value <= b:
            return i
    return len(breaks)


def _palette(n: int) -> list[str]:
    if n <= 1:
        return [QUANTILE_COLOURS[2]]
    last = len(QUANTILE_COLOURS) - 1
    return [QUANTILE_COLOURS[round(i * last / (n - 1))] for i in range(n)]


def _threshold_ranges(ind: Indicator) -> dict[str, str]:
    t = ind.thresholds
    assert t is not None
    f = lambda v: _fmt(float(v), ind)  # noqa: E731
    if t.direction == "higher_worse":
        return {"normal": f"< {f(t.blue)}", "blue": f"{f(t.blue)} – {f(t.yellow)}",
                "yellow": f"{f(t.yellow)} – {f(t.orange)}", "orange": f"{f(t.orange)} – {f(t.red)}",
                "red": f"≥ {f(t.red)}"}
    return {"normal": f"> {f(t.blue)}", "blue": f"{f(t.yellow)} – {f(t.blue)}",
            "yellow": f"{f(t.orange)} – {f(t.yellow)}", "orange": f"{f(t.red)} – {f(t.orange)}",
            "red": f"≤ {f(t.red)}"}


def _legend_row(colour: str, label: str, text: str, count: int, key: str) -> html.Div:
    return html.Div([
        html.Span(className="legend-swatch", style={"backgroundColor": colour}),
        html.Span(label, className="legend-label"),
        html.Span(text, className="legend-range"),
        html.Span(f"{count}", className="legend-count", title="区域数"),
    ], className="legend-row", **{"data-class": key})


def _bounds(features: list[dict]) -> list[list[float]] | None:
    lo = [math.inf, math.inf]
    hi = [-math.inf, -math.inf]

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            x, y = coords[0], coords[1]
            lo[0], lo[1] = min(lo[0], x), min(lo[1], y)
            hi[0], hi[1] = max(hi[0], x), max(hi[1], y)
            return
        for c in coords:
            walk(c)

    for feat in features:
        geom = feat.get("geometry") or {}
        if geom.get("type") == "GeometryCollection":
            for g in geom.get("geometries", []):
                walk(g.get("coordinates") or [])
        else:
            walk(geom.get("coordinates") or [])
    if lo[0] == math.inf:
        return None
    return [[lo[1], lo[0]], [hi[1], hi[0]]]


def schematic_note(schematic: int, total: int, en: bool = False) -> str:
    """The map's note on generated boundaries: all of them, or how many of the shown areas."""
    if schematic >= total:
        return "Schematic boundaries" if en else "边界为示意"
    if en:
        return f"{schematic} of {total} boundaries schematic; the others are real"
    return f"{schematic}/{total} 个边界为示意，其余为真实边界"


def map_layer(features: dict, values: Mapping[str, float], indicator: Indicator,
              lang: str = "zh") -> MapLayer:
    """Colour ``features`` (a FeatureCollection from ``queries.geo``) by ``values``
    (child code → value). Pure: the input is not modified.

    Each feature's properties gain ``value`` (float or None), ``label`` (formatted:
    万/亿 for counts, ``indicator.decimals`` for ratios, "—" for no value), ``fill``
    (colour), ``grade`` (a ``GRADES`` key for thresholded indicators, ``q1``…``q5``
    quantile class otherwise, None without value) and ``tooltip`` (HTML: name and
    value with unit). Colours: grade colours when the indicator has thresholds, else
    up to 5 quantile classes in sequential blues; no value grey.
    """
    en = lang == "en"
    ind = indicator
    src = list((features or {}).get("features") or [])
    vals = {f["properties"]["code"]: finite_or_none(values.get(f["properties"]["code"])) for f in src}
    present = [v for v in vals.values() if v is not None]

    grade_of: dict[str, str | None] = {}
    fill_of: dict[str, str] = {}
    rows: list[Any] = []
    if ind.thresholds is not None:
        for code, v in vals.items():
            g = ind.thresholds.grade(v)
            grade_of[code] = g
            fill_of[code] = GRADES[g][1] if g else NO_DATA_COLOUR
        ranges = _threshold_ranges(ind)
        for g in reversed(_GRADE_ORDER):  # most severe first
            name_zh, colour = GRADES[g]
            label = {"normal": "Normal"}.get(g, g.capitalize()) if en else name_zh
            rows.append(_legend_row(colour, label, ranges[g],
                                    sum(1 for x in grade_of.values() if x == g), g))
    else:
        breaks = _quantile_breaks(present)
        palette = _palette(len(breaks) + 1)
        for code, v in vals.items():
            if v is None:
                grade_of[code], fill_of[code] = None, NO_DATA_COLOUR
            else:
                k = _class_of(v, breaks)
                grade_of[code], fill_of[code] = f"q{k + 1}", palette[k]
        if present:
            edges = [min(present)] + breaks + [max(present)]
            for k in reversed(range(len(breaks) + 1)):  # highest first
                lo, hi = edges[k], edges[k + 1]
                text = _fmt(lo, ind) if lo == hi else f"{_fmt(lo, ind)} – {_fmt(hi, ind)}"
                label = (f"Class {k + 1}" if en else f"第{k + 1}档")
                rows.append(_legend_row(palette[k], label, text,
                                        sum(1 for x in grade_of.values() if x == f"q{k + 1}"),
                                        f"q{k + 1}"))
    n_none = sum(1 for v in vals.values() if v is None)
    if n_none:
        rows.append(_legend_row(NO_DATA_COLOUR, "No data" if en else "无数据", "—", n_none, "none"))

    name = ind.name_en if en else ind.name_zh
    method = ("" if ind.thresholds is not None
              else (" · quantiles" if en else " · 五分位分档"))
    legend = [html.Div([html.Span(name, className="legend-name"),
                        html.Span(f"（{ind.unit}）{method}" if ind.unit else method,
                                  className="legend-unit")], className="legend-title"),
              *rows]

    out_features = []
    for feat in src:
        props = dict(feat.get("properties") or {})
        code = props["code"]
        v = vals[code]
        label = _fmt(v, ind)
        unit = ind.unit if v is not None else ""
        props.update(value=v, label=label, fill=fill_of[code], grade=grade_of[code],
                     tooltip=f"<b>{_html.escape(str(props.get('name', code)))}</b><br>"
                             f"{_html.escape(name)}：{_html.escape(label + unit)}")
        out_features.append({**feat, "properties": props})
    geojson = {k: v for k, v in (features or {}).items() if k != "features"}
    geojson.setdefault("type", "FeatureCollection")
    geojson["features"] = out_features

    note: list[Any] = []
    schematic = [f for f in src if (f.get("properties") or {}).get("schematic")]
    if schematic:
        note.append(html.Div(schematic_note(len(schematic), len(src), en), className="note-schematic"))
    missing = list((features or {}).get("missing") or [])
    if missing:
        known = {f["properties"]["code"]: f["properties"].get("name") for f in src}
        known.update((features or {}).get("missing_names") or {})
        names = "、".join(str(known.get(c) or c) for c in missing)
        note.append(html.Div(f"No boundary data: {names}" if en else f"无边界数据：{names}",
                             className="note-missing"))
    return MapLayer(geojson=geojson, legend=legend, note=note, bounds=_bounds(src))
