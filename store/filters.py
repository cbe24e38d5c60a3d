"""Typed filters every query takes: region, access scope, period and grain."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Literal

from domain.regions import InvalidRegionCode, validate_code
from domain.errors import InvalidParameter, ScopeViolation

Grain = Literal["day", "week", "month", "quarter", "year"]

#: Allow-listed time grains mapped to SQL (ISO weeks start on Monday).
GRAIN_SQL: dict[str, str] = {
    "day": "toDate({col})",
    "week": "toMonday({col})",
    "month": "toStartOfMonth({col})",
    "quarter": "toStartOfQuarter({col})",
    "year": "toStartOfYear({col})",
}
GRAIN_FREQ: dict[str, str] = {"day": "D", "week": "W-MON", "month": "MS", "quarter": "QS", "year": "YS"}

def check_region_code(code: str) -> str:
    """A region code: '' (the whole country) or 2/4/6/9/12/15 digits (rules in domain.regions)."""
    if code == "":
        return code
    try:
        return validate_code(code)
    except InvalidRegionCode as exc:
        raise InvalidParameter(str(exc), user_message=exc.user_message) from None


@dataclass(frozen=True)
class RegionScope:
    """What a user may see: every region whose code starts with ``prefix``
    ('' = the whole country)."""

    prefix: str = ""

    def __post_init__(self) -> None:
        check_region_code(self.prefix)

    def contains(self, code: str) -> bool:
        return code.startswith(self.prefix)

    def check(self, code: str) -> str:
        if not self.contains(code):
            for listener in _violation_listeners:
                listener(code, self.prefix)
            raise ScopeViolation(f"region {code!r} is outside scope {self.prefix!r}")
        return code


NATIONAL = RegionScope("")

#: Who supplies the scope of a query that names none (the access layer installs the
#: logged-in user's scope per request; outside a request: the whole country).
_scope_provider: Callable[[], RegionScope | None] = lambda: None
#: Called with (code, scope prefix) whenever a region is refused (the access layer
#: turns the request into a 403 with an audit entry).
_violation_listeners: list[Callable[[str, str], None]] = []


def set_scope_provider(provider: Callable[[], RegionScope | None]) -> None:
    global _scope_provider
    _scope_provider = provider


def on_scope_violation(listener: Callable[[str, str], None]) -> None:
    if listener not in _violation_listeners:
        _violation_listeners.append(listener)


def default_scope() -> RegionScope:
    """The scope a query runs within when the caller names none: the current user's."""
    return _scope_provider() or NATIONAL


@dataclass(frozen=True)
class Filter:
    """Region viewed (within ``scope``), an optional closed date range and a grain."""

    region: str
    scope: RegionScope = field(default_factory=default_scope)
    start: dt.date | None = None
    end: dt.date | None = None
    grain: Grain = "day"

    def __post_init__(self) -> None:
        check_region_code(self.region)
        self.scope.check(self.region)
        if self.grain not in GRAIN_SQL:
            raise InvalidParameter(f"grain {self.grain!r} not in {sorted(GRAIN_SQL)}",
                                   user_message=f"时间粒度不正确：{self.grain!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
                raise InvalidParameter(f"{name} must be a date, got {value!r}",
                                       user_message="日期格式不正确")
        if self.start and self.end and self.start > self.end:
            raise InvalidParameter(f"start {self.start} is after end {self.end}",
                                   user_message="开始日期晚于结束日期")

    @property
    def like(self) -> str:
        """LIKE pattern selecting rows inside the region (codes are digits only)."""
        return self.region + "%"

    def period(self) -> tuple[dt.date, dt.date]:
        if self.start is None or self.end is None:
            raise InvalidParameter("this query needs a start and an end date",
                                   user_message="请选择统计期间")
        return self.start, self.end


def parse_date(value: str | None) -> dt.date:
    """'2026-11-20' (or an ISO datetime) → date; raises InvalidParameter."""
    if not value:
        raise InvalidParameter("no date", user_message="请选择日期")
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InvalidParameter(f"bad date {value!r}", user_message=f"日期格式不正确：{value}") from None
