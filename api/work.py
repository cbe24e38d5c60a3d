"""The grid workbench's routes (网格员工作台), for the signed-in work roles (session cookie):

- ``POST /api/v1/work/tasks/<task_id>/actions`` (multipart form: ``action``, ``outcome``,
  ``key`` — the idempotency key the page drew —, ``note``, ``recorded_at`` (ISO time on the
  phone), ``lat``/``lon``, up to 5 ``photo`` files): one step of the task
  (:func:`etl.work_actions.record_action`); 200 with the outcome (again for a key already
  recorded), 400 for bad input or a bad photo, 404 for a task outside the user's grids,
  409 when the task has moved on;
  ``action=reassign`` with ``outcome`` = a grid worker's user name is the village dispatcher's
  改派 (:mod:`etl.work_assign`: the task keeps its stage and deadline, the assignee alone
  has it from then on; audited);
- ``POST /api/v1/work/clues`` (grid workers, 上报线索): ``credit_code`` of a business in their
  grids, ``outcome`` = the kind of clue, and the other fields above: an inspection record that
  found a problem, which pushes a 线索移送 task to the town office; for a business that is
  not registered (无证照经营) no ``credit_code`` but ``name``, ``address`` and ``grid_code``
  (one of the worker's grids), with ``outcome`` 无照经营 / 无证经营 / 无证无照经营: a 巡查线索
  record (``etl.work_actions.record_unlicensed``), which pushes the same task;
- ``GET /api/v1/work/tasks/<task_id>/photos/<name>``: a photo stored with the task.

A task outside the user's binding is answered as one that does not exist (and audited).
"""
from __future__ import annotations

import datetime as dt
import logging

import flask
from flask import Response, request

from api.v1 import ApiError, _json, bp
from auth.current import Principal, current
from auth.guard import hide
from auth import audit
from auth.admin import village_workers
from etl.work_actions import ActionRequest, StepRefused, TaskNotFound, record_action, record_clue
from etl.work_assign import reassign, scope_for
from etl.work_photos import MAX_PHOTOS, Photo, photo_path
from queries.work import WorkScope, check_task_id, work_task
from store.db import get_db

logger = logging.getLogger(__name__)


def work_scope(p: Principal) -> WorkScope:
    """The binding of a work role (403 for any other principal)."""
    if not p.can("work"):
        flask.g.denied = ("perm_denied", f"{p.name} ({p.role}) used the workbench API", "")
        raise ApiError(403, "forbidden", "您的角色无权执行此操作", "the workbench needs a work role")
    return scope_for(p.scope, p.grids, p.role, p.name)


def _float(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "定位不正确，可不填定位后重试", f"{name}={raw[:20]!r}") from None


def _recorded_at() -> dt.datetime | None:
    raw = (request.form.get("recorded_at") or "").strip()
    if not raw:
        return None
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "记录时间不正确", f"recorded_at={raw[:40]!r}") from None
    return t.astimezone().replace(tzinfo=None) if t.tzinfo else t


def _request(task_id: str) -> ActionRequest:
    files = request.files.getlist("photo")
    if len(files) > MAX_PHOTOS:
        raise ApiError(400, "too_many_photos", f"照片最多 {MAX_PHOTOS} 张，本次选了 {len(files)} 张",
                       f"{len(files)} photos")
    return ActionRequest(
        task_id=task_id, action=request.form.get("action", ""), outcome=request.form.get("outcome", ""),
        key=request.form.get("key", ""), note=request.form.get("note", ""), recorded_at=_recorded_at(),
        lat=_float("lat"), lon=_float("lon"), credit_code=request.form.get("credit_code", ""),
        name=request.form.get("name", ""), address=request.form.get("address", ""),
        grid_code=request.form.get("grid_code", ""),
        photos=[Photo((f.filename or "")[:80], f.read()) for f in files])


def _recorded(record, task_id: str) -> Response:  # noqa: ANN001 - record_action / record_clue
    """``record`` the request (a step of ``task_id``, or a new clue when it is '')."""
    from etl.ingest.service import ingestor

    p = current()
    ws = work_scope(p)
    req = _request(task_id)
    try:
        res = record(ingestor(), ws, p.name, req)
    except TaskNotFound as exc:
        what = (f"task {task_id[:30]}" if task_id else f"entity {req.credit_code[:20]}" if req.credit_code
                else f"grid {req.grid_code[:20]}")
        hide(f"workbench {what} outside {ws.prefix} {','.join(ws.grids)}", ws.prefix)
        raise ApiError(404, "not_found", exc.user_message, "not in the user's grids") from None
    except StepRefused as exc:
        raise ApiError(409, "conflict", exc.user_message, exc.detail) from None
    return _json({"key": res.key, "task_id": res.task_id, "status": res.status, "event_time": res.event_time,
                  "photos": res.photos, "already": res.already, "message": res.message()})


@bp.post("/work/tasks/<task_id>/actions")
def work_action(task_id: str) -> Response:
    if request.form.get("action") == "reassign":  # 改派: who has the task, not a step of it
        return _recorded(_reassign, task_id)
    return _recorded(record_action, task_id)


def _reassign(ing, ws: WorkScope, username: str, req: ActionRequest):  # noqa: ANN001, ANN202
    res = reassign(ing, ws, username, req, village_workers(audit.store(), ws.prefix))
    if not res.already:
        audit.record("work_reassign", target=req.task_id, region=ws.prefix, detail=f"改派给 {req.outcome}")
    return res


@bp.post("/work/clues")
def work_clue() -> Response:
    """上报线索 (grid workers): ``credit_code``, ``outcome`` = the kind of clue, and the fields
    of an action; or, for a business that is not registered (无证照经营), no credit code but
    ``name``, ``address``, ``grid_code`` and the kind. The answer names the 线索移送 task it
    pushed to the town."""
    return _recorded(record_clue, "")


@bp.get("/work/tasks/<task_id>/photos/<name>")
def work_photo(task_id: str, name: str) -> Response:
    p = current()
    ws = work_scope(p)
    check_task_id(task_id)
    if work_task(get_db(), ws, task_id, dt.date.today()) is None:
        hide(f"workbench photo of task {task_id[:30]} outside {ws.prefix}", ws.prefix)
        raise ApiError(404, "not_found", "未找到该照片", "no such task in the user's grids")
    path = photo_path(task_id, name)
    if path is None:
        raise ApiError(404, "not_found", "未找到该照片", "no such photo")
    mime = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[path.suffix.lstrip(".")]
    return flask.send_file(path, mimetype=mime, max_age=3600)
