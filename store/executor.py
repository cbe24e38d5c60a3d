"""Named SELECTs with bound parameters → DataFrames: :func:`run`, in front of the SQL
chokepoint (:mod:`store.sql`) with the shared cache of screen queries (:mod:`store.cache`),
keyed by the viewer's scope and the data version (:mod:`store.versions`).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import pandas as pd

from store import cache, sql, versions
from store.engine import Engine
from store.filters import default_scope

logger = logging.getLogger(__name__)


def run(db: Engine, name: str, query: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Execute a named SELECT with bound parameters and return a DataFrame.

    Screen aggregates (``store.cache.CACHEABLE``) go through the shared cache when
    one is installed, keyed by the viewer's scope and the data version as well."""
    text = sql.render(query, params)
    if cache.cacheable(name):
        key = cache.cache_key(db.identity, name, text, default_scope().prefix,
                               versions.data_version_or_zero(db))
        return cache.cached(key, lambda: sql.run_text(db, name, text))
    return sql.run_text(db, name, text)
