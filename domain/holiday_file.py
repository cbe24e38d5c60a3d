"""The operator's holiday file (``JINJIAN_HOLIDAY_FILE``): parsing, validation, per-year flags.

A UTF-8 CSV with the header ``date,kind,name`` listing statutory holidays, weekend make-up
working days (调休) and years covered without exceptions (format: ``docs/workdays.md``).
:func:`load_holiday_file` reads and checks it, raising :class:`HolidayFileError` (file, line,
field, reason) for anything it cannot use. ``domain.workdays`` takes every year the file lists
from it; a listed year starts as Monday–Friday (:func:`weekday_flags`, also used there for
chinese-calendar's data and the fallback) and only the file's rows change it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["HolidayFile", "HolidayFileError", "load_holiday_file", "weekday_flags", "year_days"]

_KINDS = ("holiday", "workday", "year")
_HEADER = ["date", "kind", "name"]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class HolidayFileError(ValueError):
    """A holiday file that cannot be used. ``str()`` names file, line, field and reason."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, field_name: str | None,
                 reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field_name
        self.reason = reason
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field_name is not None:
            where += f", field '{field_name}'"
        super().__init__(f"holiday file {where}: {reason}")


@dataclass(frozen=True)
class HolidayFile:
    """A parsed holiday file: covered years and their exceptions to Monday–Friday."""

    path: str
    years: frozenset[int]
    #: Days off (weekday or weekend) → name.
    holidays: dict[dt.date, str] = field(default_factory=dict)
    #: Weekend make-up working days (调休) → name.
    workdays: dict[dt.date, str] = field(default_factory=dict)

    def flags(self, year: int) -> np.ndarray:
        """Working-day flags for a covered ``year`` (one bool per day)."""
        if year not in self.years:
            raise KeyError(year)
        return weekday_flags(year, off=[d for d in self.holidays if d.year == year],
                             on=[d for d in self.workdays if d.year == year])


def load_holiday_file(path: str | os.PathLike[str]) -> HolidayFile:
    """Parse and validate a holiday file (format: ``docs/workdays.md``).

    Raises :class:`HolidayFileError` for anything it cannot use; nothing is skipped
    except rows whose fields are all empty.
    """
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise HolidayFileError(path, None, None, f"cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise HolidayFileError(path, line, None,
                               f"not UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8") from None

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    years: set[int] = set()
    year_rows: dict[int, int] = {}                 # year → line of its 'year' row
    seen: dict[dt.date, int] = {}                  # holiday/workday date → line
    holidays: dict[dt.date, str] = {}
    workdays_: dict[dt.date, str] = {}
    header_done = False
    try:
        for row in reader:
            line = reader.line_num
            if not header_done:
                if [c.strip() for c in row] != _HEADER:
                    raise HolidayFileError(path, line, "header",
                                           f"expected 'date,kind,name', got {','.join(row)!r}")
                header_done = True
                continue
            if not any(c.strip() for c in row):
                continue                           # blank line / ',,' from a spreadsheet
            if len(row) != 3:
                raise HolidayFileError(path, line, "row",
                                       f"expected 3 fields (date,kind,name), got {len(row)}; "
                                       "quote a name that contains a comma")
            date_s, kind, name = (c.strip() for c in row)
            if not _ISO_DATE.fullmatch(date_s):
                raise HolidayFileError(path, line, "date", f"bad date {date_s!r}: expected YYYY-MM-DD")
            try:
                day = dt.date.fromisoformat(date_s)
            except ValueError as e:
                raise HolidayFileError(path, line, "date", f"bad date {date_s!r}: {e}") from None
            if kind not in _KINDS:
                raise HolidayFileError(path, line, "kind",
                                       f"unknown kind {kind!r}: expected one of {', '.join(_KINDS)}")
            if kind == "year":
                if (day.month, day.day) != (1, 1):
                    raise HolidayFileError(path, line, "date",
                                           f"a 'year' row must be dated {day.year}-01-01, not {date_s}")
                if day.year in year_rows:
                    raise HolidayFileError(path, line, "date", f"year {day.year} already declared "
                                                               f"on line {year_rows[day.year]}")
                year_rows[day.year] = line
            else:
                if day in seen:
                    raise HolidayFileError(path, line, "date",
                                           f"duplicate date {date_s} (already on line {seen[day]})")
                seen[day] = line
                if kind == "workday":
                    if day.weekday() < 5:
                        raise HolidayFileError(
                            path, line, "kind",
                            f"{date_s} is a {_WEEKDAY_NAMES[day.weekday()]}: 'workday' rows are for "
                            "make-up working days on a Saturday or Sunday (weekdays already are)")
                    workdays_[day] = name
                else:
                    holidays[day] = name
            years.add(day.year)
    except csv.Error as e:
        raise HolidayFileError(path, reader.line_num, "row", f"malformed CSV: {e}") from None
    if not header_done:
        raise HolidayFileError(path, 1, "header", "empty file: expected the header 'date,kind,name'")
    return HolidayFile(path=path, years=frozenset(years), holidays=holidays, workdays=workdays_)


# --------------------------------------------------------------------------- per-year flags

def year_days(year: int) -> np.ndarray:
    """Every day of ``year`` (``datetime64[D]``)."""
    return np.arange(np.datetime64(f"{year:04d}-01-01"), np.datetime64(f"{year + 1:04d}-01-01"))


def weekday_flags(year: int, off: Sequence[dt.date] = (), on: Sequence[dt.date] = ()) -> np.ndarray:
    """Monday–Friday flags for ``year`` with days ``off`` cleared, then days ``on`` set."""
    days = year_days(year)
    flags = (days.astype(np.int64) + 3) % 7 < 5        # 1970-01-01 was a Thursday (3)
    first = days[0]
    if len(off):
        flags[(np.array(off, dtype="datetime64[D]") - first).astype(np.int64)] = False
    if len(on):
        flags[(np.array(on, dtype="datetime64[D]") - first).astype(np.int64)] = True
    return flags
