"""``GET /api/v1/tasks/efficiency`` (效能监察) on both engines: per town against an
independent pandas computation over the task events, per town and per department
against the /tasks page's tables, and its parameter errors."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from indicators.periods import period_to_date, previous_period
from tests.conftest import DEMO_END
from tests.oracle_tasks import closed_on_time, open_at, working_days_after
from tests.test_api import assert_error, get

DG = "4419"
DAY = DEMO_END.isoformat()
URL = "/api/v1/tasks/efficiency"


@pytest.fixture
def client(served_db, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "")
    return served_db.test_client()


def test_per_town_equals_pandas(client, demo_data):
    body = get(client, f"{URL}?region={DG}&date={DAY}&by=town")
    month = period_to_date(DEMO_END, "month")
    prev = previous_period(month, "month")
    assert body["period"] == {"start": month.start.isoformat(), "end": DAY}
    assert body["previous_period"] == {"start": prev.start.isoformat(), "end": prev.end.isoformat()}
    items = {i["unit"]: i for i in body["items"]}
    towns = sorted(demo_data.entities["grid_code"].str[:9].unique())
    o = open_at(demo_data, DG, DEMO_END)
    overdue = (pd.to_datetime(o["due_date"]) < pd.Timestamp(DEMO_END)).groupby(o["grid_code"].str[:9]).sum()
    checked = 0
    for town in towns:
        ontime, closed = closed_on_time(demo_data, town, month.start, DEMO_END)
        p_ontime, p_closed = closed_on_time(demo_data, town, prev.start, prev.end)
        if town not in items:
            assert closed == 0 and int(overdue.get(town, 0)) == 0, town
            continue
        i = items[town]
        assert (i["closed"], i["ontime"], i["overdue"]) == (closed, ontime, int(overdue.get(town, 0))), town
        assert i["ontime_rate"] == (pytest.approx(ontime / closed * 100) if closed else None)
        assert (i["prev_closed"], i["prev_ontime_rate"]) == (
            p_closed, pytest.approx(p_ontime / p_closed * 100) if p_closed else None), town
        assert i["name"] and not i["name"].isdigit()
        if closed:  # mean working days from push to close, counted day by day
            t = demo_data.tasks[demo_data.tasks["grid_code"].str.startswith(town) & (demo_data.tasks["status"] == "closed")]
            day = pd.to_datetime(t["closed_at"]).dt.date
            t = t[(day >= month.start) & (day <= DEMO_END)]
            days = [working_days_after(pd.Timestamp(c).date(), pd.Timestamp(e).date())
                    for c, e in zip(t["created_at"], t["closed_at"])]
            assert i["avg_workdays"] == pytest.approx(sum(days) / len(days)), town
        checked += closed > 0
    assert checked >= 5
    rates = [i["ontime_rate"] for i in body["items"] if i["ontime_rate"] is not None]
    assert rates == sorted(rates, reverse=True)


def test_equals_the_tasks_page(client, dongguan):
    from app import create_app

    create_app()
    from pages import tasks as page

    town_rows, dept_rows, _period, note = page.refresh_efficiency(DG, DAY)
    assert note == ""
    for by, rows in (("town", town_rows), ("department", dept_rows)):
        api = {i["unit"]: i for i in get(client, f"{URL}?region={DG}&date={DAY}&by={by}")["items"]}
        shown = {r["unit"]: r for r in rows}
        assert set(api) == set(shown), by
        for unit, r in shown.items():
            assert (api[unit]["closed"], api[unit]["ontime"], api[unit]["overdue"], api[unit]["name"]) == (
                r["closed"], r["ontime"], r["overdue"], r["name"]), (by, unit)
            if r["ontime_rate"] is not None:
                assert api[unit]["ontime_rate"] == pytest.approx(r["ontime_rate"], abs=0.051), (by, unit)


@pytest.mark.parametrize("query, code", [
    ("by=bogus", "invalid_parameter"), ("grain=day", "invalid_parameter"), ("date=2026-02-30", "invalid_parameter"),
    (f"region={DG}&by=town&by=department", "invalid_parameter"), ("region=441999999", "region_not_found"),
    ("region=441900003001&by=town", "invalid_parameter"),
])
def test_errors(client, query, code):
    status = 404 if code == "region_not_found" else 400
    assert_error(client, f"{URL}?{query}", status, code)


def test_a_quarter_and_a_department(client, demo_data):
    body = get(client, f"{URL}?region={DG}&date={DAY}&by=department&grain=quarter")
    quarter = period_to_date(DEMO_END, "quarter")
    assert body["period"]["start"] == quarter.start.isoformat() == dt.date(2026, 10, 1).isoformat()
    ontime, closed = closed_on_time(demo_data, DG, quarter.start, DEMO_END)
    assert sum(i["closed"] for i in body["items"]) == closed and sum(i["ontime"] for i in body["items"]) == ontime
