"""Chinese statutory working days (make-up workdays included) via chinese-calendar.

chinese-calendar covers 2004–2026. For a date it does not cover we fall back to
Monday–Friday and log a warning naming the years, never silently.
"""
from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

import numpy as np

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _is_workday_year(year: int) -> tuple[np.ndarray, bool]:
    """Boolean array (one per day of ``year``) and whether the calendar covered it."""
    import chinese_calendar

    first = dt.date(year, 1, 1)
    days = [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]
    try:
        return np.array([chinese_calendar.is_workday(d) for d in days]), True
    except NotImplementedError:
        logger.warning("chinese-calendar does not cover %d: counting Monday–Friday as working days", year)
        return np.array([d.weekday() < 5 for d in days]), False


def uncovered_years(start: dt.date, end: dt.date) -> list[int]:
    """Years in [start, end] that the holiday calendar does not cover."""
    return [y for y in range(start.year, end.year + 1) if not _is_workday_year(y)[1]]


def workdays(start: dt.date, end: dt.date) -> np.ndarray:
    """Working days in [start, end] as a sorted ``datetime64[D]`` array."""
    parts = []
    for year in range(start.year, end.year + 1):
        flags, _ = _is_workday_year(year)
        days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
        parts.append(days[flags])
    allw = np.concatenate(parts)
    return allw[(allw >= np.datetime64(start)) & (allw <= np.datetime64(end))]


def add_workdays(dates: np.ndarray, n: int) -> np.ndarray:
    """For each date, the ``n``-th working day after it (n ≥ 1): a task created on
    a date is due on that working day. Vectorised over ``datetime64[D]`` arrays."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    if dates.size == 0:
        return dates
    lo = dates.min().astype(dt.date)
    hi = dates.max().astype(dt.date) + dt.timedelta(days=n * 3 + 40)
    cal = workdays(lo, hi)
    idx = np.searchsorted(cal, dates, side="right") + (n - 1)
    return cal[idx]
