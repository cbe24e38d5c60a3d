"""The grid workbench's reads (网格员工作台): a worker's open tasks and one task's page.

A task's state is its last task event (``queries.tasks.TASK_ASOF`` as of today), so an
action recorded a moment ago shows at once; the list is limited to the stages the role
acts on (:data:`supervision.work.ROLE_STAGES`) and, for a grid worker, to their grids.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from domain.errors import InvalidParameter
from domain.workdays import workdays_between
from queries.tasks import TASK_ASOF, task_events
from store.engine import Engine
from store.executor import run
from store.filters import Filter
from supervision.rules import BUCKET_SQL, TaskRules, bucket_bounds
from supervision.work import ROLE_STAGES, WORK_TASK_TYPES, listable_stages

TASK_ID = re.compile(r"^T[0-9]{1,23}$")
MY_TASKS_LIMIT = 500


@dataclass(frozen=True)
class WorkScope:
    """Whose tasks: the region prefix of the user's binding, their grids (a grid worker's;
    empty = every grid of the prefix) and their role; for a grid worker also the tasks given
    to them by 改派 (``assigned``: theirs even outside their grids) and the tasks of their
    grids given to another worker (``away``: not theirs) — ``etl.work_assign.scope_for``."""
    prefix: str
    grids: tuple[str, ...]
    role: str
    assigned: tuple[str, ...] = ()
    away: tuple[str, ...] = ()

    def stages(self) -> tuple[str, ...]:
        return ROLE_STAGES.get(self.role, ())

    def sees(self, task_id: str, grid_code: str) -> bool:
        """Whether a task of ``grid_code`` (inside the prefix) is this user's to see and act on."""
        if task_id in self.away:
            return False
        return not self.grids or grid_code in self.grids or task_id in self.assigned

    def grid_sql(self) -> tuple[str, dict[str, object]]:
        """The SQL condition (and its parameters) of :meth:`sees` over ``task_id``/``grid_code``."""
        cond, params = "", {}
        if self.grids:
            cond = "AND (grid_code IN %(grids)s OR task_id IN %(assigned)s)"
            params = {"grids": list(self.grids), "assigned": list(self.assigned) or ["-"]}
        if self.away:
            cond += " AND task_id NOT IN %(away)s"
            params["away"] = list(self.away)
        return cond, params


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not TASK_ID.match(task_id):
        raise InvalidParameter(f"bad task id {str(task_id)[:40]!r}", user_message="任务编号不正确")
    return task_id


def my_tasks(db: Engine, ws: WorkScope, today: dt.date, rules: TaskRules, stage: str | None = None) -> pd.DataFrame:
    """Open tasks at the role's stages (``stage``: one of them, or one it watches —
    :func:`supervision.work.listable_stages`), soonest deadline first:
    task_id, task_type, status, due_date, bucket, grid_code, credit_code, entity_name,
    detail, days_left (working days to the deadline; negative = overdue)."""
    stages = ws.stages()
    if stage:
        if stage not in listable_stages(ws.role):
            raise InvalidParameter(f"stage {stage!r} not one of {listable_stages(ws.role)}",
                                   user_message="环节筛选不正确")
        stages = (stage,)
    if not stages:
        return pd.DataFrame(columns=["task_id", "task_type", "status", "due_date", "bucket", "grid_code",
                                     "credit_code", "entity_name", "detail", "days_left"])
    grids, mine = ws.grid_sql()
    params = {"like": Filter(region=ws.prefix).like, "end": today, "stages": list(stages),
              "types": list(WORK_TASK_TYPES), "limit": MY_TASKS_LIMIT, **bucket_bounds(today, rules).params(), **mine}
    df = run(db, "work_my_tasks", f"""
        SELECT s.task_id AS task_id, toString(s.task_type) AS task_type, toString(s.status) AS status,
               s.due_date AS due_date, {BUCKET_SQL.replace('due_date', 's.due_date')} AS bucket,
               s.grid_code AS grid_code, s.credit_code AS credit_code, s.last_time AS last_time,
               t.detail AS detail
        FROM (SELECT * FROM {TASK_ASOF} WHERE toString(status) IN %(stages)s
              AND toString(task_type) IN %(types)s {grids}
              ORDER BY due_date, task_id LIMIT %(limit)s) AS s
        LEFT JOIN (SELECT task_id, detail FROM tasks WHERE grid_code LIKE %(like)s) AS t ON s.task_id = t.task_id
        ORDER BY s.due_date, s.task_id""", params)
    names = _entity_names(db, ws.prefix, df["credit_code"].tolist())
    df["entity_name"] = df["credit_code"].map(names).fillna("")
    due = pd.to_datetime(df["due_date"]).to_numpy().astype("datetime64[D]")
    df["days_left"] = workdays_between(np.datetime64(today), due).astype("int64") if len(df) else []
    return df.reset_index(drop=True)


def _entity_names(db: Engine, prefix: str, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    df = run(db, "work_entity_names", """
        SELECT credit_code, any(name) AS name FROM entities
        WHERE grid_code LIKE %(like)s AND credit_code IN %(codes)s GROUP BY credit_code""",
             {"like": Filter(region=prefix).like, "codes": sorted(set(codes))})
    return dict(zip(df["credit_code"], df["name"]))


@dataclass(frozen=True)
class WorkTask:
    task: dict[str, object]     # task_id, task_type, status, due_date, grid_code, credit_code, detail, created_at
    entity: dict[str, object]   # name, entity_type, industry, lon, lat, reg_date ('' when unknown)
    timeline: pd.DataFrame      # queries.tasks.task_events, oldest first
    days_left: int


def work_task(db: Engine, ws: WorkScope, task_id: str, today: dt.date) -> WorkTask | None:
    """One task inside the user's binding (None: no such task there — the caller answers
    as for a task that does not exist)."""
    task_id = check_task_id(task_id)
    flt = Filter(region=ws.prefix)
    timeline = task_events(db, flt, task_id)
    if timeline.empty:
        return None
    head = run(db, "work_task", f"""
        SELECT task_id, toString(task_type) AS task_type, toString(status) AS status, due_date, grid_code,
               credit_code, created_at FROM {TASK_ASOF} WHERE task_id = %(task)s""",
               {"like": flt.like, "end": today, "task": task_id})
    if head.empty or not ws.sees(task_id, str(head["grid_code"].iloc[0])):
        return None
    task = head.iloc[0].to_dict()
    detail = run(db, "work_task_detail", "SELECT detail FROM tasks WHERE grid_code LIKE %(like)s AND task_id = %(task)s "
                 "LIMIT 1", {"like": flt.like, "task": task_id})
    task["detail"] = str(detail["detail"].iloc[0]) if len(detail) else ""
    ent = run(db, "work_task_entity", """
        SELECT name, toString(entity_type) AS entity_type, industry, lon, lat, reg_date FROM entities
        WHERE grid_code LIKE %(like)s AND credit_code = %(code)s LIMIT 1""",
              {"like": flt.like, "code": task["credit_code"]})
    entity = ent.iloc[0].to_dict() if len(ent) else {"name": "", "entity_type": "", "industry": "", "lon": None,
                                                     "lat": None, "reg_date": None}
    due = np.datetime64(pd.Timestamp(task["due_date"]).date())
    return WorkTask(task, entity, timeline, int(workdays_between(np.datetime64(today), due)))


def entities_in(db: Engine, ws: WorkScope, text: str, limit: int = 20) -> pd.DataFrame:
    """Active entities in the user's grids whose name contains ``text`` (or whose credit code
    starts with it): credit_code, name, grid_code — what a clue from patrol can name."""
    text = (text or "").strip()[:40]
    if len(text) < 2:
        return pd.DataFrame(columns=["credit_code", "name", "grid_code"])
    grids = "AND grid_code IN %(grids)s" if ws.grids else ""
    return run(db, "work_entities_in", f"""
        SELECT credit_code, name, grid_code FROM entities
        WHERE grid_code LIKE %(like)s {grids} AND status = 'active'
          AND (positionUTF8(name, %(q)s) > 0 OR startsWith(credit_code, upper(%(q)s)))
        ORDER BY name, credit_code LIMIT %(limit)s""",
               {"like": Filter(region=ws.prefix).like, "q": text, "limit": int(limit),
                **({"grids": list(ws.grids)} if ws.grids else {})})
