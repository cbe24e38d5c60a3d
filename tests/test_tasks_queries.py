"""Task queries (queries/tasks.py) against independent pandas over the same task
events (tests/oracle_tasks.py), on both engines."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from indicators.periods import Period
from domain.errors import InvalidParameter, ScopeViolation
from store.filters import Filter, RegionScope
from queries.tasks import TASK_LIST_LIMIT, TaskQuery, ageing, efficiency, task_events, task_list
from supervision.rules import BUCKETS, TaskRules
from tests import oracle_tasks as T
from tests.conftest import DEMO_END, DEMO_ROOT

TOWN = "441900110"
RULES = TaskRules()
#: As-of dates: the demo's last day, a Saturday, and a day inside the 2026 National Day holiday.
ASOF = [DEMO_END, dt.date(2026, 8, 15), dt.date(2026, 10, 3)]


def _oracle_ageing(data, region: str, asof: dt.date, task_type: str | None = None) -> pd.Series:
    o = T.open_at(data, region, asof)
    b = T.buckets_at(data, region, asof)
    types = o.set_index("task_id")["task_type"]
    df = pd.DataFrame({"bucket": b, "task_type": types.reindex(b.index)})
    if task_type:
        df = df[df["task_type"] == task_type]
    return df.groupby(["bucket", "task_type"]).size()


@pytest.mark.parametrize("region", [DEMO_ROOT, TOWN])
@pytest.mark.parametrize("asof", ASOF, ids=str)
def test_ageing_equals_pandas(demo_db, demo_data, region, asof):
    got = ageing(demo_db, TaskQuery(Filter(region=region), asof), RULES)
    assert list(dict.fromkeys(got["bucket"])) == list(BUCKETS)
    exp = _oracle_ageing(demo_data, region, asof)
    got_nz = got[got["tasks"] > 0].set_index(["bucket", "task_type"])["tasks"]
    assert got_nz.sort_index().to_dict() == exp.sort_index().to_dict()
    assert exp.sum() > 0


def test_buckets_are_populated_somewhere(demo_data):
    """The demo produces every warning bucket at some date, so the tests above bite."""
    seen = set()
    for asof in ASOF + [dt.date(2026, 3, 31), dt.date(2025, 12, 31)]:
        seen |= set(T.buckets_at(demo_data, DEMO_ROOT, asof))
    assert seen >= {"due_soon", "overdue_mild", "overdue_moderate", "overdue_severe"}


@pytest.mark.parametrize("flt", [
    {"task_type": "verify_registration"}, {"status": "open"}, {"status": "closed"}, {"status": "notice"},
    {"bucket": "overdue_mild"}, {"bucket": "due_soon", "task_type": "disclosure"}, {"dept_id": "441900110-01"},
], ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_task_list_filters_equal_pandas(demo_db, demo_data, flt):
    asof = dt.date(2026, 8, 14)
    q = TaskQuery(Filter(region=DEMO_ROOT), asof, **flt)
    rows, total = task_list(demo_db, q, RULES)
    s = T.state_at(demo_data, DEMO_ROOT, asof)
    buckets = T.buckets_at(demo_data, DEMO_ROOT, asof)
    s = s.assign(bucket=s["task_id"].map(buckets).fillna(""))
    if "task_type" in flt:
        s = s[s["task_type"] == flt["task_type"]]
    if "dept_id" in flt:
        s = s[s["dept_id"] == flt["dept_id"]]
    if flt.get("status") == "open" or "bucket" in flt:
        s = s[s["status"] != "closed"]
    elif "status" in flt:
        s = s[s["status"] == flt["status"]]
    if "bucket" in flt:
        s = s[s["bucket"] == flt["bucket"]]
    assert total == len(s) and total > 0
    assert len(rows) == min(total, TASK_LIST_LIMIT)
    shown = rows.set_index("task_id")
    exp = s.set_index("task_id")
    assert shown["status"].to_dict() == exp.loc[shown.index, "status"].to_dict()
    assert shown["bucket"].to_dict() == exp.loc[shown.index, "bucket"].to_dict()
    assert (pd.to_datetime(shown["due_date"]) == pd.to_datetime(exp.loc[shown.index, "due_date"])).all()
    open_rows = rows[rows["status"] != "closed"]
    assert list(open_rows["due_date"]) == sorted(open_rows["due_date"])  # most overdue first


def test_task_list_limit_and_names(demo_db, demo_data):
    rows, total = task_list(demo_db, TaskQuery(Filter(region=DEMO_ROOT), DEMO_END), RULES, limit=50)
    assert len(rows) == 50 and total > 50
    tasks = demo_data.tasks.set_index("task_id")
    assert (rows["credit_code"] == tasks.loc[rows["task_id"], "credit_code"].to_numpy()).all()


def test_timeline_equals_events_and_respects_region(demo_db, demo_data):
    te = demo_data.task_events
    long = te.groupby("task_id").size().idxmax()  # a task that went far along its lifecycle
    got = task_events(demo_db, Filter(region=DEMO_ROOT), long)
    exp = te[te["task_id"] == long]
    assert list(got["status"]) == list(exp["status"]) and len(got) >= 5
    assert list(got["note"]) == list(exp["note"])
    other_town = "441900111" if not exp["grid_code"].iloc[0].startswith("441900111") else "441900112"
    assert task_events(demo_db, Filter(region=other_town), long).empty
    with pytest.raises(InvalidParameter):
        task_events(demo_db, Filter(region=DEMO_ROOT), "x'; DROP TABLE tasks")


def _oracle_efficiency(data, region: str, period: Period, unit: str) -> pd.DataFrame:
    tasks = data.tasks[data.tasks["grid_code"].str.startswith(region)]
    closed_day = pd.to_datetime(tasks["closed_at"]).dt.normalize()
    c = tasks[(closed_day >= pd.Timestamp(period.start)) & (closed_day <= pd.Timestamp(period.end))]
    key = (lambda df: df["dept_id"]) if unit == "dept" else (lambda df: df["grid_code"].str[:9])
    ontime, _ = {}, None
    te = data.task_events
    late_ids = set(te.loc[(te["from_status"] != "none")
                          & (pd.to_datetime(te["event_date"]) > pd.to_datetime(te["stage_due"])), "task_id"])
    rows = []
    for unit_id, g in c.groupby(key(c)):
        days = [T.working_days_after(pd.Timestamp(a).date(), pd.Timestamp(b).date())
                for a, b in zip(g["created_at"], g["closed_at"])]
        ontime = int((~g["task_id"].isin(late_ids)).sum())
        rows.append({"unit": unit_id, "closed": len(g), "ontime": ontime,
                     "ontime_rate": ontime / len(g) * 100, "avg_workdays": sum(days) / len(g)})
    out = pd.DataFrame(rows, columns=["unit", "closed", "ontime", "ontime_rate", "avg_workdays"])
    o = T.open_at(data, region, period.end)
    o = o.assign(overdue=pd.to_datetime(o["due_date"]) < pd.Timestamp(period.end))
    od = o.groupby(key(o))["overdue"].sum().rename("overdue").reset_index().rename(
        columns={"dept_id": "unit", "grid_code": "unit"})
    od.columns = ["unit", "overdue"]
    return out.merge(od, on="unit", how="outer").fillna({"closed": 0, "ontime": 0, "overdue": 0})


@pytest.mark.parametrize("unit", ["town", "dept"])
def test_efficiency_equals_pandas(demo_db, demo_data, unit):
    period = Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    got = efficiency(demo_db, Filter(region=DEMO_ROOT), period, unit, RULES).set_index("unit")
    exp = _oracle_efficiency(demo_data, DEMO_ROOT, period, unit).set_index("unit")
    assert sorted(got.index) == sorted(exp.index) and len(got) > 3
    exp = exp.loc[got.index]
    for col in ("closed", "ontime", "overdue"):
        assert got[col].astype(int).to_dict() == exp[col].astype(int).to_dict(), col
    has = got["closed"] > 0
    for col in ("ontime_rate", "avg_workdays"):
        pd.testing.assert_series_equal(got.loc[has, col], exp.loc[has, col].astype(float), check_names=False)
    assert got.loc[~has, "ontime_rate"].isna().all()


def test_bad_filters_are_rejected_with_messages():
    f = Filter(region=DEMO_ROOT)
    for kw in ({"task_type": "x"}, {"status": "done"}, {"bucket": "purple"}, {"dept_id": "4419'--"},
               {"bucket": "overdue_mild", "status": "closed"}):
        with pytest.raises(InvalidParameter) as err:
            TaskQuery(f, DEMO_END, **kw)
        assert err.value.user_message
    with pytest.raises(ScopeViolation):
        TaskQuery(Filter(region="4401", scope=RegionScope("4419")), DEMO_END)


def test_older_schema_is_detected(request):
    """`etl demo --if-absent` regenerates demo data whose tables predate a column."""
    from store.schema import declared_columns, outdated_tables
    from store.sql import execute
    from tests.conftest import make_test_engine

    db = make_test_engine("chdb", request, "test_old_schema")
    execute(db, "drop_old", "DROP TABLE IF EXISTS tasks")
    execute(db, "create_old", "CREATE TABLE tasks (task_id String, grid_code String, status String) "
                               "ENGINE = MergeTree ORDER BY task_id")
    try:
        stale = outdated_tables(db)
        assert "late_stages" in stale["tasks"] and "task_id" not in stale["tasks"]
        assert declared_columns("task_events")[:3] == ["task_id", "event_time", "event_date"]
    finally:
        execute(db, "drop_old", "DROP TABLE IF EXISTS tasks")
