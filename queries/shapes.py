"""Geometry the operator loaded (``region_geo``, written by :mod:`etl.reference`): real
town and village boundaries, grid polygons and points, and the version that tells
caches when any reference file (grids, boundaries, workers, departments) was loaded.

The region map asks :func:`sync_boundaries` before it draws: when the version changed,
the loaded town/village boundaries are handed to :mod:`domain.boundaries`, which then uses
them instead of its schematic cells. Grid polygons are read per village when its grid
map is drawn (:func:`grid_shapes`).
"""
from __future__ import annotations

import logging
import threading

import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from domain import boundaries
from store.engine import Engine
from store.executor import run
from store.versions import BOUNDARY_KINDS, reference_version

logger = logging.getLogger(__name__)

__all__ = ["sync_boundaries", "grid_shapes", "grid_shapes_of", "loaded_boundaries"]

_synced: dict[str, int] = {}
_lock = threading.Lock()


def _geometries(df: pd.DataFrame) -> dict[str, BaseGeometry]:
    geoms = shapely.from_geojson(df["geometry"].to_numpy(dtype=object), on_invalid="ignore")
    return {c: g for c, g in zip(df["code"], geoms) if g is not None and not g.is_empty}


def loaded_boundaries(db: Engine, prefix: str = "") -> dict[str, BaseGeometry]:
    """Loaded town and village polygons under ``prefix``: code → geometry."""
    df = run(db, "region_geo_boundaries", """
        SELECT code, geometry FROM region_geo WHERE level IN (4, 5) AND code LIKE %(like)s AND geometry != ''""",
             {"like": prefix + "%"})
    return _geometries(df)


def sync_boundaries(db: Engine) -> int:
    """Hand the loaded town/village boundaries to :mod:`domain.boundaries` when the reference
    version changed since the last call for this database; return the version."""
    version = reference_version(db, kinds=BOUNDARY_KINDS)  # grids, workers and departments do not move them
    with _lock:
        if _synced.get(db.identity) == version:
            return version
        shapes = loaded_boundaries(db) if version else {}
        boundaries.use_loaded(shapes, key=(db.identity, version))
        _synced.clear()
        _synced[db.identity] = version
    logger.info("region boundaries: %d loaded polygons in use (reference version %d)", len(shapes), version)
    return version


def grid_shapes(db: Engine, village: str) -> dict[str, BaseGeometry]:
    """The loaded polygons of the grids of one village: code → geometry."""
    df = run(db, "region_geo_grids", """
        SELECT code, geometry FROM region_geo WHERE level = 6 AND code LIKE %(like)s AND geometry != ''""",
             {"like": village + "%"})
    return _geometries(df)


def grid_shapes_of(db: Engine, codes: list[str]) -> dict[str, BaseGeometry]:
    """The loaded polygons of these grids (those that have one): code → geometry."""
    wanted = sorted(set(codes))
    out: dict[str, BaseGeometry] = {}
    for i in range(0, len(wanted), 2000):  # bound IN lists stay far below the server's query-size limit
        out.update(_geometries(run(db, "region_geo_grid_codes", """
            SELECT code, geometry FROM region_geo WHERE level = 6 AND code IN %(codes)s AND geometry != ''""",
                                   {"codes": wanted[i:i + 2000]})))
    return out
