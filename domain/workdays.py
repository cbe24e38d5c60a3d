"""Chinese statutory working days (调休 make-up workdays included) for deadline arithmetic.

Each calendar year takes its working days from the first source that covers it
(see ``docs/workdays.md``):

1. ``holiday_file`` — the operator's CSV named by ``JINJIAN_HOLIDAY_FILE``, for
   every year it lists (the file replaces, not patches, the other sources; parsed by
   ``domain.holiday_file``);
2. ``chinese_calendar`` — the ``chinese-calendar`` package (2004–2026 in 1.11.0);
3. ``weekdays`` — Monday–Friday. Never silent: a WARNING is logged once per year
   when such a year is first used, and :func:`fallback_years` tells the UI which
   years of a date range are affected so it can show a notice.

Per-year boolean arrays are built once and cached; :func:`reset_calendar` drops
the caches (the holiday file is also re-read when its path, size or mtime changes).

Validate a holiday file from the shell: ``python -m domain.workdays [--file F] 2024 2030``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import threading

import numpy as np

from domain.holiday_file import HolidayFile, HolidayFileError, load_holiday_file, weekday_flags, year_days

logger = logging.getLogger(__name__)

__all__ = [
    "EPOCH", "HOLIDAY_FILE_ENV", "add_workdays", "calendar_source", "fallback_years", "is_workday",
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


# --------------------------------------------------------------------------- per-year flags

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
    return weekday_flags(year, off=off, on=on)


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
                flags = weekday_flags(year)
                hint = (f"add it to the holiday file {self.file.path}" if self.file is not None
                        else f"set {HOLIDAY_FILE_ENV} to a holiday file listing it")
                logger.warning("No statutory holiday calendar for %d (chinese-calendar covers %s): "
                               "counting Monday–Friday as working days; %s",
                               year, _chinese_calendar_range(), hint)
            flags.setflags(write=False)
            self.dates[year] = year_days(year)[flags]
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
    p = argparse.ArgumentParser(prog="python -m domain.workdays",
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
