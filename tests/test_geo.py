"""queries.geo.children_features on both engines (Dongguan demo data)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from shapely.geometry import shape

from queries import geo
from domain.errors import ScopeViolation
from store.filters import RegionScope
from queries.regions import region_node


def _size(fc: dict) -> int:
    return len(json.dumps(fc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _codes(fc: dict) -> list[str]:
    return [f["properties"]["code"] for f in fc["features"]]


def _check_props(fc: dict) -> None:
    assert fc["type"] == "FeatureCollection"
    for f in fc["features"]:
        assert set(f["properties"]) == {"code", "name", "schematic"}
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_national_provinces(demo_db):
    fc = geo.children_features(demo_db, "")
    _check_props(fc)
    assert len(fc["features"]) == 31 and fc["missing"] == [] and fc["missing_names"] == {}
    assert not any(f["properties"]["schematic"] for f in fc["features"])
    assert {"广东省", "北京市"} <= {f["properties"]["name"] for f in fc["features"]}


def test_guangdong_cities(demo_db):
    fc = geo.children_features(demo_db, "44")
    _check_props(fc)
    assert len(fc["features"]) == 21 and fc["missing"] == []
    assert not any(f["properties"]["schematic"] for f in fc["features"])
    assert _size(fc) < 300_000


def test_dongguan_towns_skip_pass_through(demo_db):
    fc = geo.children_features(demo_db, "4419")
    _check_props(fc)
    assert len(fc["features"]) == 36 and fc["missing"] == []
    assert all(len(c) == 9 and c.startswith("441900") for c in _codes(fc))
    assert all(f["properties"]["schematic"] for f in fc["features"])
    assert _codes(fc) == list(region_node(demo_db, "4419").children["code"])


def _a_town_and_village(db) -> tuple[str, str]:
    towns = region_node(db, "4419").children["code"]
    town = towns.iloc[0]
    village = region_node(db, town).children["code"].iloc[0]
    return town, village


def test_town_villages_size(demo_db):
    town, _ = _a_town_and_village(demo_db)
    fc = geo.children_features(demo_db, town)
    assert len(fc["features"]) == len(region_node(demo_db, town).children) > 1
    assert all(f["properties"]["schematic"] for f in fc["features"])
    assert _size(fc) < 100_000


def test_village_grids(demo_db):
    _, village = _a_town_and_village(demo_db)
    grids = list(region_node(demo_db, village).children["code"])
    assert grids and all(len(g) == 15 for g in grids)
    fc = geo.children_features(demo_db, village)
    _check_props(fc)
    assert _codes(fc) == grids and fc["missing"] == []
    assert all(f["properties"]["schematic"] for f in fc["features"])
    # nested in the village polygon (up to simplification and 5-decimal rounding)
    from domain.boundaries import region_polygon

    outline, schematic = region_polygon(village)
    assert schematic and outline is not None
    tolerance = max(outline.bounds[2] - outline.bounds[0], outline.bounds[3] - outline.bounds[1]) / 100
    area = 0.0
    for f in fc["features"]:
        cell = shape(f["geometry"])
        assert outline.buffer(tolerance).contains(cell)
        area += cell.area
    assert area == pytest.approx(outline.area, rel=0.05)
    for f in fc["features"]:
        for c in f["geometry"]["coordinates"][0][:5]:
            assert round(c[0], 5) == c[0] and round(c[1], 5) == c[1]
    assert _size(fc) < 100_000


def test_development_zone_listed_as_missing(demo_db):
    fc = geo.children_features(demo_db, "1301")  # 石家庄市
    kids = region_node(demo_db, "1301").children
    assert "130171" in fc["missing"]
    assert fc["missing_names"]["130171"] == kids.set_index("code").loc["130171", "name"]
    assert "130171" not in _codes(fc)
    assert len(fc["features"]) + len(fc["missing"]) == len(kids)
    assert not any(f["properties"]["schematic"] for f in fc["features"])


def test_leaf_and_scope(demo_db):
    _, village = _a_town_and_village(demo_db)
    grid = region_node(demo_db, village).children["code"].iloc[0]
    assert geo.children_features(demo_db, grid)["features"] == []
    with pytest.raises(ScopeViolation):
        geo.children_features(demo_db, "4401", RegionScope("4419"))


def test_results_are_fresh_copies(demo_db):
    a = geo.children_features(demo_db, "4419")
    a["features"][0]["properties"]["name"] = "changed"
    a["features"].clear()
    b = geo.children_features(demo_db, "4419")
    assert len(b["features"]) == 36 and b["features"][0]["properties"]["name"] != "changed"


def test_concurrent_calls_agree(demo_db):
    geo.cache_clear()
    town, village = _a_town_and_village(demo_db)
    codes = ["", "44", "4419", town, village, "1301", "4401", "4403"]
    expected = {}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda c: (c, geo.children_features(demo_db, c)), codes * 3))
    for code, fc in results:
        expected.setdefault(code, fc)
        assert fc == expected[code], code
    geo.cache_clear()
    for code in codes:  # same as computed alone
        assert geo.children_features(demo_db, code) == expected[code]


def test_a_second_call_is_a_cache_hit(demo_db):
    """The province's map is drawn once; asking again draws nothing (a hit, no new miss) —
    checked by the cache's own counters, not by a clock (machines are noisy)."""
    first = geo.children_features(demo_db, "44")
    before = geo._features_json.cache_info()
    assert geo.children_features(demo_db, "44") == first
    after = geo._features_json.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_prepare_builds_the_maps_a_wall_shows_first(demo_db):
    """The root's map and each child's are built ahead: afterwards every one of them is a
    cache hit, and equal to what a screen asking for it gets."""
    geo.cache_clear()
    n = geo.prepare(demo_db, "4419")
    towns = list(region_node(demo_db, "4419").children["code"])
    assert n == 1 + len(towns) and len(towns) == 36
    misses = geo._features_json.cache_info().misses
    first = geo.children_features(demo_db, "4419")
    for town in towns:
        geo.children_features(demo_db, str(town))
    assert geo._features_json.cache_info().misses == misses  # nothing built again
    assert {f["properties"]["code"] for f in first["features"]} <= set(map(str, towns))
