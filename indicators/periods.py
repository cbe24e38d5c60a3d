"""Reporting periods: period-to-date, the previous period (环比) and a year ago (同比)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.errors import InvalidParameter


@dataclass(frozen=True)
class Period:
    """Days ``start``..``end``; with ``until``, the last day counts only up to that time of
    day (a comparison period matched to a period that ends now: like with like)."""
    start: dt.date
    end: dt.date
    until: dt.time | None = None

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


def cut_at(p: Period, now: dt.datetime | None = None) -> dt.time | None:
    """The time of day a comparison with ``p`` stops on its last day: ``now``'s (default: the
    clock's) when ``p`` ends today, so that today until now is set against the previous
    period until the same time; None (whole days) for a period that has ended."""
    now = now or dt.datetime.now()
    return now.time().replace(microsecond=0) if p.end == now.date() else p.until


def previous_period(p: Period, grain: str, now: dt.datetime | None = None) -> Period:
    """The same stretch of the previous period (环比): 1–20 Nov → 1–20 Oct; a
    stretch longer than the previous period is cut at its end. When ``p`` ends today,
    the stretch's last day counts until the same time of day (:func:`cut_at`)."""
    prev_start = period_start(p.start - dt.timedelta(days=1), grain)
    same = prev_start + (p.end - p.start)
    prev_end = min(same, p.start - dt.timedelta(days=1))
    return Period(prev_start, prev_end, cut_at(p, now) if prev_end == same else None)


def year_ago(p: Period, now: dt.datetime | None = None) -> Period:
    """The same dates one year earlier (同比), cut like :func:`previous_period`."""
    return Period(_shift_years(p.start, -1), _shift_years(p.end, -1), cut_at(p, now))


def span_text(p: Period) -> str:
    """``start 至 end`` (with the time of day a cut period's last day stops at)."""
    return f"{p.start} 至 {p.end}" + (f" {p.until:%H:%M}" if p.until else "")


def span_json(p: Period) -> dict[str, object]:
    """A comparison period for the API: start, end and ``until`` (HH:MM:SS or None)."""
    return {"start": p.start, "end": p.end, "until": p.until.strftime("%H:%M:%S") if p.until else None}
