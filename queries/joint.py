"""Reads of 联合惩戒 (docs/joint.md): cases, their departments' actions and the figures — cases
in force, feedback due, on time and overdue. Bounded by a region: a case belongs to the
region of its entity's grid. The newest ``version`` of a row counts (``argMax``).
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from store.engine import Engine
from queries.random_checks import names_of
from store.executor import run

logger = logging.getLogger(__name__)

__all__ = ["ACTIONS", "ACTIONS_ASOF", "CASES", "actions", "case", "cases", "figures", "in_force"]

CASES = """(SELECT case_id, argMax(credit_code, version) AS credit_code, argMax(grid_code, version) AS grid_code,
       argMax(memo_id, version) AS memo_id, argMax(dept_id, version) AS dept_id, argMax(reason, version) AS reason,
       argMax(opened_at, version) AS opened_at, argMax(opened_by, version) AS opened_by,
       argMax(closed_at, version) AS closed_at, argMax(closed_by, version) AS closed_by,
       argMax(close_note, version) AS close_note
   FROM joint_cases GROUP BY case_id)"""
def _actions(where: str) -> str:
    return f"""(SELECT case_id, dept_id, argMax(credit_code, version) AS credit_code,
       argMax(grid_code, version) AS grid_code, argMax(measures, version) AS measures,
       argMax(opened_at, version) AS opened_at, argMax(due_date, version) AS due_date,
       argMax(done_at, version) AS done_at, argMax(done_by, version) AS done_by, argMax(note, version) AS note
   FROM joint_actions {where} GROUP BY case_id, dept_id)"""


#: Every action at its newest version; as the records stood at the end of ``%(end)s``.
ACTIONS = _actions("")
ACTIONS_ASOF = _actions("WHERE toDate(entered_at) <= toDate(%(end)s)")
EPOCH = pd.Timestamp("1970-01-01")


def cases(db: Engine, region: str) -> pd.DataFrame:
    """The region's cases, open ones first, newest first; with entity and department names,
    the number of departments and of their feedbacks."""
    df = run(db, "joint_cases", f"""
        SELECT c.case_id AS case_id, c.credit_code AS credit_code, c.grid_code AS grid_code, c.memo_id AS memo_id,
               c.dept_id AS dept_id, c.reason AS reason, c.opened_at AS opened_at, c.opened_by AS opened_by,
               c.closed_at AS closed_at, c.close_note AS close_note, a.depts AS depts, a.done AS done
        FROM (SELECT * FROM {CASES} WHERE grid_code LIKE %(like)s) AS c
        LEFT JOIN (SELECT case_id, count() AS depts, countIf(toUnixTimestamp(done_at) > 0) AS done
                   FROM {ACTIONS} WHERE grid_code LIKE %(like)s GROUP BY case_id) AS a ON c.case_id = a.case_id
        ORDER BY toUnixTimestamp(c.closed_at) > 0, c.opened_at DESC, c.case_id""", {"like": region + "%"})
    for col in ("depts", "done"):
        df[col] = df[col].fillna(0).astype(int)
    df["entity_name"] = df["credit_code"].map(names_of(db, "entities", "credit_code", df["credit_code"].tolist()))
    df["dept_name"] = df["dept_id"].map(names_of(db, "departments", "dept_id", df["dept_id"].tolist()))
    df[["entity_name", "dept_name"]] = df[["entity_name", "dept_name"]].fillna("")
    return df


def case(db: Engine, case_id: str, region: str) -> dict | None:
    df = cases(db, region)
    row = df[df["case_id"] == case_id]
    return None if row.empty else row.iloc[0].to_dict()


def actions(db: Engine, case_id: str, region: str) -> pd.DataFrame:
    """One case's actions inside the region, with the department names."""
    df = run(db, "joint_actions", f"""
        SELECT case_id, dept_id, credit_code, grid_code, measures, opened_at, due_date, done_at, done_by, note
        FROM {ACTIONS} WHERE case_id = %(case)s AND grid_code LIKE %(like)s ORDER BY dept_id""",
             {"case": case_id, "like": region + "%"})
    df["dept_name"] = df["dept_id"].map(names_of(db, "departments", "dept_id", df["dept_id"].tolist())).fillna("")
    return df


def figures(db: Engine, region: str, day: dt.date) -> dict[str, int]:
    """As the records stood at the end of ``day``: cases in force (opened, not repaired by then),
    actions due by then, reported back by then, reported back by their deadline, and overdue
    (due before the day, no feedback by then)."""
    c = run(db, "joint_figures_cases", f"""
        SELECT countIf(toDate(opened_at) <= %(day)s AND NOT (toUnixTimestamp(closed_at) > 0
                       AND toDate(closed_at) <= %(day)s)) AS open
        FROM {CASES} WHERE grid_code LIKE %(like)s""", {"like": region + "%", "day": day})
    a = run(db, "joint_figures_actions", f"""
        SELECT countIf(due_date <= %(end)s) AS due, countIf(toUnixTimestamp(done_at) > 0) AS done,
               countIf(due_date <= %(end)s AND toUnixTimestamp(done_at) > 0 AND toDate(done_at) <= due_date) AS ontime,
               countIf(due_date < %(end)s AND toUnixTimestamp(done_at) = 0) AS overdue
        FROM {ACTIONS_ASOF} WHERE grid_code LIKE %(like)s""", {"like": region + "%", "end": day})
    out = {"open": int(c["open"].iloc[0]) if len(c) else 0}
    out.update({k: int(a[k].iloc[0]) if len(a) else 0 for k in ("due", "done", "ontime", "overdue")})
    return out


def in_force(db: Engine, credit_code: str, region: str) -> pd.DataFrame:
    """The measures in force on one entity: its open cases (memo_id, opened_at, reason)."""
    return run(db, "joint_in_force", f"""
        SELECT case_id, memo_id, opened_at, reason FROM {CASES}
        WHERE credit_code = %(c)s AND grid_code LIKE %(like)s AND toUnixTimestamp(closed_at) = 0
        ORDER BY opened_at""", {"c": credit_code, "like": region + "%"})
