"""风险预警's risk map: pure component factories (no database, no server, no settings).

- :func:`create_risk_map`: ``components.region_map`` plus a pane of high-risk points;
- :func:`risk_map_layer` colours the children by their area grade
  (``queries.risk.risk_by_child``) with a categorical legend of the grades' bands
  and region counts (and the red / orange points);
- :func:`point_layer` gives red / orange entities (``high_risk_points``) as
  GeoJSON points (drawn as circle markers by region_map.js) linking to 主体画像;
- :func:`map_title`: the panel's note (the children's level, what a click does);
- :func:`map_hideout` outlines the selected grid (its details panel is
  ``components.risk_views.create_grid_details``).

Grade palette, bands and entity links come from ``components.risk_views``.
"""
from __future__ import annotations

import html as _html
from typing import Any, NamedTuple, Sequence

import dash_leaflet as dl
import pandas as pd
from dash import html

from components.region_map import DEFAULT_HIDEOUT, NO_DATA_COLOUR, create_region_map, map_layer
from components.region_table import level_of
from components.risk_views import (ENTITY_PATH, GRADE_COLOURS, GRADE_ORDER, GRADE_SHORT, NONE, entity_href,
                                   grade_ranges, round_or_none)
from domain.regions import LEVEL_NAMES_ZH
from indicators.catalogue import CATALOGUE
from supervision.risk import RISK_GRADES

POINTS_PANE = "risk-points-pane"


class RiskLayer(NamedTuple):
    geojson: dict
    legend: list
    note: list
    bounds: list[list[float]] | None
    counts: dict[str, int]   # children per area grade ('none' = no scored entity)


def create_risk_map(prefix: str, tile_url: str = "") -> html.Div:
    """The region map (``{prefix}-map``, ``{prefix}-geojson``, legend, note) with a
    pane above the polygons holding ``{prefix}-points`` (a GeoJSON layer of points)."""
    box = create_region_map(prefix, tile_url, extra_layers=[
        dl.Pane(dl.GeoJSON(id=f"{prefix}-points", data=None, pointToLayer={"variable": POINT_FUNCTION},
                           hideout={"pane": POINTS_PANE}), name=POINTS_PANE, style={"zIndex": 450})])
    box.className = f"{box.className} risk-map"
    return box


def map_hideout(selected: str | None) -> dict[str, Any]:
    """The GeoJSON ``hideout`` outlining ``selected`` (None: nothing) in white."""
    return {**DEFAULT_HIDEOUT, "selected": selected}


def _legend_row(colour: str, label: str, text: str, count: int, key: str, shape: str = "legend-swatch") -> html.Div:
    return html.Div([html.Span(className=shape, style={"backgroundColor": colour}),
                     html.Span(label, className="legend-label"), html.Span(text, className="legend-range"),
                     html.Span(str(count), className="legend-count")],
                    className="legend-row", **{"data-class": key})


def risk_map_layer(features: dict, by_child: pd.DataFrame, area_grades: Sequence[float],
                   points: pd.DataFrame | None = None) -> RiskLayer:
    """Colour ``features`` (``queries.geo.children_features``) by the area grade of
    ``by_child`` (``risk_by_child``: region_code, entities, high, high_share,
    avg_score, grade). Children without scored entities are grey. The legend lists
    the grades with their high-risk-share bands and region counts (and the red /
    orange points when ``points`` is given); boundary notes (示意, missing) come from
    ``components.region_map.map_layer``. Pure: the input is not modified."""
    base = map_layer(features, {}, CATALOGUE["high_risk_share"])
    rows = {str(r["region_code"]): r for r in by_child.to_dict("records")} if len(by_child) else {}
    schematic = any((f.get("properties") or {}).get("schematic") for f in (features or {}).get("features") or [])
    out, counts = [], {g: 0 for g in (*GRADE_ORDER, "none")}
    for feat in (features or {}).get("features") or []:
        props = dict(feat.get("properties") or {})
        r = rows.get(str(props.get("code")), {})
        n = int(r.get("entities") or 0)
        grade = r.get("grade") if n and r.get("grade") in GRADE_COLOURS else None
        counts[grade or "none"] += 1
        share, avg = round_or_none(r.get("high_share")), round_or_none(r.get("avg_score"))
        name = _html.escape(str(props.get("name", props.get("code"))))
        tip = (f"<b>{name}</b><br>评分主体 {n:,} 户 · 高风险 {int(r.get('high') or 0)} 户"
               f"（{NONE if share is None else f'{share:.2f}%'}）<br>平均评分 {NONE if avg is None else avg}"
               f" · 区域等级 {GRADE_SHORT[grade] if grade else '无主体'}")
        props.update(grade=grade, fill=GRADE_COLOURS[grade] if grade else NO_DATA_COLOUR, entities=n,
                     high=int(r.get("high") or 0), high_share=share, avg_score=avg, tooltip=tip)
        out.append({**feat, "properties": props})
    geojson = {**base.geojson, "features": out}
    ranges = grade_ranges(area_grades, "%")
    legend: list[Any] = [html.Div([html.Span("区域风险等级", className="legend-name"),
                                   html.Span("（示意）" if schematic else "", className="legend-unit legend-schematic"),
                                   html.Div("按高风险（红、橙）主体占比", className="legend-unit")],
                                  className="legend-title")]
    legend += [_legend_row(GRADE_COLOURS[g], GRADE_SHORT[g], ranges[g], counts[g], g) for g in GRADE_ORDER]
    if counts["none"]:
        legend.append(_legend_row(NO_DATA_COLOUR, "无", "无评分主体", counts["none"], "none"))
    if points is not None:
        for g in ("red", "orange"):
            legend.append(_legend_row(GRADE_COLOURS[g], f"{GRADE_SHORT[g]}点", f"{GRADE_SHORT[g]}色预警主体",
                                      int((points["grade"] == g).sum()) if len(points) else 0, f"point-{g}",
                                      "legend-dot"))
    return RiskLayer(geojson, legend, base.note, base.bounds, counts)


def map_title(layer: RiskLayer, points: int, limit: int) -> str:
    """'下级网格 12 个 · 点击网格查看详情' (or '无下级区域'); says so when the
    ``points`` drawn reached ``limit``."""
    kids = len(layer.geojson["features"])
    if kids:
        level = LEVEL_NAMES_ZH.get(level_of(str(layer.geojson["features"][0]["properties"]["code"])) or -1, "区域")
        hint = "点击网格查看详情" if level == "网格" else "点击下钻"
        title = f"下级{level} {kids} 个 · {hint}"
    else:
        title = "无下级区域"
    if points >= limit:
        title += f" · 高风险点位显示评分最高的 {limit:,} 个"
    return title


#: Drawn by region_map.js (one Leaflet circle marker per feature, in the points pane):
#: one GeoJSON layer instead of a React component per point (740 markers with their tooltips
#: and popups took 5–6 s of browser time at 200 k entities; docs/scale.md §7).
POINT_FUNCTION = "dashExtensions.jinjian.riskPoint"


def point_layer(points: pd.DataFrame, date: str | None = None, prefix: str = ENTITY_PATH) -> dict[str, Any]:
    """Red and orange entities as a GeoJSON FeatureCollection of points (red on top: drawn
    last), each with its colour, radius, a tooltip and a popup linking to the entity page
    (``properties.tooltip`` / ``popup``, HTML-escaped; dash-leaflet binds them)."""
    feats = []
    for r in points.sort_values("score", kind="stable").itertuples(index=False):
        if r.grade not in ("red", "orange"):
            continue
        name, score = _html.escape(str(r.name)), float(r.score)
        href = _html.escape(entity_href(str(r.credit_code), date, prefix))
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r.lon), float(r.lat)]},
                      "properties": {
                          "grade": r.grade, "fill": GRADE_COLOURS[r.grade], "radius": 8 if r.grade == "red" else 6,
                          "tooltip": f"{name} · {score:.2f}分",
                          "popup": (f'<div class="risk-popup"><b>{name}</b><div>风险评分 {score:.2f}'
                                    f'（{RISK_GRADES[r.grade]}）</div><a href="{href}">查看主体画像</a></div>')}})
    return {"type": "FeatureCollection", "features": feats}


__all__ = ["POINTS_PANE", "RiskLayer", "create_risk_map", "map_hideout", "risk_map_layer", "map_title",
           "point_layer", "POINT_FUNCTION"]
