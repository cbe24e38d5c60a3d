"""Column-wise geometry checks for grids and boundaries (shapely, vectorised).

- :func:`parse`: WKT or GeoJSON text → polygons; invalid ones repaired with
  ``make_valid`` (their polygonal part kept), others rejected with a reason;
- :func:`outside_share`: how much of each polygon lies outside the nearest real
  polygon of its parent (:func:`domain.boundaries.reference_polygon`), widened by
  :data:`TOLERANCE_M` metres; more than :data:`MAX_OUTSIDE_SHARE` is rejected.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from domain.boundaries import reference_polygon
from domain.tessellate import polygonal

logger = logging.getLogger(__name__)

#: A polygon may stray this far outside its parent's boundary (digitising differences).
TOLERANCE_M = 200.0
#: Share of a polygon's area allowed outside its parent's widened boundary.
MAX_OUTSIDE_SHARE = 0.10
_DEG_M = 111_320.0
_LON = (73.0, 136.0)
_LAT = (3.0, 54.0)


@dataclass
class Parsed:
    """Geometries of a column: ``geoms`` (None where empty or rejected), ``reason`` ('' = ok,
    else Chinese), ``repaired`` (made valid by ``make_valid``)."""

    geoms: np.ndarray
    reason: np.ndarray
    repaired: np.ndarray


def parse(texts: np.ndarray) -> Parsed:
    """Parse WKT or GeoJSON geometry texts ('' = no geometry)."""
    n = len(texts)
    texts = np.asarray(["" if t is None else t if isinstance(t, str) else str(t) for t in texts], dtype=object)
    geoms = np.full(n, None, dtype=object)
    reason = np.full(n, "", dtype=object)
    is_json = np.array([t.startswith("{") for t in texts], dtype=bool)
    given = texts != ""
    with np.errstate(all="ignore"):
        if (is_json & given).any():
            geoms[is_json] = shapely.from_geojson(texts[is_json], on_invalid="ignore")
        wkt = ~is_json & given
        if wkt.any():
            geoms[wkt] = shapely.from_wkt(texts[wkt], on_invalid="ignore")
    unreadable = given & shapely.is_missing(geoms)
    reason[unreadable] = "边界无法解析：应为 WKT（POLYGON/MULTIPOLYGON）或 GeoJSON 几何"
    ok = given & ~unreadable
    kinds = shapely.get_type_id(geoms)
    not_polygon = ok & ~np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    reason[not_polygon] = [f"边界应为多边形，实为 {g.geom_type}" for g in geoms[not_polygon]]
    ok &= ~not_polygon
    empty = ok & shapely.is_empty(geoms)
    reason[empty] = "边界为空多边形"
    ok &= ~empty
    bounds = shapely.bounds(np.where(ok, geoms, None))
    off = ok & ~((bounds[:, 0] >= _LON[0]) & (bounds[:, 2] <= _LON[1]) & (bounds[:, 1] >= _LAT[0]) & (bounds[:, 3] <= _LAT[1]))
    reason[off] = "边界坐标不在中国范围内：应为经纬度（WGS-84 / CGCS2000），不是投影坐标"
    ok &= ~off
    invalid = ok & ~shapely.is_valid(np.where(ok, geoms, None))
    repaired = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(invalid):
        fixed = polygonal(shapely.make_valid(geoms[i]))
        if fixed is None or fixed.area <= 0:
            reason[i] = f"多边形无效且无法修复（{shapely.is_valid_reason(geoms[i])}）"
        else:
            geoms[i], repaired[i] = fixed, True
    geoms[reason != ""] = None
    return Parsed(geoms, reason, repaired)


@lru_cache(maxsize=65536)
def _owner(code: str) -> str:
    return reference_polygon(code)[1]


@lru_cache(maxsize=64)
def _widened(owner: str) -> BaseGeometry:
    geom, _ = reference_polygon(owner)
    lat = (geom.bounds[1] + geom.bounds[3]) / 2
    # degrees of latitude; longitude widens a little more at this latitude, which only helps
    wide = geom.buffer(TOLERANCE_M / (_DEG_M * max(np.cos(np.radians(lat)), 0.2)), quad_segs=2)
    shapely.prepare(wide)
    return wide


def clear_cache() -> None:
    """Forget parent polygons (after boundaries were loaded)."""
    _owner.cache_clear()
    _widened.cache_clear()


def outside_share(parents: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry (polygon or point; None skipped) the share of it outside the widened
    real polygon of its ``parents`` code (points: 1.0 outside, 0.0 inside), and the code of
    the polygon it was checked against ('' when no real polygon exists: not checked)."""
    n = len(geoms)
    share = np.zeros(n)
    against = np.full(n, "", dtype=object)
    have = ~shapely.is_missing(geoms)
    uniq, inverse = np.unique(parents.astype(str), return_inverse=True)
    owners = np.array([_owner(p) for p in uniq], dtype=object)[inverse]
    for owner in np.unique(owners[have]):
        if not owner:
            continue
        wide = _widened(str(owner))
        idx = np.flatnonzero(have & (owners == owner))
        against[idx] = owner
        todo = idx[~shapely.contains_properly(wide, geoms[idx])]
        if not len(todo):
            continue
        part = geoms[todo]
        area = shapely.area(part)
        out = shapely.area(shapely.difference(part, wide))
        share[todo] = np.where(area > 0, out / np.where(area > 0, area, 1), 1.0)
    return share, against


def points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Point geometries (None where either coordinate is NaN)."""
    ok = ~(np.isnan(lon) | np.isnan(lat))
    out = np.full(len(lon), None, dtype=object)
    out[ok] = shapely.points(lon[ok], lat[ok])
    return out


def to_text(geoms: np.ndarray) -> np.ndarray:
    """GeoJSON text of each geometry, coordinates rounded to 1e-6° (about 0.1 m); ''
    for None. Where rounding would make a polygon invalid the exact one is kept."""
    out = np.full(len(geoms), "", dtype=object)
    have = ~shapely.is_missing(geoms)
    if not have.any():
        return out
    exact = geoms[have]
    rounded = shapely.transform(exact, lambda c: np.round(c, 6))
    rounded = np.where(shapely.is_valid(rounded), rounded, exact)
    out[have] = shapely.to_geojson(rounded)
    return out


def representative(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of a point inside each geometry; 0 where there is none."""
    lon = np.zeros(len(geoms))
    lat = np.zeros(len(geoms))
    have = ~shapely.is_missing(geoms)
    if have.any():
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[have]))
        lon[have], lat[have] = xy[:, 0], xy[:, 1]
    return lon, lat
