"""Supervision task queries (任务督办): state as of a date, warning buckets,
task lists, timelines and efficiency supervision (效能监察).

A task's state at the end of a day is its last task event on or before that
day (``TASK_ASOF``); its deadline is the ``due_date`` of that event, so an
overdue count for a past period uses the deadline in force then.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd

from domain.regions import ancestors
from indicators.periods import Period
from store.engine import Engine
from domain.errors import InvalidParameter
from supervision.routing import valid_dept_id
from store.executor import run
from store.filters import Filter
from domain.codes import TASK_STATUSES, TASK_TYPES
from supervision.rules import BUCKET_SQL, BUCKETS, TaskRules, bucket_bounds

logger = logging.getLogger(__name__)

#: Every task's state at the end of ``%(end)s`` within ``%(like)s`` (a FROM item).
TASK_ASOF = """(
    SELECT task_id, task_type, grid_code, credit_code, argMax(dept_id, event_time) AS dept_id,
           argMax(status, event_time) AS status,
           argMax(due_date, event_time) AS due_date, min(event_time) AS created_at,
           max(event_time) AS last_time
    FROM task_events WHERE grid_code LIKE %(like)s AND event_date <= %(end)s
    GROUP BY task_id, task_type, grid_code, credit_code)"""

STATUS_FILTERS = ("open", "closed", *TASK_STATUSES)
TASK_LIST_LIMIT = 1000      # rows shown in a table (the most urgent first; the Excel export has all)
TASK_EXPORT_LIMIT = 200_000  # rows of a file export
UNITS = {"dept": "dept_id", "town": "substring(grid_code, 1, 9)"}


@dataclass(frozen=True)
class TaskQuery:
    """Which tasks: region (within scope) as of the end of ``asof``, narrowed by
    department, task type, status ('open', 'closed' or a stage) and warning bucket."""

    flt: Filter
    asof: dt.date
    dept_id: str | None = None
    task_type: str | None = None
    status: str | None = None
    bucket: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("task_type", TASK_TYPES), ("status", STATUS_FILTERS), ("bucket", BUCKETS)):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidParameter(f"{name} {value!r} not in {sorted(allowed)}",
                                       user_message=f"筛选条件不正确：{value}")
        if self.dept_id is not None and not _dept_ok(self.dept_id):
            raise InvalidParameter(f"bad dept_id {self.dept_id!r}", user_message="部门编号不正确")
        if self.bucket is not None and self.status not in (None, "open"):
            raise InvalidParameter("a warning bucket applies to open tasks only",
                                   user_message="预警等级只适用于在办任务")

    def where(self) -> tuple[str, dict[str, object]]:
        conds, params = ["1"], {}
        if self.dept_id:
            conds.append("dept_id = %(dept)s")
            params["dept"] = self.dept_id
        if self.task_type:
            conds.append("task_type = %(ttype)s")
            params["ttype"] = self.task_type
        if self.status == "open" or self.bucket:
            conds.append("status != 'closed'")
        elif self.status:
            conds.append("status = %(status)s")
            params["status"] = self.status
        if self.bucket:
            conds.append(f"{BUCKET_SQL} = %(bucket)s")
            params["bucket"] = self.bucket
        return " AND ".join(conds), params


def _dept_ok(dept: str) -> bool:
    return valid_dept_id(dept)


def _params(q: TaskQuery, rules: TaskRules) -> dict[str, object]:
    where_params = q.where()[1]
    return {"like": q.flt.like, "end": q.asof, **bucket_bounds(q.asof, rules).params(), **where_params}


def ageing(db: Engine, q: TaskQuery, rules: TaskRules) -> pd.DataFrame:
    """Open tasks by warning bucket and task type: bucket, task_type, tasks
    (every bucket present, zeros included, in :data:`BUCKETS` order)."""
    where, _ = q.where()
    df = run(db, "task_ageing", f"""
        SELECT {BUCKET_SQL} AS bucket, toString(task_type) AS task_type, count() AS tasks
        FROM {TASK_ASOF} WHERE status != 'closed' AND {where}
        GROUP BY bucket, task_type""", _params(q, rules))
    full = pd.MultiIndex.from_product([BUCKETS, list(TASK_TYPES)], names=["bucket", "task_type"])
    out = df.set_index(["bucket", "task_type"])["tasks"].reindex(full, fill_value=0).reset_index()
    out["tasks"] = out["tasks"].astype("int64")
    return out


def task_list(db: Engine, q: TaskQuery, rules: TaskRules, limit: int = TASK_LIST_LIMIT) -> tuple[pd.DataFrame, int]:
    """Tasks matching ``q`` (open first, most overdue first) with entity and
    department names, and the total number matching (the list holds at most ``limit``,
    itself at most TASK_EXPORT_LIMIT)."""
    where, _ = q.where()
    params = {**_params(q, rules), "limit": max(1, min(int(limit), TASK_EXPORT_LIMIT))}
    total = int(run(db, "task_count", f"SELECT count() AS n FROM {TASK_ASOF} WHERE {where}", params)["n"].iloc[0])
    df = run(db, "task_list", f"""
        SELECT s.task_id AS task_id, toString(s.task_type) AS task_type, toString(s.status) AS status,
               if(s.status = 'closed', '', {BUCKET_SQL.replace('due_date', 's.due_date')}) AS bucket,
               s.due_date AS due_date, s.created_at AS created_at, s.last_time AS last_time,
               s.grid_code AS grid_code, s.dept_id AS dept_id, t.credit_code AS credit_code,
               t.detail AS detail
        FROM (SELECT * FROM {TASK_ASOF} WHERE {where}
              ORDER BY status = 'closed', due_date, task_id LIMIT %(limit)s) AS s
        LEFT JOIN (SELECT task_id, credit_code, detail FROM tasks WHERE grid_code LIKE %(like)s) AS t
            ON s.task_id = t.task_id
        ORDER BY s.status = 'closed', s.due_date, s.task_id""", params)
    return df, total


def task_events(db: Engine, flt: Filter, task_id: str) -> pd.DataFrame:
    """The timeline of one task inside the region (empty when it is not there)."""
    if not (task_id.startswith("T") and task_id[1:].isdigit() and len(task_id) <= 24):
        raise InvalidParameter(f"bad task id {task_id!r}", user_message=f"任务编号不正确：{task_id}")
    return run(db, "task_timeline", """
        SELECT event_time, toString(from_status) AS from_status, toString(status) AS status,
               due_date, stage_due, stage_wd, late_stages, actor, toString(actor_kind) AS actor_kind,
               note, dept_id
        FROM task_events WHERE grid_code LIKE %(like)s AND task_id = %(task)s
        ORDER BY event_time""", {"like": flt.like, "task": task_id})


def efficiency(db: Engine, flt: Filter, period: Period, unit: str, rules: TaskRules) -> pd.DataFrame:
    """Efficiency supervision per department (``unit='dept'``) or town (``'town'``)
    for tasks in the region: closed (tasks closed in the period), ontime (of
    those, every stage within its limit), ontime_rate (%), avg_workdays (mean
    working days from push to close), overdue (open and overdue at the period end)."""
    if unit not in UNITS:
        raise InvalidParameter(f"unit {unit!r}", user_message="统计单位不正确")
    return efficiency_units(db, flt, period, rules)[unit]


def efficiency_units(db: Engine, flt: Filter, period: Period, rules: TaskRules) -> dict[str, pd.DataFrame]:
    """:func:`efficiency` per town and per department at once: each source read once,
    grouped by town and department together, and summed per unit here."""
    params = {"like": flt.like, "start": period.start, "end": period.end, **bucket_bounds(period.end, rules).params()}
    closed = run(db, "efficiency_closed", f"""
        SELECT {UNITS['town']} AS town, dept_id AS dept, count() AS closed, countIf(late_stages = 0) AS ontime,
               sum(work_days) AS work_days
        FROM tasks WHERE grid_code LIKE %(like)s AND status = 'closed'
          AND toDate(closed_at) >= %(start)s AND toDate(closed_at) <= %(end)s
        GROUP BY town, dept""", params)
    overdue = run(db, "efficiency_overdue", f"""
        SELECT {UNITS['town']} AS town, dept_id AS dept, countIf(due_date < %(end)s) AS overdue, count() AS open
        FROM {TASK_ASOF} WHERE status != 'closed' GROUP BY town, dept""", params)
    return {unit: _per_unit(closed, overdue, unit) for unit in UNITS}


def _per_unit(closed: pd.DataFrame, overdue: pd.DataFrame, unit: str) -> pd.DataFrame:
    frames = [df.drop(columns=[c for c in ("town", "dept") if c != unit]).rename(columns={unit: "unit"})
              .groupby("unit", as_index=False).sum() for df in (closed, overdue)]
    out = frames[0].merge(frames[1], on="unit", how="outer")
    for col in ("closed", "ontime", "work_days", "overdue", "open"):
        out[col] = out[col].fillna(0).astype("int64")
    out["ontime_rate"] = (out["ontime"] / out["closed"].where(out["closed"] > 0) * 100.0).astype(float)
    out["avg_workdays"] = (out["work_days"] / out["closed"].where(out["closed"] > 0)).astype(float)
    return out.drop(columns="work_days").sort_values("unit").reset_index(drop=True)


def departments_in(db: Engine, region: str) -> pd.DataFrame:
    """Departments of the region and of the levels above it (a city's bureaus
    serve its towns): dept_id, name, region_code; higher levels first."""
    return run(db, "task_departments", """
        SELECT dept_id, name, region_code FROM departments
        WHERE region_code LIKE %(like)s OR region_code IN %(anc)s
        ORDER BY length(region_code), region_code, dept_id""",
               {"like": region + "%", "anc": (ancestors(region) if region else []) or ["-"]})
