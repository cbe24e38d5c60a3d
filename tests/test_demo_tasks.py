"""The demo task lifecycle (etl/demo_tasks.py) follows supervision.rules: automatic
push within an hour, working-day deadlines per stage, allowed transitions only,
"who licenses, supervises" routing, and a current-state table equal to the last event."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from etl.demo_tasks import make_tasks
from supervision.rules import LICENSING_DEPT
from settings import ConfigError
from supervision.rules import BucketBounds, TaskRules, bucket_bounds, parse_limits
from tests import oracle_tasks as T
from tests.conftest import DEMO_END

ALLOWED = {
    "verify_registration": {("none", "pending"), ("pending", "inspecting"), ("inspecting", "closed"),
                            ("inspecting", "notice"), ("notice", "closed"), ("notice", "joint"),
                            ("joint", "closed"), ("joint", "town"), ("town", "closed"),
                            ("town", "transferred"), ("town", "joint"), ("transferred", "closed")},
    "clue": {("none", "town"), ("town", "transferred"), ("transferred", "closed")},
    "disclosure": {("none", "pending"), ("pending", "closed")},
}
ALLOWED["verify_change"] = ALLOWED["verify_registration"]
LIMIT_OF_STAGE = {"pending": None, "inspecting": "inspection", "notice": "recheck", "joint": "joint",
                  "transferred": "department"}


def _day(x) -> dt.date:
    return pd.Timestamp(x).date()


def test_every_source_event_pushes_one_task_mostly_within_an_hour(demo_data):
    ev, tasks, te = demo_data.events, demo_data.tasks, demo_data.task_events
    src = ev[(ev["event_type"].isin(["registration", "licence", "penalty"]))
             | ((ev["event_type"] == "change") & ev["detail"].isin(["address", "scope"]))
             | ((ev["event_type"] == "inspection") & (ev["result"] == "fail"))]
    assert sorted(tasks["source_event_id"]) == sorted(src["event_id"])
    assert tasks["task_id"].is_unique
    t = tasks.merge(ev[["event_id", "event_time"]], left_on="source_event_id", right_on="event_id")
    lag = pd.to_datetime(t["created_at"]) - pd.to_datetime(t["event_time"])
    late = lag > pd.Timedelta(hours=1)
    assert (lag > pd.Timedelta(0)).all() and 0.01 < late.mean() < 0.1  # a few feeds run late
    last_day = pd.to_datetime(ev["event_time"]).max().normalize()  # a late push is never after the demo ends
    assert (pd.to_datetime(t.loc[late, "created_at"]) < last_day).all()
    first = te.groupby("task_id").head(1).set_index("task_id")
    assert (first["from_status"] == "none").all()
    assert (first["event_time"] == tasks.set_index("task_id").loc[first.index, "created_at"]).all()
    # the push keeps its record's own time and source; later events record none
    by_event = t.set_index("task_id")
    assert (first["source_time"] == by_event.loc[first.index, "event_time"]).all()
    src_of = ev.set_index("event_id")["event_type"]
    assert (first["source"].to_numpy() == src_of.loc[tasks.set_index("task_id").loc[
        first.index, "source_event_id"]].to_numpy()).all()
    rest = te[te["from_status"] != "none"]
    assert (pd.to_datetime(rest["source_time"]) == pd.Timestamp(0)).all() and (rest["source"] == "").all()
    assert set(tasks["task_type"]) == set(ALLOWED)


def test_transitions_chain_and_are_allowed(demo_data):
    te = demo_data.task_events
    assert te.groupby("task_id")["event_time"].apply(lambda s: s.is_monotonic_increasing and s.is_unique).all()
    prev = te.groupby("task_id")["status"].shift(1).fillna("none")
    assert (prev == te["from_status"]).all()
    pairs = te.groupby(["task_type", "from_status", "status"]).size().reset_index()
    for r in pairs.itertuples(index=False):
        assert (r.from_status, r.status) in ALLOWED[r.task_type], r
    seen = set(zip(pairs["from_status"], pairs["status"]))
    assert ALLOWED["verify_registration"] <= seen | {("town", "closed")} and ("joint", "town") in seen
    assert (te.groupby("task_id")["status"].apply(lambda s: (s == "closed").sum() <= 1 and
                                                  ("closed" not in set(s.iloc[:-1])))).all()


def test_deadlines_count_official_working_days(demo_data):
    """Each stage's deadline = its limit in working days after the day it starts,
    counted day by day with chinese-calendar (independent of domain.workdays)."""
    rules = TaskRules()
    te = demo_data.task_events.copy()
    te["prev_due"] = te.groupby("task_id")["due_date"].shift(1)
    sample = te.groupby(["task_type", "from_status", "status"]).head(40)
    checked = 0
    for r in sample.itertuples(index=False):
        start, due = _day(r.event_date), _day(r.due_date)
        if r.status == "closed" or (r.from_status, r.status) == ("pending", "inspecting"):
            assert due == _day(r.stage_due)  # the deadline of the stage it ends
            continue
        if due.year > 2026 or start.year > 2026:
            continue  # beyond chinese-calendar's coverage (test_workdays covers the fallback)
        limit = {"pending": "inspection" if r.task_type.startswith("verify") else "disclosure",
                 "notice": "recheck", "joint": "joint", "town": "clue_forward" if r.task_type == "clue" else "town",
                 "transferred": "department"}[r.status]
        assert T._is_workday(due) and T.working_days_after(start, due) == rules.limit(limit), r
        checked += 1
    assert checked > 100


def test_stage_bookkeeping(demo_data):
    te = demo_data.task_events.copy()
    g = te.groupby("task_id")
    prev_due = g["due_date"].shift(1)
    later = te["from_status"] != "none"
    assert (pd.to_datetime(te.loc[later, "stage_due"]) == pd.to_datetime(prev_due[later])).all()
    prev_day = g["event_date"].shift(1)
    sample = te[later].sample(400, random_state=1)
    for i, r in sample.iterrows():
        if _day(r.event_date).year <= 2026:
            assert r.stage_wd == T.working_days_after(_day(prev_day[i]), _day(r.event_date))
    late = (later & (pd.to_datetime(te["event_date"]) > pd.to_datetime(te["stage_due"]))).astype(int)
    assert (late.groupby(te["task_id"]).cumsum() == te["late_stages"]).all()
    assert te["late_stages"].max() >= 1


def test_routing_who_licenses_supervises(demo_data):
    te, tasks = demo_data.task_events, demo_data.tasks.set_index("task_id")
    industry = demo_data.entities.set_index("credit_code")["industry"]
    moved = te[te["status"] == "transferred"]
    assert len(moved) > 10
    for r in moved.itertuples(index=False):
        t = tasks.loc[r.task_id]
        city = r.grid_code[:4]
        ind = industry[t["credit_code"]]
        if t["detail"] == "无照经营" and ind in LICENSING_DEPT:
            assert r.dept_id == f"{city}-{LICENSING_DEPT[ind]}"
        else:
            assert r.dept_id == f"{city}-01"
    assert set(te["dept_id"]) <= set(demo_data.departments["dept_id"])
    clue_first = te[(te["task_type"] == "clue") & (te["from_status"] == "none")]
    assert (clue_first["dept_id"] == clue_first["grid_code"].str[:9] + "-02").all()  # via the town office
    assert (clue_first["actor_kind"] == "grid_worker").all()


def test_current_state_is_the_last_event(demo_data):
    last = demo_data.task_events.groupby("task_id").tail(1).set_index("task_id")
    tasks = demo_data.tasks.set_index("task_id").loc[last.index]
    assert (tasks["status"] == last["status"]).all()
    assert (tasks["dept_id"] == last["dept_id"]).all()
    closed = tasks["status"] == "closed"
    assert (pd.to_datetime(tasks.loc[closed, "closed_at"]) == last.loc[closed, "event_time"]).all()
    assert tasks.loc[~closed, "closed_at"].isna().all()
    assert (tasks["late_stages"] == last["late_stages"]).all()
    assert (tasks["status"] != "closed").sum() > 20  # open tasks exist on the last day


def test_configured_limit_changes_deadlines(demo_data):
    rules = TaskRules(limits=parse_limits("disclosure=20"))
    _tasks, te = make_tasks(np.random.default_rng(1), demo_data.events, np.datetime64(DEMO_END),
                            demo_data.grid_workers, rules)
    d = te[(te["task_type"] == "disclosure") & (te["from_status"] == "none")].head(50)
    for r in d.itertuples(index=False):
        if _day(r.due_date).year <= 2026:
            assert T.working_days_after(_day(r.event_date), _day(r.due_date)) == 20


@pytest.mark.parametrize("asof", [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 10, 4),
                                  dt.date(2026, 2, 24), dt.date(2026, 1, 2)], ids=str)
def test_bucket_bounds_agree_with_day_by_day_count(asof):
    b = bucket_bounds(asof, TaskRules())
    assert isinstance(b, BucketBounds)
    day = asof - dt.timedelta(days=40)
    while day <= asof + dt.timedelta(days=12):
        if T._is_workday(day):  # deadlines are working days
            assert b.bucket(day) == T.bucket_of(day, asof), day
        day += dt.timedelta(days=1)


def test_task_settings_errors_name_the_setting():
    assert TaskRules.from_env({"JINJIAN_TASK_LIMITS": "recheck=15"}).limit("recheck") == 15
    assert TaskRules.from_env({"JINJIAN_TASK_LIMITS": "recheck=15"}).limit("inspection") == 10
    for env, name in (({"JINJIAN_TASK_LIMITS": "recheck=0"}, "JINJIAN_TASK_LIMITS"),
                      ({"JINJIAN_TASK_LIMITS": "lunch=3"}, "JINJIAN_TASK_LIMITS"),
                      ({"JINJIAN_TASK_OVERDUE_BUCKETS": "10,5"}, "JINJIAN_TASK_OVERDUE_BUCKETS"),
                      ({"JINJIAN_TASK_REMIND_DAYS": "soon"}, "JINJIAN_TASK_REMIND_DAYS")):
        with pytest.raises(ConfigError, match=name):
            TaskRules.from_env(env)
    labels = TaskRules(overdue_buckets=(3, 7)).bucket_labels()
    assert labels["overdue_mild"] == "逾期1–3个工作日" and "超过7" in labels["overdue_severe"]
