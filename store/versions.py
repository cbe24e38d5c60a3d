"""Data versions: numbers that grow whenever data are loaded, so that caches know when to
forget. ``data_version`` keys the query cache and the wall's live redraw (any loaded
ingestion or reference batch); ``reference_version`` keys what is derived from grids,
boundaries, grid workers and departments alone (region nodes, known grids, maps).
"""
from __future__ import annotations

import logging
import time

import pandas as pd

from domain.errors import JinjianError
from store.engine import Engine
from store.sql import render, run_text

logger = logging.getLogger(__name__)

__all__ = ["data_version", "data_version_or_zero", "reference_version", "forget_versions"]

REFERENCE_SECONDS = 2.0
_DATA: dict[str, tuple[float, int]] = {}
_REFERENCE: dict[tuple[str, str], tuple[float, int]] = {}
#: Reference kinds whose loads change the town and village polygons.
BOUNDARY_KINDS = ("boundaries_town", "boundaries_village")


def _query(db: Engine, name: str, text: str, params: dict | None = None) -> pd.DataFrame:
    return run_text(db, name, render(text, params))


def data_version(db: Engine, max_age: float = 0.5) -> int:
    """A number that grows whenever a batch is loaded — ingestion or reference data (grids,
    boundaries, workers, departments) — cheap, cached for ``max_age`` s: the newest loaded
    batch's time in milliseconds (below 2**53, exact in a browser)."""
    hit = _DATA.get(db.identity)
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1]
    df = _query(db, "ingest_data_version", """
        SELECT max(v) AS v FROM (
            SELECT max(version) AS v FROM ingest_batches WHERE state = 'loaded'
            UNION ALL SELECT max(version) AS v FROM reference_batches WHERE state = 'loaded')""")
    value = int(df["v"].iloc[0]) // 1_000_000 if not df.empty and pd.notna(df["v"].iloc[0]) else 0
    _DATA[db.identity] = (time.monotonic(), value)
    return value


def reference_version(db: Engine, max_age: float = REFERENCE_SECONDS, kinds: tuple[str, ...] = ()) -> int:
    """The ``version`` of the newest loaded reference batch — of ``kinds`` only when given
    (``BOUNDARY_KINDS``: what the maps' polygons depend on) — 0 when none, or before the
    table exists; cached for ``max_age`` seconds per database."""
    key = (db.identity, ",".join(kinds))
    hit = _REFERENCE.get(key)
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1]
    only = " AND kind IN %(kinds)s" if kinds else ""
    try:
        df = _query(db, "reference_version", "SELECT max(version) AS v FROM reference_batches "
                    f"WHERE state = 'loaded'{only}", {"kinds": list(kinds)} if kinds else None)
        value = int(df["v"].iloc[0]) if not df.empty and pd.notna(df["v"].iloc[0]) else 0
    except JinjianError:
        value = 0
    _REFERENCE[key] = (time.monotonic(), value)
    return value


def forget_versions() -> None:
    """Drop cached versions (after a load in this process)."""
    _DATA.clear()
    _REFERENCE.clear()


def data_version_or_zero(db: Engine) -> int:
    """The data version cache keys carry (:func:`store.versions.data_version`); 0 before any
    ingestion table exists (the time-to-live alone bounds staleness then)."""
    try:
        return data_version(db)
    except JinjianError:
        return 0
