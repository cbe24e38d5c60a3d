"""Oracles of the 联合惩戒 indicators (docs/joint.md), plain pandas over the demo's
``joint_cases`` and ``joint_actions`` at their newest version, as of the period end:

- in force: opened on or before the end, not closed (credit repair) on or before it;
- an action as of the end is its newest row entered (``entered_at``) on or before the end;
  due: due on or before the end; reported: it carries a feedback date; on time: reported on
  or before its due date; overdue: due before the end and not reported.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from etl.demo import DemoData
from tests.oracle import ORACLES, _ratio, _rows_in

EPOCH = pd.Timestamp("1970-01-01")


def _newest(df: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    df = df if not df.empty else pd.DataFrame(columns=columns)
    return df.sort_values("version").groupby(keys).tail(1)


def _actions(data: DemoData, region: str, end: dt.date) -> tuple[pd.DataFrame, pd.Series]:
    a = data.joint_actions if not data.joint_actions.empty else pd.DataFrame(
        columns=["case_id", "dept_id", "grid_code", "opened_at", "due_date", "done_at", "entered_at", "version"])
    a = a[pd.to_datetime(a["entered_at"]).dt.normalize() <= pd.Timestamp(end)]
    a = _rows_in(a.sort_values("version").groupby(["case_id", "dept_id"]).tail(1), region)
    return a, pd.to_datetime(a["done_at"]) > EPOCH


def _open(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    c = _rows_in(_newest(data.joint_cases, ["case_id"], ["case_id", "grid_code", "opened_at", "closed_at", "version"]),
                 region)
    day = pd.Timestamp(end)
    closed = (pd.to_datetime(c["closed_at"]) > EPOCH) & (pd.to_datetime(c["closed_at"]).dt.normalize() <= day)
    return float(((pd.to_datetime(c["opened_at"]).dt.normalize() <= day) & ~closed).sum())


def _ontime_rate(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    a, reported = _actions(data, region, end)
    due = pd.to_datetime(a["due_date"]) <= pd.Timestamp(end)
    ontime = due & reported & (pd.to_datetime(a["done_at"]).dt.normalize() <= pd.to_datetime(a["due_date"]))
    return _ratio(float(ontime.sum()), float(due.sum()), 100.0)


def _overdue(data: DemoData, region: str, start: dt.date, end: dt.date) -> float:  # noqa: ARG001
    a, reported = _actions(data, region, end)
    return float(((pd.to_datetime(a["due_date"]) < pd.Timestamp(end)) & ~reported).sum())


ORACLES["joint_cases_open"] = _open
ORACLES["joint_feedback_ontime_rate"] = _ontime_rate
ORACLES["joint_feedback_overdue"] = _overdue
