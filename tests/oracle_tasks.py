"""Independent pandas oracles for supervision tasks, from the task events.

A task's state at the end of a day = its last task event on or before that day.
Working days are counted with ``chinese_calendar`` directly (not domain.workdays),
so the SQL's date-bound buckets and this day-by-day count only agree when both
are right. Warning buckets (supervision.rules docstring): an open task due on
``due`` at the end of ``end`` is
- due soon: ``due >= end`` and working days in (end, due] <= remind days;
- overdue by w = max(1, working days in (due, end]) when ``due < end``:
  mild w <= a, moderate a < w <= b, severe w > b (a, b = overdue buckets).
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar
import pandas as pd

from etl.demo import DemoData

REMIND, MILD, MODERATE = 2, 5, 10


def _in(df: pd.DataFrame, region: str) -> pd.DataFrame:
    return df if not region else df[df["grid_code"].astype(str).str.startswith(region)]


@lru_cache(maxsize=None)
def _is_workday(day: dt.date) -> bool:
    return chinese_calendar.is_workday(day)


def working_days_after(a: dt.date, b: dt.date) -> int:
    """Working days in (a, b], counted day by day."""
    n, d = 0, a
    while d < b:
        d += dt.timedelta(days=1)
        n += _is_workday(d)
    return n


def state_at(data: DemoData, region: str, end: dt.date) -> pd.DataFrame:
    """One row per task pushed by ``end``: its last event on or before ``end``."""
    te = _in(data.task_events, region)
    te = te[pd.to_datetime(te["event_date"]) <= pd.Timestamp(end)]
    return te.sort_values("event_time", kind="stable").groupby("task_id").tail(1)


def open_at(data: DemoData, region: str, end: dt.date) -> pd.DataFrame:
    s = state_at(data, region, end)
    return s[s["status"] != "closed"]


def bucket_of(due: dt.date, end: dt.date, remind: int = REMIND, mild: int = MILD,
              moderate: int = MODERATE) -> str:
    if due >= end:
        return "due_soon" if working_days_after(end, due) <= remind else "normal"
    late = max(1, working_days_after(due, end))
    if late <= mild:
        return "overdue_mild"
    return "overdue_moderate" if late <= moderate else "overdue_severe"


def buckets_at(data: DemoData, region: str, end: dt.date) -> pd.Series:
    """Warning bucket of every open task at ``end`` (index: task_id)."""
    o = open_at(data, region, end)
    dues = pd.to_datetime(o["due_date"]).dt.date
    return pd.Series([bucket_of(d, end) for d in dues], index=o["task_id"].to_numpy(), dtype=object)


def steps_in(data: DemoData, region: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    te = _in(data.task_events, region)
    day = pd.to_datetime(te["event_date"])
    return te[(day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))]


def on_time(steps: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(steps["event_date"]) <= pd.to_datetime(steps["stage_due"])


def closed_on_time(data: DemoData, region: str, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(tasks closed in the period with every stage on time, tasks closed in the period),
    judged from all of each task's events (not the stored late_stages)."""
    te = _in(data.task_events, region)
    closes = steps_in(data, region, start, end)
    closed_ids = set(closes.loc[closes["status"] == "closed", "task_id"])
    mine = te[te["task_id"].isin(closed_ids) & (te["from_status"] != "none")]
    late_tasks = set(mine.loc[~on_time(mine), "task_id"])
    return len(closed_ids - late_tasks), len(closed_ids)
