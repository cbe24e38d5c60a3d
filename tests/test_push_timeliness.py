"""推送时效 (push timeliness) on both engines: ``GET /api/v1/tasks/push`` per town and per
source, and ``queries.push``, against an independent pandas computation over the demo's
task events; the limit setting; and records that arrive late through ingestion."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from indicators.periods import period_to_date
from tests.conftest import DEMO_END
from tests.test_api import assert_error, get

DG = "4419"
DAY = DEMO_END.isoformat()
URL = "/api/v1/tasks/push"


@pytest.fixture
def client(served_db, monkeypatch):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "")
    return served_db.test_client()


def _pushes(demo_data, region: str, start, end) -> pd.DataFrame:
    """Pushes in [start, end] within ``region``: unit columns and lag in seconds."""
    te = demo_data.task_events
    day = pd.to_datetime(te["event_time"]).dt.normalize()
    p = te[(te["from_status"] == "none") & te["grid_code"].str.startswith(region)
           & (day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))
           & (pd.to_datetime(te["source_time"]) > pd.Timestamp(0))].copy()
    p["lag"] = (pd.to_datetime(p["event_time"]) - pd.to_datetime(p["source_time"])).dt.total_seconds()
    return p


def _expect(p: pd.DataFrame, limit_s: int) -> dict:
    late = np.sort(p.loc[p["lag"] > limit_s, "lag"].to_numpy())
    return {"pushed": len(p), "timely": int((p["lag"] <= limit_s).sum()), "late": len(late),
            "ontime_rate": (int((p["lag"] <= limit_s).sum()) / len(p) * 100) if len(p) else None,
            # the median as documented: the ⌊n/2⌋-th of the sorted lags, from 0
            "late_median_hours": late[len(late) // 2] / 3600 if len(late) else None,
            "late_max_hours": late[-1] / 3600 if len(late) else None}


def _check(item: dict, want: dict, what: str) -> None:
    for k, v in want.items():
        assert item[k] == (pytest.approx(v) if v is not None else None), (what, k)


@pytest.mark.parametrize("grain", ["month", "year"])
def test_per_town_and_total_equal_pandas(client, demo_data, grain):
    body = get(client, f"{URL}?region={DG}&date={DAY}&grain={grain}&by=region")
    period = period_to_date(DEMO_END, grain)
    assert body["period"] == {"start": period.start.isoformat(), "end": DAY} and body["limit_minutes"] == 60
    p = _pushes(demo_data, DG, period.start, DEMO_END)
    _check(body["total"], _expect(p, 3600), "total")
    assert body["total"]["late"] > 0  # the demo has feeds that ran late
    items = {i["unit"]: i for i in body["items"]}
    towns = sorted(demo_data.grids["code"].str[:9].loc[lambda s: s.str.startswith(DG)].unique())
    assert sorted(items) == towns  # every town listed, zeros included
    for town in towns:
        _check(items[town], _expect(p[p["grid_code"].str.startswith(town)], 3600), town)
        assert items[town]["name"] and not items[town]["name"].isdigit()
    assert sum(i["late"] for i in body["items"]) == body["total"]["late"]


def test_per_source_equals_pandas_and_attributes_lateness(client, demo_data):
    body = get(client, f"{URL}?region={DG}&date={DAY}&grain=year&by=source")
    period = period_to_date(DEMO_END, "year")
    p = _pushes(demo_data, DG, period.start, DEMO_END)
    items = {i["unit"]: i for i in body["items"]}
    assert set(items) == set(p["source"])
    for source, rows in p.groupby("source"):
        _check(items[source], _expect(rows, 3600), source)
    assert items["registration"]["name"] == "设立登记"
    # the penalty feed runs later than the registration feed in the demo (etl.demo_tasks)
    assert items["penalty"]["ontime_rate"] < items["registration"]["ontime_rate"]


def test_limit_setting(client, demo_data, monkeypatch):
    monkeypatch.setenv("JINJIAN_TASK_PUSH_MINUTES", "1440")
    body = get(client, f"{URL}?region={DG}&date={DAY}&grain=year")
    period = period_to_date(DEMO_END, "year")
    assert body["limit_minutes"] == 1440
    _check(body["total"], _expect(_pushes(demo_data, DG, period.start, DEMO_END), 86400), "total")


def test_bad_parameters(client):
    assert_error(client, f"{URL}?region={DG}&by=grid", 400, "invalid_parameter")
    assert_error(client, f"{URL}?region={DG}&grain=decade", 400, "invalid_parameter")
    assert_error(client, f"{URL}?region=99", 404, "region_not_found")


# ----------------------------------------------------------------------------- the pages' tables
@pytest.fixture
def push_page():
    from pages import push  # plain functions: no app needed (the pages declare the callbacks)
    return push


def test_tasks_page_table_per_town_equals_pandas(dongguan, demo_data, push_page):
    rows, note = push_page.tasks_push("4419", DAY)
    month = period_to_date(DEMO_END, "month")
    p = _pushes(demo_data, DG, month.start, DEMO_END)
    want = _expect(p, 3600)
    assert note == (f"统计期间 {month.start} 至 {DEMO_END}，推送时限 1小时；推送 {want['pushed']:,} 件，"
                    f"及时率 {want['ontime_rate']:.1f}%，超时 {want['late']:,} 件")
    assert len(rows) == 36 and all(not r["name"].isdigit() for r in rows)
    for r in rows:
        w = _expect(p[p["grid_code"].str.startswith(r["unit"])], 3600)
        assert (r["pushed"], r["timely"], r["late"]) == (w["pushed"], w["timely"], w["late"]), r["unit"]
        assert r["ontime_rate"] == (round(w["ontime_rate"], 1) if w["pushed"] else None)
        assert r["late_median_hours"] == (round(w["late_median_hours"], 1) if w["late"] else None)
    lates = [r["late"] for r in rows]
    assert lates == sorted(lates, reverse=True)  # the worst first


def test_quality_page_table_per_source_equals_pandas(dongguan, demo_data, push_page):
    start = dt.date(DEMO_END.year, 1, 1)
    rows, note = push_page.quality_push(0, "4419", DAY, start.isoformat())  # dates given either way round
    assert note.startswith(f"统计期间 {start} 至 {DEMO_END}")
    p = _pushes(demo_data, DG, start, DEMO_END)
    got = {r["unit"]: r for r in rows}
    assert set(got) == set(p["source"]) and got["penalty"]["name"] == "行政处罚"
    for source, part in p.groupby("source"):
        w = _expect(part, 3600)
        assert (got[source]["pushed"], got[source]["late"]) == (w["pushed"], w["late"]), source


def test_page_tables_say_what_went_wrong(dongguan, push_page):
    from dash import no_update

    for rows, note in (push_page.tasks_push("99", DAY), push_page.tasks_push("4419", "2026-02-30"),
                       push_page.quality_push(0, "4401", DAY, DAY)):  # unknown, impossible, outside
        assert rows is no_update and note and "Error" not in note and "_" not in note
