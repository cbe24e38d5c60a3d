"""Chinese statutory working days (调休 make-up workdays included) for deadline arithmetic.

Each calendar year takes its working days from the first source that covers it
(see ``docs/workdays.md``):

1. ``holiday_file`` — the operator's CSV named by ``JINJIAN_HOLIDAY_FILE``, for
   every year it lists (the file replaces, not patches, the other sources);
2. ``chinese_calendar`` — the ``chinese-calendar`` package (2004–2026 in 1.11.0);
3. ``weekdays`` — Monday–Friday. Never silent: a WARNING is logged once per year
   when such a year is first used, and :func:`fallback_years` tells the UI which
   years of a date range are affected so it can show a notice.

Per-year boolean arrays are built once and cached; :func:`reset_calendar` drops
the caches (the holiday file is also re-read when its path, size or mtime changes).

Validate a holiday file from the shell: ``python -m etl.workdays [--file F] 2024 2030``.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "EPOCH", "HOLIDAY_FILE_ENV", "HolidayFile", "HolidayFileError",
    "add_workdays", "calendar_source", "fallback_years", "is_workday", "load_holiday_file",
    "ordinal", "reset_calendar", "uncovered_years", "workdays", "workdays_between",
]

#: First day counted by :func:`ordinal` (first year of chinese-calendar's data).
EPOCH = dt.date(2004, 1, 1)
_EPOCH64 = np.datetime64(EPOCH, "D")
#: Environment variable naming the operator's holiday file (empty/unset: none).
HOLIDAY_FILE_ENV = "JINJIAN_HOLIDAY_FILE"

SOURCE_FILE = "holiday_file"
SOURCE_CHINESE_CALENDAR = "chinese_calendar"
SOURCE_WEEKDAYS = "weekdays"

_KINDS = ("holiday", "workday", "year")
_HEADER = ["date", "kind", "name"]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# --------------------------------------------------------------------------- holiday file

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
        return _weekday_flags(year, off=[d for d in self.holidays if d.year == year],
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

def _year_days(year: int) -> np.ndarray:
    return np.arange(np.datetime64(f"{year:04d}-01-01"), np.datetime64(f"{year + 1:04d}-01-01"))


def _weekday_flags(year: int, off: Sequence[dt.date] = (), on: Sequence[dt.date] = ()) -> np.ndarray:
    """Monday–Friday flags for ``year`` with days ``off`` cleared, then days ``on`` set."""
    days = _year_days(year)
    flags = (days.astype(np.int64) + 3) % 7 < 5        # 1970-01-01 was a Thursday (3)
    first = days[0]
    if len(off):
        flags[(np.array(off, dtype="datetime64[D]") - first).astype(np.int64)] = False
    if len(on):
        flags[(np.array(on, dtype="datetime64[D]") - first).astype(np.int64)] = True
    return flags


_cc_lock = threading.Lock()
_cc_by_year: dict[int, tuple[list[dt.date], list[dt.date]]] | None = None
_cc_import_failed = False


def _chinese_calendar_covers(year: int) -> bool:
    """Whether chinese-calendar has data for ``year`` (it raises NotImplementedError if not)."""
    global _cc_import_failed
    try:
        import chinese_calendar
    except ImportError:
        if not _cc_import_failed:
            _cc_import_failed = True
            logger.warning("chinese-calendar is not installed: statutory holidays are unknown "
                           "except for years in the holiday file")
        return False
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _chinese_calendar_flags(year: int) -> np.ndarray:
    """Same rule as ``chinese_calendar.is_workday`` (a listed make-up workday wins, then a
    listed holiday, then Monday–Friday) from its public ``holidays``/``workdays`` tables,
    without 365 Python calls per year."""
    global _cc_by_year
    with _cc_lock:
        if _cc_by_year is None:
            import chinese_calendar
            by_year: dict[int, tuple[list[dt.date], list[dt.date]]] = {}
            for d in chinese_calendar.holidays:
                by_year.setdefault(d.year, ([], []))[0].append(d)
            for d in chinese_calendar.workdays:
                by_year.setdefault(d.year, ([], []))[1].append(d)
            _cc_by_year = by_year
    off, on = _cc_by_year.get(year, ([], []))
    return _weekday_flags(year, off=off, on=on)


def _chinese_calendar_range() -> str:
    try:
        import chinese_calendar
        years = [d.year for d in chinese_calendar.holidays]
        return f"{min(years)}–{max(years)}"
    except Exception:  # noqa: BLE001 - only used in a log message
        return "none"


class _Calendar:
    """Caches for one holiday-file configuration."""

    def __init__(self, key: tuple | None, hfile: HolidayFile | None) -> None:
        self.key = key
        self.file = hfile
        self.lock = threading.RLock()
        self.sources: dict[int, str] = {}
        self.flags: dict[int, np.ndarray] = {}
        self.dates: dict[int, np.ndarray] = {}
        self.spans: dict[tuple[int, int], np.ndarray] = {}

    def source(self, year: int) -> str:
        src = self.sources.get(year)
        if src is None:
            if self.file is not None and year in self.file.years:
                src = SOURCE_FILE
            elif _chinese_calendar_covers(year):
                src = SOURCE_CHINESE_CALENDAR
            else:
                src = SOURCE_WEEKDAYS
            self.sources[year] = src
        return src

    def year_flags(self, year: int) -> np.ndarray:
        flags = self.flags.get(year)
        if flags is not None:
            return flags
        with self.lock:
            flags = self.flags.get(year)
            if flags is not None:
                return flags
            src = self.source(year)
            if src == SOURCE_FILE:
                flags = self.file.flags(year)
            elif src == SOURCE_CHINESE_CALENDAR:
                flags = _chinese_calendar_flags(year)
            else:
                flags = _weekday_flags(year)
                hint = (f"add it to the holiday file {self.file.path}" if self.file is not None
                        else f"set {HOLIDAY_FILE_ENV} to a holiday file listing it")
                logger.warning("No statutory holiday calendar for %d (chinese-calendar covers %s): "
                               "counting Monday–Friday as working days; %s",
                               year, _chinese_calendar_range(), hint)
            flags.setflags(write=False)
            self.dates[year] = _year_days(year)[flags]
            self.flags[year] = flags
            return flags

    def span(self, y0: int, y1: int) -> np.ndarray:
        """Sorted working days of years ``y0``..``y1`` (``datetime64[D]``)."""
        cal = self.spans.get((y0, y1))
        if cal is None:
            for y in range(y0, y1 + 1):
                self.year_flags(y)
            cal = np.concatenate([self.dates[y] for y in range(y0, y1 + 1)])
            cal.setflags(write=False)
            self.spans[(y0, y1)] = cal
        return cal


_state_lock = threading.Lock()
_state: _Calendar | None = None


def _file_key(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (path, None, None)          # load_holiday_file reports the error
    return (path, st.st_mtime_ns, st.st_size)


def _calendar() -> _Calendar:
    global _state
    path = os.environ.get(HOLIDAY_FILE_ENV, "").strip()
    key = _file_key(path) if path else None
    state = _state
    if state is not None and state.key == key:
        return state
    with _state_lock:
        if _state is not None and _state.key == key:
            return _state
        hfile = load_holiday_file(path) if path else None
        if hfile is not None:
            if hfile.years:
                logger.info("holiday file %s covers %s", path, ", ".join(map(str, sorted(hfile.years))))
            else:
                logger.warning("holiday file %s lists no year: it changes nothing", path)
        _state = _Calendar(key, hfile)
        return _state


def reset_calendar() -> None:
    """Drop all caches (and the once-per-year warnings); the next call re-reads
    ``JINJIAN_HOLIDAY_FILE``."""
    global _state
    with _state_lock:
        _state = None


# --------------------------------------------------------------------------- public API

def _year_of(d: np.datetime64) -> int:
    return int(d.astype("datetime64[Y]").astype(np.int64)) + 1970


def calendar_source(year: int) -> str:
    """Where ``year``'s working days come from: ``"holiday_file"``,
    ``"chinese_calendar"`` or ``"weekdays"`` (Monday–Friday fallback)."""
    return _calendar().source(int(year))


def fallback_years(start: dt.date, end: dt.date) -> list[int]:
    """Years in [start, end] counted as plain Monday–Friday (no holiday data):
    the UI shows a notice naming them."""
    cal = _calendar()
    return [y for y in range(start.year, end.year + 1) if cal.source(y) == SOURCE_WEEKDAYS]


#: Former name of :func:`fallback_years`.
uncovered_years = fallback_years


def is_workday(d: dt.date) -> bool:
    """Whether ``d`` is a working day (statutory holidays off, make-up days on)."""
    if isinstance(d, dt.datetime):
        d = d.date()
    elif isinstance(d, np.datetime64):
        d = d.astype("datetime64[D]").astype(dt.date)
    return bool(_calendar().year_flags(d.year)[d.timetuple().tm_yday - 1])


def workdays(start: dt.date, end: dt.date) -> np.ndarray:
    """Working days in [start, end] as a sorted ``datetime64[D]`` array."""
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    if lo > hi:
        return np.array([], dtype="datetime64[D]")
    cal = _calendar().span(_year_of(lo), _year_of(hi))
    return cal[np.searchsorted(cal, lo, side="left"):np.searchsorted(cal, hi, side="right")]


def add_workdays(dates: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """For each date, the ``n``-th working day after it (n ≥ 1): a task created on
    date d (any day, working or not) with a limit of n working days is due then.

    ``n`` is an int or an int array broadcastable to ``dates`` (e.g. one limit per
    task). Vectorised; NaT stays NaT. Returns ``datetime64[D]``.
    """
    d = np.asarray(dates, dtype="datetime64[D]")
    k = np.asarray(n)
    if k.dtype.kind not in "iu":
        raise TypeError(f"n must be an integer or an integer array, not {k.dtype}")
    try:
        d, k = np.broadcast_arrays(d, k.astype(np.int64))
    except ValueError:
        raise ValueError(f"n has shape {k.shape}, dates have shape {d.shape}") from None
    if k.size and k.min() < 1:
        raise ValueError(f"n must be ≥ 1, got {int(k.min())}")
    out = np.full(d.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    valid = ~np.isnat(d)
    if not valid.any():
        return out
    dv, kv = d[valid], k[valid]
    cal_ = _calendar()
    y0 = _year_of(dv.min())
    # n working days never take more than 2n + 40 calendar days (longest closure ~9 days).
    y1 = _year_of((dv + (2 * kv + 40).astype("timedelta64[D]")).max())
    while True:
        cal = cal_.span(y0, y1)
        idx = np.searchsorted(cal, dv, side="right") + (kv - 1)
        short = int(idx.max()) - (len(cal) - 1)
        if short <= 0:
            break
        y1 += short // 200 + 1
    out[valid] = cal[idx]
    return out


def ordinal(dates: np.ndarray | dt.date) -> np.ndarray:
    """Number of working days in [EPOCH, d] for each date (int64; a non-working day
    has the ordinal of the working day before it). Days overdue:
    ``ordinal(today) - ordinal(due)``. ValueError for dates before 2004-01-01 or NaT."""
    d = np.asarray(dates, dtype="datetime64[D]")
    if d.size == 0:
        return np.zeros(d.shape, dtype=np.int64)
    if np.isnat(d).any():
        raise ValueError("ordinal of NaT (missing date)")
    lo, hi = d.min(), d.max()
    if lo < _EPOCH64:
        raise ValueError(f"ordinal is defined from {EPOCH} on, got {lo}")
    cal = _calendar().span(EPOCH.year, _year_of(hi))
    return np.asarray(np.searchsorted(cal, d, side="right"), dtype=np.int64)


def workdays_between(a: np.ndarray | dt.date, b: np.ndarray | dt.date) -> np.ndarray:
    """Working days in (a, b] — ``ordinal(b) - ordinal(a)``, negative when b < a. Vectorised."""
    return ordinal(b) - ordinal(a)


# --------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m etl.workdays",
                                description="Show where each year's working days come from.")
    p.add_argument("--file", help=f"holiday file to check (default: ${HOLIDAY_FILE_ENV})")
    p.add_argument("first", type=int, nargs="?", default=EPOCH.year)
    p.add_argument("last", type=int, nargs="?", default=dt.date.today().year + 1)
    args = p.parse_args(argv)
    try:
        cal = _Calendar(None, load_holiday_file(args.file)) if args.file else _calendar()
    except HolidayFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for y in range(args.first, args.last + 1):
        print(f"{y}  {cal.source(y):<16}  {int(cal.year_flags(y).sum())} working days")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    sys.exit(main())
