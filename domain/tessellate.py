"""Splitting a polygon into compact cells, and random points inside polygons: the
geometry behind the schematic (示意) boundaries of :mod:`domain.boundaries`.

A polygon is split among ``n`` children by a Voronoi diagram of seed points inside it,
each cell clipped to it. Seeds come from a few k-means rounds over random points inside
the polygon (a rough centroidal tessellation, so cells are compact and of similar size),
in a locally isotropic projection (longitude scaled by cos(latitude)). The random
generator is seeded from a key (sha256), so the output is deterministic.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)


def polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Keep only the polygonal part of ``geom``; None when nothing is left."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


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


def voronoi_cells(area: BaseGeometry, n: int, key: str) -> list[BaseGeometry | None]:
    """``area`` split into ``n`` compact cells in reading order (north to south); a cell
    is None only if clipping left nothing polygonal (not expected)."""
    if n == 1:
        return [area]
    rng = _rng_for(key)
    x0, y0, x1, y1 = area.bounds
    kx = float(np.cos(np.radians((y0 + y1) / 2)))  # local isotropy: metres east ≈ metres north
    samples = _points_inside(area, max(min(16 * n + 256, 8192), 2 * n), rng)
    scale = np.array([kx, 1.0])
    seeds = _kmeans_seeds(samples * scale, n, rng)
    seeds = seeds[_reading_order(seeds)]
    frame = shapely.box(x0 * kx - 1, y0 - 1, x1 * kx + 1, y1 + 1)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame,
                                                       ordered=True))
    cells = shapely.transform(cells, lambda c: c / scale)
    shapely.prepare(area)
    inside = shapely.contains_properly(area, cells)
    clipped = np.where(inside, cells, shapely.intersection(np.where(inside, None, cells), area))
    return [polygonal(c) for c in clipped]


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


