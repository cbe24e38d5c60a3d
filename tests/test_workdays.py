"""Statutory working days: chinese-calendar (real, not mocked), the operator's holiday
file, the Monday–Friday fallback, and the vectorised deadline arithmetic."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import chinese_calendar
import numpy as np
import pytest

from domain import workdays as W
from domain.holiday_file import HolidayFileError, load_holiday_file
from domain.workdays import (EPOCH, HOLIDAY_FILE_ENV, add_workdays, calendar_source, fallback_years, is_workday,
                          ordinal, reset_calendar, uncovered_years, workdays, workdays_between)

D = dt.date.fromisoformat


def d64(*days: str) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]")


@pytest.fixture(autouse=True)
def _clean_calendar(monkeypatch):
    monkeypatch.delenv(HOLIDAY_FILE_ENV, raising=False)
    reset_calendar()
    yield
    reset_calendar()


def use_file(monkeypatch, path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(HOLIDAY_FILE_ENV, str(path))
    reset_calendar()
    return path


# --------------------------------------------------------------------------- chinese-calendar years

def test_national_day_2025():
    # 2025: 10-01..10-08 off (National Day + Mid-Autumn), make-up days Sun 09-28 and Sat 10-11.
    for day in range(1, 9):
        assert not is_workday(dt.date(2025, 10, day))
    assert is_workday(D("2025-09-28")) and is_workday(D("2025-10-11"))
    # After 09-30: 10-09 Thu (1), 10-10 Fri (2), 10-11 Sat make-up (3), 10-13 Mon (4), 10-14 Tue (5).
    assert add_workdays(d64("2025-09-30"), 5)[0] == np.datetime64("2025-10-14")
    assert calendar_source(2025) == "chinese_calendar"


def test_makeup_workday_2025_01_26():
    assert D("2025-01-26").weekday() == 6 and is_workday(D("2025-01-26"))
    assert is_workday(dt.datetime(2025, 1, 26, 9, 30)) and is_workday(np.datetime64("2025-01-26"))
    assert not is_workday(D("2025-01-25"))  # the Saturday before is an ordinary weekend day


def test_year_end_and_spring_festival_2026():
    # Official 2026 schedule (国办发明电 2025): New Year 01-01..01-03 off, Sun 01-04 make-up;
    # Spring Festival 02-15..02-23 off, make-up Sat 02-14 and Sat 02-28. Check that the
    # installed chinese-calendar agrees before relying on it.
    assert [chinese_calendar.is_workday(D(s)) for s in ("2026-01-01", "2026-01-02", "2026-01-03")] == [False] * 3
    assert chinese_calendar.is_workday(D("2026-01-04"))
    assert not any(chinese_calendar.is_workday(D("2026-02-15") + dt.timedelta(i)) for i in range(9))
    assert chinese_calendar.is_workday(D("2026-02-14")) and chinese_calendar.is_workday(D("2026-02-28"))
    assert chinese_calendar.is_workday(D("2026-02-24"))

    # 10 working days after 2025-12-31 (Wed): 01-01..03 off, Sun 01-04 (1), 01-05..09 (2-6),
    # 01-12..15 (7-10) -> 2026-01-15. Plain weekdays would give 01-14.
    # 35 after 2025-12-31: January has 21 (01-04 + 20 weekdays 01-05..30), 02-02..06 (22-26),
    # 02-09..13 (27-31), Sat 02-14 (32), 02-15..23 off, 02-24 (33), 02-25 (34), 02-26 (35).
    # Plain weekdays would give 02-18, in the middle of the holiday.
    # 10 after 2026-02-10 (Tue): 02-11..13 (1-3), Sat 02-14 (4), 02-24..27 (5-8), Sat 02-28 (9),
    # Mon 03-02 (10).
    got = add_workdays(d64("2025-12-31", "2025-12-31", "2026-02-10"), np.array([10, 35, 10]))
    assert list(got) == list(d64("2026-01-15", "2026-02-26", "2026-03-02"))
    assert list(workdays_between(d64("2025-12-31", "2025-12-31", "2026-02-10"), got)) == [10, 35, 10]
    # Created on a holiday or on a make-up day: counting starts the day after, as for any day.
    assert add_workdays(d64("2026-02-15"), 1)[0] == np.datetime64("2026-02-24")
    assert add_workdays(d64("2026-02-14"), 1)[0] == np.datetime64("2026-02-24")


def test_matches_chinese_calendar_every_day():
    start, end = D("2004-01-01"), D("2026-12-31")
    ours = set(workdays(start, end).astype(dt.date))
    day = start
    while day <= end:
        assert (day in ours) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)
    assert all(calendar_source(y) == "chinese_calendar" for y in range(2004, 2027))


def test_workdays_range():
    got = workdays(D("2025-12-29"), D("2026-01-06"))
    assert list(got) == list(d64("2025-12-29", "2025-12-30", "2025-12-31", "2026-01-04", "2026-01-05",
                                 "2026-01-06"))
    assert got.dtype == np.dtype("datetime64[D]")
    assert len(workdays(D("2026-01-01"), D("2026-01-03"))) == 0
    assert len(workdays(D("2026-02-01"), D("2026-01-01"))) == 0


def test_building_2004_to_2030():
    cal = workdays(D("2004-01-01"), D("2030-12-31"))
    assert np.all(np.diff(cal.astype(np.int64)) > 0)
    assert 27 * 240 < len(cal) < 27 * 255  # about 245–251 working days a year


# --------------------------------------------------------------------------- fallback

def test_uncovered_year_falls_back_to_weekdays_and_says_so(caplog):
    assert calendar_source(2030) == "weekdays"
    assert fallback_years(D("2025-06-01"), D("2031-02-01")) == [2027, 2028, 2029, 2030, 2031]
    assert uncovered_years(D("2026-01-01"), D("2026-12-31")) == []
    with caplog.at_level(logging.WARNING, logger="domain.workdays"):
        assert is_workday(D("2030-10-01"))          # a Tuesday: no holiday data
        assert not is_workday(D("2030-10-05"))      # Saturday
        assert len(workdays(D("2030-01-01"), D("2030-12-31"))) == 261
        add_workdays(d64("2030-03-01"), 3)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "2030" in r.getMessage()]
    assert len(warnings) == 1                        # once per year, not per call
    assert "Monday–Friday" in warnings[0].getMessage() and HOLIDAY_FILE_ENV in warnings[0].getMessage()
    # A reset forgets it, so the next use warns again.
    reset_calendar()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="domain.workdays"):
        is_workday(D("2030-01-01"))
    assert any("2030" in r.getMessage() for r in caplog.records)


def test_covered_year_does_not_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="domain.workdays"):
        add_workdays(d64("2025-06-01"), 20)
    assert not caplog.records


# --------------------------------------------------------------------------- holiday file

FILE_2030 = """date,kind,name
2030-01-01,holiday,元旦
2030-09-29,workday,国庆节调休
2030-10-01,holiday,国庆节
2030-10-02,holiday,国庆节
2030-10-03,holiday,国庆节
2030-10-04,holiday,国庆节
2030-10-05,holiday,国庆节
2030-10-06,holiday,国庆节
2030-10-07,holiday,国庆节
2030-10-12,workday,国庆节调休
"""  # a made-up 2030 schedule (the real one is not published yet)


def test_holiday_file_covers_2030(tmp_path, monkeypatch, caplog):
    use_file(monkeypatch, tmp_path / "holidays.csv", FILE_2030)
    assert calendar_source(2030) == "holiday_file"
    assert calendar_source(2031) == "weekdays" and calendar_source(2026) == "chinese_calendar"
    assert fallback_years(D("2029-01-01"), D("2031-12-31")) == [2029, 2031]
    with caplog.at_level(logging.WARNING, logger="domain.workdays"):
        assert not is_workday(D("2030-01-01"))                       # Tuesday, holiday row
        assert is_workday(D("2030-01-02"))                           # ordinary Wednesday
        assert is_workday(D("2030-09-29")) and is_workday(D("2030-10-12"))  # Sun, Sat make-up
        assert not any(is_workday(D("2030-10-01") + dt.timedelta(i)) for i in range(7))
        assert not is_workday(D("2030-10-13"))                       # Sunday, no row
        # After 09-30 (Mon): 10-08 Tue (1), 09, 10, 11 (2-4), Sat 10-12 (5).
        assert add_workdays(d64("2030-09-30"), 5)[0] == np.datetime64("2030-10-12")
        assert len(workdays(D("2030-01-01"), D("2030-12-31"))) == 261 - 6 + 2
    assert not [r for r in caplog.records if "2030" in r.getMessage()]


def test_holiday_file_takes_precedence_over_chinese_calendar(tmp_path, monkeypatch):
    # The file replaces chinese-calendar for 2025 entirely: only its rows count.
    use_file(monkeypatch, tmp_path / "h.csv", "date,kind,name\n2025-10-06,holiday,中秋节\n")
    assert calendar_source(2025) == "holiday_file" and calendar_source(2024) == "chinese_calendar"
    assert is_workday(D("2025-10-01"))          # a holiday in chinese-calendar, not in the file
    assert not is_workday(D("2025-10-06"))
    assert not is_workday(D("2025-01-26"))      # the Sunday make-up day is not in the file
    assert not is_workday(D("2024-10-01"))      # other years unchanged
    assert add_workdays(d64("2025-09-30"), 5)[0] == np.datetime64("2025-10-08")


def test_year_row_declares_a_year_without_exceptions(tmp_path, monkeypatch):
    use_file(monkeypatch, tmp_path / "h.csv", "date,kind,name\n2031-01-01,year,\n2030-01-01,year,no data\n")
    assert calendar_source(2031) == "holiday_file" and calendar_source(2030) == "holiday_file"
    assert is_workday(D("2031-01-01"))          # Wednesday, no exception listed
    assert fallback_years(D("2030-01-01"), D("2031-12-31")) == []


def test_year_row_with_holiday_on_new_years_day(tmp_path, monkeypatch):
    # The 'year' row and a holiday row may share YYYY-01-01.
    text = "\ufeffdate,kind,name\n2030-01-01,year,\n2030-01-01,holiday,元旦\n\n,,\n"  # BOM, blank rows
    use_file(monkeypatch, tmp_path / "h.csv", text)
    assert not is_workday(D("2030-01-01"))


def test_holiday_on_weekend_is_allowed(tmp_path, monkeypatch):
    hf = load_holiday_file(use_file(monkeypatch, tmp_path / "h.csv",
                                    'date,kind,name\n2030-10-05,holiday,"国庆节, 周六"\n'))
    assert hf.years == {2030} and hf.holidays == {D("2030-10-05"): "国庆节, 周六"}
    assert not is_workday(D("2030-10-05")) and is_workday(D("2030-10-04"))


def test_switching_file_and_editing_it(tmp_path, monkeypatch):
    path = use_file(monkeypatch, tmp_path / "h.csv", "date,kind,name\n2030-10-01,holiday,\n")
    assert not is_workday(D("2030-10-01"))
    path.write_text("date,kind,name\n2030-10-02,holiday,国庆节\n", encoding="utf-8")  # size changes
    assert is_workday(D("2030-10-01")) and not is_workday(D("2030-10-02"))
    monkeypatch.setenv(HOLIDAY_FILE_ENV, "")
    reset_calendar()
    assert calendar_source(2030) == "weekdays" and is_workday(D("2030-10-02"))


@pytest.mark.parametrize("body, line, field, fragment", [
    ("2030-13-01,holiday,x\n", 2, "date", "bad date '2030-13-01'"),
    ("2030/10/01,holiday,x\n", 2, "date", "expected YYYY-MM-DD"),
    ("20301001,holiday,x\n", 2, "date", "expected YYYY-MM-DD"),
    ("2030-02-29,holiday,x\n", 2, "date", "bad date '2030-02-29'"),
    ("2030-10-01,vacation,x\n", 2, "kind", "unknown kind 'vacation'"),
    ("2030-10-01,Holiday,x\n", 2, "kind", "unknown kind 'Holiday'"),
    ("2030-10-01,holiday,x\n2030-10-02,holiday,\n2030-10-01,holiday,y\n", 4, "date",
     "duplicate date 2030-10-01 (already on line 2)"),
    ("2030-10-05,workday,x\n2030-10-05,holiday,x\n", 3, "date", "duplicate date"),
    ("2030-10-08,workday,x\n", 2, "kind", "2030-10-08 is a Tuesday"),
    ("2030-06-01,year,\n", 2, "date", "must be dated 2030-01-01"),
    ("2030-01-01,year,\n\n2030-01-01,year,\n", 4, "date", "year 2030 already declared on line 2"),
    ("2030-10-01,holiday\n", 2, "row", "expected 3 fields"),
    ("2030-10-01,holiday,国庆节,十一\n", 2, "row", "quote a name that contains a comma"),
    ('2030-10-01,holiday,"unterminated\n', 2, "row", "malformed CSV"),
])
def test_holiday_file_errors(tmp_path, body, line, field, fragment):
    path = tmp_path / "bad.csv"
    path.write_text("date,kind,name\n" + body, encoding="utf-8")
    with pytest.raises(HolidayFileError) as err:
        load_holiday_file(path)
    msg = str(err.value)
    assert str(path) in msg and f"line {line}" in msg and f"field '{field}'" in msg and fragment in msg
    assert (err.value.line, err.value.field) == (line, field)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("content, line, field, fragment", [
    (b"", 1, "header", "empty file"),
    (b"day,type,name\n2030-10-01,holiday,x\n", 1, "header", "expected 'date,kind,name'"),
    (b"date,kind\n", 1, "header", "expected 'date,kind,name'"),
    ("date,kind,name\n2030-10-01,holiday,国庆\n".encode("gbk"), 2, None, "not UTF-8"),
])
def test_holiday_file_header_and_encoding_errors(tmp_path, content, line, field, fragment):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(HolidayFileError) as err:
        load_holiday_file(path)
    assert f"line {line}" in str(err.value) and fragment in str(err.value)
    assert err.value.field == field


def test_missing_or_bad_file_via_env_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(HOLIDAY_FILE_ENV, str(tmp_path / "nope.csv"))
    reset_calendar()
    with pytest.raises(HolidayFileError, match="nope.csv: cannot read"):
        is_workday(D("2025-01-02"))
    use_file(monkeypatch, tmp_path / "bad.csv", "date,kind,name\n2030-10-09,workday,x\n")
    with pytest.raises(HolidayFileError, match="line 2, field 'kind'"):
        add_workdays(d64("2025-01-02"), 1)


# --------------------------------------------------------------------------- ordinal / add_workdays

def test_ordinal_basics():
    assert not is_workday(EPOCH)                               # 2004-01-01, New Year's Day
    assert ordinal(EPOCH) == 0 and ordinal(D("2004-01-02")) == 1
    # A non-working day has the ordinal of the working day before it.
    assert ordinal(D("2025-10-01")) == ordinal(D("2025-09-30")) == ordinal(D("2025-10-08"))
    assert ordinal(D("2025-10-09")) == ordinal(D("2025-09-30")) + 1
    assert ordinal(d64()).shape == (0,)
    assert ordinal(d64("2025-01-02", "2030-01-02")).dtype == np.int64
    with pytest.raises(ValueError, match="2004-01-01"):
        ordinal(d64("2025-01-01", "2003-12-31"))
    with pytest.raises(ValueError, match="NaT"):
        ordinal(np.array(["2025-01-01", "NaT"], dtype="datetime64[D]"))
    # Overdue by working days: due 2025-09-30, today 2025-10-10 -> 2 (10-09, 10-10).
    assert workdays_between(D("2025-09-30"), D("2025-10-10")) == 2


def test_ordinal_consistent_with_workdays():
    rng = np.random.default_rng(20251001)
    lo, hi = np.datetime64("2004-01-01"), np.datetime64("2031-12-31")   # includes fallback years
    span = int((hi - lo).astype(int)) + 1
    a = lo + rng.integers(0, span, 400).astype("timedelta64[D]")
    b = a + rng.integers(-60, 400, 400).astype("timedelta64[D]")
    b = np.clip(b, lo, hi)
    between = workdays_between(a, b)
    for x, y, got in zip(a.astype(dt.date), b.astype(dt.date), between):
        expected = len(workdays(x + dt.timedelta(1), y)) if x <= y else -len(workdays(y + dt.timedelta(1), x))
        assert got == expected, (x, y)
    assert np.array_equal(between, ordinal(b) - ordinal(a))


def test_add_workdays_array_n_equals_scalar_calls():
    rng = np.random.default_rng(7)
    dates = np.datetime64("2024-06-01") + rng.integers(0, 2400, 300).astype("timedelta64[D]")
    n = rng.integers(1, 45, 300)
    got = add_workdays(dates, n)
    assert got.dtype == np.dtype("datetime64[D]")
    for d, k, g in zip(dates, n, got):
        assert add_workdays(np.array([d]), int(k))[0] == g
    # and the result is a working day exactly n working days on
    assert np.array_equal(ordinal(got) - ordinal(dates), n)
    assert all(is_workday(g) for g in got.astype(dt.date))


def test_add_workdays_edge_cases():
    assert add_workdays(d64(), 3).shape == (0,)
    got = add_workdays(np.array(["2025-09-30", "NaT"], dtype="datetime64[D]"), 5)
    assert got[0] == np.datetime64("2025-10-14") and np.isnat(got[1])
    # Seconds-resolution timestamps count from their calendar day (as etl/demo_events does).
    ts = np.array(["2025-09-30T23:59:00"], dtype="datetime64[s]")
    assert add_workdays(ts, 5)[0] == np.datetime64("2025-10-14")
    # Long limits reach far beyond the first guess of the horizon.
    far = add_workdays(d64("2025-01-01"), 2000)[0]
    assert ordinal(far) - ordinal(D("2025-01-01")) == 2000 and is_workday(far)
    # Before the epoch (fallback years) still works.
    assert add_workdays(d64("1999-12-31"), 1)[0] == np.datetime64("2000-01-03")
    with pytest.raises(ValueError, match="≥ 1"):
        add_workdays(d64("2025-01-01"), 0)
    with pytest.raises(ValueError, match="≥ 1"):
        add_workdays(d64("2025-01-01", "2025-01-02"), np.array([3, -1]))
    with pytest.raises(ValueError, match="shape"):
        add_workdays(d64("2025-01-01", "2025-01-02"), np.array([1, 2, 3]))
    with pytest.raises(TypeError):
        add_workdays(d64("2025-01-01"), 1.5)


def test_cli_lists_sources(tmp_path, capsys):
    assert W.main(["2025", "2027"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["2025", "chinese_calendar"] and out[2].split()[:2] == ["2027", "weekdays"]
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,name\n2030-10-09,workday,x\n", encoding="utf-8")
    assert W.main(["--file", str(bad), "2030", "2030"]) == 2
    assert "line 2, field 'kind'" in capsys.readouterr().err
