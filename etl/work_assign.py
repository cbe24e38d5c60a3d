"""改派: the village dispatcher gives a task at the grid worker's stages (首次核查, 复查) to
another grid worker of the village — one who is on duty when the grid's own worker is away.

A reassignment is not a step of the task's lifecycle: the task stays at its stage, in its
grid, with its deadline (the duty started when it was dispatched), so no task event is
written and no stage or efficiency figure changes. It decides who sees and acts on the task:
from then on only the assignee has it in 我的任务 and may record its steps; the other workers
of its grid no longer do. Kept in the metadata store (``task_assignments``, the newest row
of a task wins), at most once per idempotency key, and audited by the caller.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Mapping

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, or_, select

from domain.errors import InvalidParameter
from etl.ingest.batch import Ingestor
from etl.work_actions import KEY, ActionRequest, ActionResult, StepRefused, TaskNotFound
from queries.work import WorkScope, check_task_id, work_task
from store.metastore import engine_for, metadata_url
from supervision.work import REASSIGN_STAGES

logger = logging.getLogger(__name__)

metadata = MetaData()
_lock = threading.Lock()
task_assignments = Table(
    "task_assignments", metadata,
    Column("key", String(64), primary_key=True),
    Column("task_id", String(24), nullable=False, index=True),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("assignee", String(64), nullable=False, index=True),
    Column("assigned_by", String(64), nullable=False),
    Column("assigned_at", DateTime, nullable=False),
)


def _engine():  # noqa: ANN202 - SQLAlchemy engine
    return engine_for(metadata_url(), metadata)


def _newest(where) -> dict[str, tuple[str, str]]:  # noqa: ANN001 - a SQLAlchemy condition on task_id
    """task_id → (assignee, grid_code) of the newest reassignment of each task ``where`` selects."""
    c = task_assignments.c
    with _engine().connect() as conn:
        rows = conn.execute(select(c.task_id, c.assignee, c.grid_code).where(where)
                            .order_by(c.assigned_at, c.key)).all()
    return {t: (a, g) for t, a, g in rows}


def assignee_of(task_id: str) -> str:
    """Who the task was last given to ('' = never reassigned: its grid's workers)."""
    return _newest(task_assignments.c.task_id == task_id).get(task_id, ("", ""))[0]


def scope_for(scope: str, grids: tuple[str, ...], role: str, username: str) -> WorkScope:
    """A user's work binding with the reassignments that concern them: for a grid worker, the
    tasks given to them (seen even outside their grids) and the tasks of their grids given to
    someone else (not seen). Only the tasks ever given to them or lying in their grids are read."""
    if role != "grid_worker":
        return WorkScope(scope, grids, role)
    c = task_assignments.c
    near = c.grid_code.in_(list(grids)) if grids else c.grid_code.startswith(scope, autoescape=True)
    newest = _newest(c.task_id.in_(select(c.task_id).where(or_(c.assignee == username, near))))
    mine = tuple(sorted(t for t, (a, _g) in newest.items() if a == username))
    away = tuple(sorted(t for t, (a, g) in newest.items() if a != username and (not grids or g in grids)))
    return WorkScope(scope, grids, role, mine, away)


def reassign(ing: Ingestor, ws: WorkScope, username: str, req: ActionRequest, workers: Mapping[str, str],
             now: dt.datetime | None = None) -> ActionResult:
    """Give ``req.task_id`` to the grid worker ``req.outcome``, one of ``workers`` (username →
    name: the village's grid workers). Raises InvalidParameter (bad input, not a worker of the
    village), TaskNotFound (not in the dispatcher's village), StepRefused (not at a grid
    worker's stage any more)."""
    check_task_id(req.task_id)
    if ws.role != "village_dispatcher":
        raise InvalidParameter(f"reassign by role {ws.role}", user_message="只有社区调度员可以改派")
    if not isinstance(req.key, str) or not KEY.match(req.key):
        raise InvalidParameter(f"bad key {str(req.key)[:20]!r}", user_message="提交编号不正确，请刷新页面后重试")
    if req.outcome not in workers:
        raise InvalidParameter(f"assignee {str(req.outcome)[:40]!r} not a grid worker of {ws.prefix}",
                               user_message="请选择本村（社区）的网格员")
    with _lock:
        with _engine().connect() as conn:
            prior = conn.execute(select(task_assignments).where(task_assignments.c.key == req.key)).mappings().first()
        now = now or dt.datetime.now()  # to the microsecond: a quick correction is the newer one
        task = work_task(ing.db, ws, req.task_id, now.date())
        if task is None:
            raise TaskNotFound(f"task {req.task_id} not in {ws.prefix}")
        status = str(task.task["status"])
        if prior is not None:
            return ActionResult(req.key, req.task_id, status, prior["assigned_at"], [], True,
                                workers.get(prior["assignee"], prior["assignee"]))
        if status not in REASSIGN_STAGES:
            raise StepRefused(f"task {req.task_id} is {status}: only {REASSIGN_STAGES} can be reassigned")
        with _engine().begin() as conn:
            conn.execute(insert(task_assignments).values(
                key=req.key, task_id=req.task_id, grid_code=str(task.task["grid_code"]), assignee=req.outcome,
                assigned_by=username, assigned_at=now))
    logger.info("workbench: %s reassigned %s to %s", username, req.task_id, req.outcome)
    return ActionResult(req.key, req.task_id, status, now.replace(microsecond=0), [], False, workers[req.outcome])


__all__ = ["assignee_of", "reassign", "scope_for", "task_assignments"]
