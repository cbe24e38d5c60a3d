"""Named SELECTs with bound parameters → DataFrames: :func:`run`, in front of the SQL
chokepoint (:mod:`store.sql`) with the shared cache of screen queries (:mod:`store.cache`),
keyed by the viewer's scope and the data version (:mod:`store.versions`).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Mapping

import pandas as pd

from store import cache, sql, versions
from store.engine import Engine
from store.filters import default_scope

logger = logging.getLogger(__name__)


#: The parameters that bound a screen query's answer in time (a period's end, the cut of a
#: partial day): when all of them are past days the answer is history (:func:`history_day`).
TIME_BOUNDS = ("end", "until")


def run(db: Engine, name: str, query: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Execute a named SELECT with bound parameters and return a DataFrame.

    Screen aggregates (``store.cache.CACHEABLE``) go through the shared cache when
    one is installed, keyed by the viewer's scope and the data version as well — for an
    answer about past days (:func:`history_day`) the version of what is dated by then,
    which today's live batches do not change, kept as long as a shared view."""
    text = sql.render(query, params)
    if cache.cacheable(name):
        day = history_day(params)
        version = versions.data_version_or_zero(db) if day is None else versions.history_version_or_zero(db, day)
        key = cache.cache_key(db.identity, name if day is None else f"{name}@history", text,
                              default_scope().prefix, version)
        return cache.cached(key, lambda: sql.run_text(db, name, text), None if day is None else cache.history_seconds())
    return sql.run_text(db, name, text)


def history_day(params: Mapping[str, Any] | None, today: dt.date | None = None) -> dt.date | None:
    """The last day a query's answer depends on, when its time bounds (:data:`TIME_BOUNDS`)
    are dates or times all before ``today``; None for a query about today or not bounded."""
    days = []
    for key in TIME_BOUNDS:
        value = (params or {}).get(key)
        if isinstance(value, dt.datetime):
            days.append(value.date())
        elif isinstance(value, dt.date):
            days.append(value)
        elif value is not None:
            return None  # a bound of another kind: treat as live
    if not days:
        return None
    last = max(days)
    return last if last < (today or dt.date.today()) else None
