"""Reporting periods: period-to-date, the previous period (环比) and a year ago (同比)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.errors import InvalidParameter


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidParameter(f"period start {self.start} after end {self.end}",
                                   user_message="统计期间不正确")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def period_start(day: dt.date, grain: str) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    raise InvalidParameter(f"grain {grain!r}", user_message=f"时间粒度不正确：{grain!r}")


def period_to_date(day: dt.date, grain: str) -> Period:
    """From the start of the ``grain`` period containing ``day`` up to ``day``."""
    return Period(period_start(day, grain), day)


def _shift_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def previous_period(p: Period, grain: str) -> Period:
    """The same stretch of the previous period (环比): 1–20 Nov → 1–20 Oct; a
    stretch longer than the previous period is cut at its end."""
    prev_start = period_start(p.start - dt.timedelta(days=1), grain)
    prev_end = min(prev_start + (p.end - p.start), p.start - dt.timedelta(days=1))
    return Period(prev_start, prev_end)


def year_ago(p: Period) -> Period:
    """The same dates one year earlier (同比)."""
    return Period(_shift_years(p.start, -1), _shift_years(p.end, -1))
