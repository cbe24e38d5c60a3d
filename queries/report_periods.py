"""Report periods: 日报 / 周报 / 月报 / 季报 for the period containing a date.

A weekly report covers the ISO week (Monday–Sunday) that contains the date, a
monthly report the calendar month, a quarterly one the calendar quarter.

Periods and "today": a period that starts after today is an error (报告期尚未开始);
a date after today is an error (日期晚于今天). The *current* period is allowed as
period-to-date: it ends today and the report says so (本期尚未结束，数据截至 …).
Scheduled reports always cover the last complete period (:func:`last_complete`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from indicators.periods import Period, period_start
from domain.errors import InvalidParameter

#: kind → (indicator grain, report title, the grain's short Chinese name).
KINDS: dict[str, tuple[str, str, str]] = {
    "daily": ("day", "日报", "日"),
    "weekly": ("week", "周报", "周"),
    "monthly": ("month", "月报", "月"),
    "quarterly": ("quarter", "季报", "季"),
}
#: Words that name the period in sentences ("本周新设立…").
THIS: dict[str, str] = {"daily": "当日", "weekly": "本周", "monthly": "本月", "quarterly": "本季度"}


class ReportError(InvalidParameter):
    """A report cannot be made as asked (bad kind, date, region, future period)."""


def check_kind(kind: str | None) -> str:
    if kind not in KINDS:
        raise ReportError(f"unknown period kind {kind!r}; use one of {', '.join(KINDS)}",
                          user_message="报告周期不正确（可选 日报、周报、月报、季报）")
    return kind


def parse_day(value: str | dt.date | None) -> dt.date:
    if isinstance(value, dt.date):
        return value
    text = (value or "").strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"malformed date {value!r}; expected YYYY-MM-DD",
                          user_message=f"日期格式不正确：{value!r}（应为 年-月-日，如 2026-11-16）") from None


def _full_end(kind: str, start: dt.date) -> dt.date:
    if kind == "daily":
        return start
    if kind == "weekly":
        return start + dt.timedelta(days=6)
    months = 1 if kind == "monthly" else 3
    total = start.year * 12 + start.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1) - dt.timedelta(days=1)


@dataclass(frozen=True)
class ReportPeriod:
    """The period a report covers. ``end`` is the last day with data counted
    (today for a period not yet over), ``full_end`` the period's last day."""

    kind: str
    start: dt.date
    end: dt.date
    full_end: dt.date

    @property
    def grain(self) -> str:
        return KINDS[self.kind][0]

    @property
    def title(self) -> str:
        return KINDS[self.kind][1]

    @property
    def partial(self) -> bool:
        return self.end < self.full_end

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)

    @property
    def this(self) -> str:
        return THIS[self.kind]

    @property
    def key(self) -> str:
        """A short stable name: 2026-11-16 (daily/weekly start), 2026-11, 2026-Q4."""
        if self.kind == "monthly":
            return self.start.strftime("%Y-%m")
        if self.kind == "quarterly":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "weekly":
            y, w, _ = self.start.isocalendar()
            return f"{y}-W{w:02d}"
        return self.start.isoformat()

    @property
    def label(self) -> str:
        """In Chinese: 2026年11月20日 / 2026年第47周（11月16日—11月22日） / 2026年11月 / 2026年第4季度."""
        s = self.start
        if self.kind == "daily":
            return f"{s.year}年{s.month}月{s.day}日"
        if self.kind == "weekly":
            y, w, _ = s.isocalendar()
            e = self.full_end
            return f"{y}年第{w}周（{s.month}月{s.day}日—{e.month}月{e.day}日）"
        if self.kind == "monthly":
            return f"{s.year}年{s.month}月"
        return f"{s.year}年第{(s.month - 1) // 3 + 1}季度"

    @property
    def range_text(self) -> str:
        text = f"{self.start.isoformat()} 至 {self.full_end.isoformat()}"
        if self.partial:
            text += f"（本期尚未结束，数据截至 {self.end.isoformat()}）"
        return text


def report_period(kind: str, day: str | dt.date | None, today: dt.date | None = None) -> ReportPeriod:
    """The ``kind`` period containing ``day``; raises :class:`ReportError` for a
    malformed date, an unknown kind or a date after ``today``."""
    kind = check_kind(kind)
    day = parse_day(day)
    today = today or dt.date.today()
    if day > today:
        raise ReportError(f"date {day} is in the future (today is {today})",
                          user_message=f"报告期尚未开始：{day.isoformat()} 晚于今天（{today.isoformat()}）")
    if day.year < 2000:
        raise ReportError(f"date {day} is before 2000", user_message=f"日期超出范围：{day.isoformat()}")
    start = period_start(day, KINDS[kind][0])
    full_end = _full_end(kind, start)
    return ReportPeriod(kind, start, min(full_end, today), full_end)


def last_complete(kind: str, today: dt.date) -> ReportPeriod:
    """The latest ``kind`` period that ended before ``today`` (what a schedule files)."""
    kind = check_kind(kind)
    start = period_start(today, KINDS[kind][0])
    return report_period(kind, start - dt.timedelta(days=1), today)
