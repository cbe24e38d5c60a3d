"""Recording a workbench action (网格员工作台): 派单, 核查结果, 复查结果, 联合处置, 镇街处置, 退回.

Every action is one task-feedback record written through the ingestion path
(:meth:`etl.ingest.batch.Ingestor.ingest_bytes`: validated against the lifecycle,
audited as a batch, published all or nothing) and is recorded at most once per
idempotency key: the phone sends the key it drew when the form was opened, so a double
tap or a retry after a dropped connection finds the first outcome instead of a second
event. The event's time is when the user recorded it on the phone (a draft kept offline
keeps its time), never later than the moment it arrives nor earlier than the task's last
step. Photos are checked first, stored with the task, and removed again when the step
is refused — nothing is half-saved.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, insert, select

from domain.errors import InvalidParameter, JinjianError
from domain.sources import UNLICENSED_ZH
from etl.ingest.batch import Ingestor
from etl.ingest.transform import stable_id
from etl.work_photos import Photo, check_photos, photo_limit_kb, remove_photos, save_photos
from queries.work import WorkScope, check_task_id, entities_in, work_task
from store.metastore import engine_for, metadata_url
from supervision.rules import STATUS_ZH
from supervision.work import ACTIONS, CLUE_KINDS, actions_for

logger = logging.getLogger(__name__)

KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
MAX_NOTE = 400
#: How far back a phone's own time of an action is believed (a draft kept offline).
MAX_DRAFT_AGE = dt.timedelta(hours=72)

metadata = MetaData()
work_actions = Table(
    "work_actions", metadata,
    Column("key", String(64), primary_key=True),
    Column("task_id", String(24), nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("event_time", DateTime, nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("photos", Text, nullable=False, default="[]"),
    Column("seq", Integer, nullable=False, default=0),
)
_lock = threading.Lock()


class TaskNotFound(JinjianError):
    user_message = "未找到该任务，或该任务不在您的网格内"
    http_status = 404


class StepRefused(JinjianError):
    """The task is no longer at the step the form was made for, or the lifecycle refused it."""
    user_message = "该任务已由他人办理或环节已变化，请刷新后查看"
    http_status = 409


@dataclass
class ActionRequest:
    task_id: str
    action: str
    outcome: str
    key: str
    note: str = ""
    recorded_at: dt.datetime | None = None   # the phone's time of the action
    lat: float | None = None
    lon: float | None = None
    photos: list[Photo] = field(default_factory=list)
    credit_code: str = ""                    # 上报线索: the business it is about
    name: str = ""                           # 无证照经营线索: the business's name or shop sign,
    address: str = ""                        # its address
    grid_code: str = ""                      # and the grid it was found in (one of the worker's)


@dataclass(frozen=True)
class ActionResult:
    key: str
    task_id: str
    status: str          # the task's status after the action
    event_time: dt.datetime
    photos: list[str]
    already: bool        # the key had been recorded before: nothing new was written
    assignee: str = ""   # 改派: the name of the grid worker the task was given to

    def message(self) -> str:
        head = "已提交（此前已提交过，未重复记录）" if self.already else "已提交"
        if self.assignee:
            return f"{head}：已改派给{self.assignee}"
        return f"{head}：任务进入“{STATUS_ZH.get(self.status, self.status)}”"


def _engine():  # noqa: ANN202 - SQLAlchemy engine
    return engine_for(metadata_url(), metadata)


def recorded(key: str) -> dict | None:
    with _engine().connect() as conn:
        row = conn.execute(select(work_actions).where(work_actions.c.key == key)).mappings().first()
    return None if row is None else dict(row)


def task_actions(task_id: str) -> list[dict]:
    """What the workbench recorded with ``task_id``'s steps (photos, location), oldest first."""
    with _engine().connect() as conn:
        rows = conn.execute(select(work_actions).where(work_actions.c.task_id == task_id)
                            .order_by(work_actions.c.event_time)).mappings().all()
    return [{**dict(r), "photos": json.loads(r["photos"] or "[]")} for r in rows]


def _check(req: ActionRequest, ws: WorkScope) -> None:
    check_task_id(req.task_id)
    act = ACTIONS.get(req.action)
    if act is None or act.role != ws.role:
        raise InvalidParameter(f"action {req.action!r} for role {ws.role}", user_message="您的角色不能办理该事项")
    if req.outcome not in dict(act.outcomes):
        raise InvalidParameter(f"outcome {req.outcome!r}", user_message="请选择办理结果")
    _check_form(req)


def _check_form(req: ActionRequest) -> None:
    """What every workbench submission carries: its key, a note, a location."""
    if not KEY.match(req.key or ""):
        raise InvalidParameter("bad idempotency key", user_message="提交编号不正确，请刷新页面后重试")
    if len(req.note or "") > MAX_NOTE:
        raise InvalidParameter("note too long", user_message=f"说明最多 {MAX_NOTE} 字")
    for name, value, lo, hi in (("lat", req.lat, -90, 90), ("lon", req.lon, -180, 180)):
        if value is not None and not lo <= value <= hi:
            raise InvalidParameter(f"{name} {value}", user_message="定位不正确，可不填定位后重试")


def _event_time(req: ActionRequest, last: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The phone's time of the action when believable, else the arrival time; at least a
    second after the task's last step (steps are ordered by time). Never in the future:
    when the last step was this very second, wait for the next one."""
    t = req.recorded_at
    if t is None or t > now or now - t > MAX_DRAFT_AGE:
        t = now
    t = max(t.replace(microsecond=0), last + dt.timedelta(seconds=1))
    wait = (t - dt.datetime.now()).total_seconds()
    if wait > 0:
        time.sleep(min(wait, 2.0))
    return t


def _prior(req: ActionRequest, username: str) -> ActionResult | None:
    """The first outcome of a key already recorded (a double tap, a retry)."""
    prior = recorded(req.key)
    if prior is None:
        return None
    if (req.task_id and prior["task_id"] != req.task_id) or prior["username"] != username:
        raise InvalidParameter("key reused", user_message="提交编号重复，请刷新页面后重试")
    return ActionResult(req.key, prior["task_id"], prior["outcome"], prior["event_time"],
                        json.loads(prior["photos"] or "[]"), already=True)


def _write(ing: Ingestor, ws: WorkScope, username: str, req: ActionRequest, source: str, record: dict,
           kinds: list[str], action: str, outcome: str) -> ActionResult:
    """Store the photos, send ``record`` through ingestion as a batch of its own, keep the
    action's key; the photos are removed again when the record is refused."""
    names = save_photos(req.task_id, req.key, req.photos, kinds)
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        res = ing.ingest_bytes(source, data, file_name=f"workbench-{req.key}.jsonl", fmt="jsonl",
                               unit=f"workbench:{username}", scope=ws.prefix)
    except Exception:
        remove_photos(req.task_id, names)
        raise
    if res.rows_loaded != 1:
        remove_photos(req.task_id, names)
        reason = "；".join(p.reason for p in res.problems[:2]) or res.message
        logger.warning("workbench %s of %s refused by ingestion: %s", action, req.task_id, reason)
        raise StepRefused(f"ingestion refused: {reason}", user_message=f"未能提交：{reason}")
    when = dt.datetime.strptime(record["event_time"], "%Y-%m-%d %H:%M:%S")
    with _engine().begin() as conn:
        conn.execute(insert(work_actions).values(
            key=req.key, task_id=req.task_id, username=username, action=action, outcome=outcome,
            event_time=when, batch_id=res.batch_id, lat=req.lat, lon=req.lon, photos=json.dumps(names)))
    logger.info("workbench: %s %s %s → %s at %s (%d photos)", username, action, req.task_id, outcome, when, len(names))
    return ActionResult(req.key, req.task_id, outcome, when, names, already=False)


def record_action(ing: Ingestor, ws: WorkScope, username: str, req: ActionRequest,
                  now: dt.datetime | None = None) -> ActionResult:
    """Record ``req`` for ``username`` (bound to ``ws``); the first outcome again for a key
    already recorded. Raises InvalidParameter (bad input, bad photo), TaskNotFound (not in
    the user's grids), StepRefused (the task moved on, or the lifecycle refused the step)."""
    _check(req, ws)
    with _lock:  # one action at a time: a double tap waits for the first and finds it
        prior = _prior(req, username)
        if prior is not None:
            return prior
        kinds = check_photos(req.photos, photo_limit_kb())
        now = (now or dt.datetime.now()).replace(microsecond=0)
        task = work_task(ing.db, ws, req.task_id, now.date())
        if task is None:
            raise TaskNotFound(f"task {req.task_id} not in {ws.prefix} {ws.grids}")
        act = ACTIONS[req.action]
        allowed = actions_for(ws.role, str(task.task["task_type"]), str(task.task["status"]))
        if act not in allowed:
            raise StepRefused(f"task {req.task_id} is {task.task['status']}, action {act.key} needs {act.stage}")
        when = _event_time(req, max(task.timeline["event_time"]).to_pydatetime(), now)
        record = {"feedback_id": f"WB{req.key}"[:40], "task_id": req.task_id, "event_time": f"{when:%Y-%m-%d %H:%M:%S}",
                  "status": req.outcome, "actor": username, "actor_kind": act.actor_kind,
                  "note": (req.note or "").strip() or dict(act.outcomes)[req.outcome],
                  "problem_found": "1" if req.outcome == "notice" else ""}
        return _write(ing, ws, username, req, "task_feedback", record, kinds, act.key, req.outcome)


def record_clue(ing: Ingestor, ws: WorkScope, username: str, req: ActionRequest,
                now: dt.datetime | None = None) -> ActionResult:
    """上报线索: a problem a grid worker found on patrol at a business in their grids, written
    as an inspection record that found a problem — which pushes a 线索移送 task to the town
    office at once (``req.outcome`` is the kind of clue, :data:`CLUE_KINDS`)."""
    _grid_worker_only(ws)
    if not (req.credit_code or "").strip() and (req.name or "").strip():
        return record_unlicensed(ing, ws, username, req, now)
    if req.outcome not in CLUE_KINDS:
        raise InvalidParameter(f"clue kind {req.outcome!r}", user_message="请选择线索类型")
    code = (req.credit_code or "").strip().upper()

    def known() -> None:
        found = entities_in(ing.db, ws, code) if len(code) == 18 else None
        if found is None or code not in set(found["credit_code"]):
            raise TaskNotFound(f"entity {code[:20]} not in {ws.prefix} {ws.grids}",
                               user_message="未找到该主体，或该主体不在您的网格内")

    def record(record_id: str, when: dt.datetime) -> dict:
        note = f"网格巡查线索：{req.outcome}" + (f"。{req.note.strip()}" if (req.note or "").strip() else "")
        return {"record_id": record_id, "credit_code": code, "event_time": f"{when:%Y-%m-%d %H:%M:%S}",
                "result": "不合格", "inspector": username, "note": note[:500]}
    return _clue(ing, ws, username, req, now, "inspection", "clue", record, known)


def _grid_worker_only(ws: WorkScope) -> None:
    if ws.role != "grid_worker":
        raise InvalidParameter(f"clue by role {ws.role}", user_message="只有网格员可以上报线索")


def _clue(ing: Ingestor, ws: WorkScope, username: str, req: ActionRequest, now: dt.datetime | None, source: str,
          action: str, record: Callable[[str, dt.datetime], dict], check: Callable[[], None] | None = None
          ) -> ActionResult:
    """Both clues' common path: at most once per key, photos checked, ``check`` (the business
    is the worker's), the time, then ``record(record_id, time)`` sent as a ``source`` record
    whose pushed task (id from the record's) goes to the town."""
    _check_form(req)
    with _lock:
        prior = _prior(req, username)
        if prior is not None:
            return prior
        kinds = check_photos(req.photos, photo_limit_kb())
        now = (now or dt.datetime.now()).replace(microsecond=0)
        if check is not None:
            check()
        when = _event_time(req, now - MAX_DRAFT_AGE, now)
        record_id = f"WB{req.key}"[:40]
        req = dataclasses.replace(req, task_id="T" + str(stable_id(source, record_id)))
        return _write(ing, ws, username, req, source, record(record_id, when), kinds, action, "town")


UNLICENSED_KEYS = {zh: kind for kind, zh in UNLICENSED_ZH.items()}


def record_unlicensed(ing: Ingestor, ws: WorkScope, username: str, req: ActionRequest,
                      now: dt.datetime | None = None) -> ActionResult:
    """上报无证照经营线索: a business found on patrol that is not registered (so it has no
    credit code) — its name or shop sign, address, the grid it was found in (one of the
    worker's) and the kind (:data:`domain.sources.UNLICENSED_ZH`, Chinese or key), written as a
    巡查线索 record, which pushes a 线索移送 task to the town office at once."""
    _grid_worker_only(ws)
    kind = UNLICENSED_KEYS.get(req.outcome, req.outcome)
    if kind not in UNLICENSED_ZH:
        raise InvalidParameter(f"unlicensed kind {req.outcome!r}", user_message="请选择线索类型")
    name, address, grid = (req.name or "").strip(), (req.address or "").strip(), (req.grid_code or "").strip()
    if not name or len(name) > 100:
        raise InvalidParameter("unlicensed name", user_message="请填写经营者或店招名称（最多 100 字）")
    if not address or len(address) > 200:
        raise InvalidParameter("unlicensed address", user_message="请填写经营地址（最多 200 字）")
    if not re.fullmatch(r"\d{15}", grid):
        raise InvalidParameter(f"grid {grid[:20]!r}", user_message="请选择您负责的网格")
    if not grid.startswith(ws.prefix) or (ws.grids and grid not in ws.grids):  # a probe: answered as unknown
        raise TaskNotFound(f"grid {grid} not in {ws.prefix} {ws.grids}", user_message="请选择您负责的网格")

    def record(clue_id: str, when: dt.datetime) -> dict:
        return {"clue_id": clue_id, "grid_code": grid, "event_time": f"{when:%Y-%m-%d %H:%M:%S}", "kind": kind,
                "name": name, "address": address, "reporter": username, "note": (req.note or "").strip()[:500]}
    return _clue(ing, ws, username, req, now, "patrol_clue", "unlicensed", record)
