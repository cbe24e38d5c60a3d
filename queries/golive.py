"""Go-live dates (上线日期): from which day a region's records are live work. Records
dated before their region's go-live date — or loaded with ``--history`` — are history:
they count in every stock, flow and report figure, but push no task (a locality that
onboards five years of registrations gets no phantom open tasks on its wall).
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from store.engine import Engine
from store.executor import run

logger = logging.getLogger(__name__)

__all__ = ["go_live_dates", "history_mask", "UNSET"]

UNSET = dt.date(1970, 1, 1)


def go_live_dates(db: Engine) -> dict[str, dt.date]:
    """region code → go-live date, for the regions that have one."""
    df = run(db, "go_live_dates", """
        SELECT region_code, argMax(go_live, version) AS d FROM go_live GROUP BY region_code""")
    return {str(r): pd.Timestamp(d).date() for r, d in zip(df["region_code"], df["d"])
            if pd.Timestamp(d).date() != UNSET}


def history_mask(places: pd.Series, when: pd.Series, dates: dict[str, dt.date]) -> pd.Series:
    """True for records dated before the go-live date of the deepest region (a prefix of
    their grid code) that has one; False where no region above them has one."""
    out = pd.Series(False, index=places.index)
    if not dates or places.empty:
        return out
    day = pd.to_datetime(when).dt.normalize()
    limit = pd.Series(pd.NaT, index=places.index, dtype="datetime64[ns]")
    for code in sorted(dates, key=len):  # deeper regions last: they win
        hit = places.astype(str).str.startswith(code)
        limit[hit] = pd.Timestamp(dates[code])
    return (day < limit).fillna(False).astype(bool)
