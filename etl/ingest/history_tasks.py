"""History tasks (docs/onboarding.md, "History"): task feedback for a record that was
loaded as history, so pushed no task.

A record dated before its region's go-live date, or loaded with ``--history``, counts in
every figure but pushes no task. When the old system's feedback on its task arrives
(the task id is ``T`` + the record's event id, as for every pushed task), the task is
built with its real timeline: pushed at the record's own time, its first deadline from
there, then each feedback row in time order through the lifecycle. The push keeps no
source time (a history push is not a push Jinjian made: it is left out of 推送时效).

A history task is never open against today: when its history feedback ends before the
task is closed, the task is archived (归档) — closed by the system at the region's
go-live date (or one second after its last feedback when that is later, or when the region
has none) with a note that says so. Feedback dated on or after go-live in a live batch is
live work: the task then stays open where the feedback leaves it.
"""
from __future__ import annotations

import logging
from typing import Sequence

import pandas as pd

from domain.workdays import add_workdays
from queries.golive import history_mask
from supervision.routing import first_department
from supervision.rules import CHANGE_ZH, FIRST_STAGE, TaskRules, task_type_of

logger = logging.getLogger(__name__)

PUSH_NOTE = "历史数据：按原始记录时间补建任务"
ARCHIVE_NOTE = "上线前未见办结反馈，按历史数据归档"
#: The records whose task feedback may build a history task (``lookups.check_loaded`` reads them).
EVENTS_SQL = """
    SELECT event_id, toString(event_type) AS event_type, event_time, credit_code, grid_code, industry,
           detail, toString(result) AS result, dept_id, source
    FROM events WHERE event_id IN %(keys)s"""


def event_ids(task_ids: Sequence[str]) -> list[int]:
    """The event ids named by task ids (``T`` + the record's event id)."""
    return sorted({int(t[1:]) for t in task_ids if t[:1] == "T" and t[1:].isdigit() and len(t) <= 21})


def history_task_state(ev: pd.DataFrame, task_ids: Sequence[str], depts: pd.DataFrame,
                       rules: TaskRules) -> pd.DataFrame:
    """The state, before any feedback, of each task in ``task_ids`` that was never pushed
    but whose record is loaded (``ev``: those records, :data:`EVENTS_SQL`), in the shape of
    ``lookups.task_state`` with ``history_new`` set; records that push no task are left out."""
    if ev.empty:
        return pd.DataFrame()
    ev = ev.assign(task_type=task_type_of(ev["event_type"], ev["detail"], ev["result"]))
    ev = ev[ev["task_type"] != ""].drop_duplicates("event_id").reset_index(drop=True)
    wanted = {int(t[1:]): t for t in task_ids if t[:1] == "T" and t[1:].isdigit()}
    out = []
    for ttype, part in ev.groupby("task_type", sort=False):
        part = part.reset_index(drop=True)
        status, limit = FIRST_STAGE[str(ttype)]
        created = pd.to_datetime(part["event_time"]).dt.floor("s")
        due = add_workdays(created.dt.normalize().to_numpy().astype("datetime64[D]"), rules.limit(limit))
        for source, grp in part.groupby("source", sort=False):
            idx = grp.index
            part.loc[idx, "dept_id"] = first_department(
                depts, str(ttype), str(source), grp["grid_code"], grp["industry"], grp["dept_id"]).to_numpy()
        detail = {"verify_change": part["detail"].map(CHANGE_ZH), "clue": part["detail"].replace("", "检查发现问题"),
                  "disclosure": part["detail"]}.get(str(ttype), pd.Series([""] * len(part)))
        out.append(pd.DataFrame({
            "task_id": [wanted.get(int(e), "T" + str(e)) for e in part["event_id"]], "task_type": ttype,
            "credit_code": part["credit_code"], "grid_code": part["grid_code"], "dept_id": part["dept_id"],
            "created_at": created, "due_date": pd.to_datetime(due), "status": status, "problem_found": 0,
            "source_event_id": part["event_id"].astype("uint64"), "detail": detail.fillna(""), "late_stages": 0,
            "industry": part["industry"], "stage_start": created, "history_new": True}))
    state = pd.concat(out, ignore_index=True).set_index("task_id")
    logger.info("%d history tasks built from their records for feedback", len(state))
    return state


def push_event(st: dict, task_id: str) -> dict:
    """The push of a history task at its record's own time (no source time kept)."""
    t = pd.Timestamp(st["created_at"])
    return {"task_id": task_id, "event_time": t, "event_date": t.normalize(), "from_status": "none",
            "status": st["status"], "due_date": pd.Timestamp(st["due_date"]), "stage_due": pd.Timestamp("1970-01-01"),
            "stage_wd": 0, "late_stages": 0, "actor": "system", "actor_kind": "system", "note": PUSH_NOTE,
            "task_type": st["task_type"], "grid_code": st["grid_code"], "dept_id": st["dept_id"],
            "credit_code": st["credit_code"]}


def archive_times(latest: dict[str, dict], history: bool, go_live: dict) -> dict[str, pd.Timestamp]:
    """History tasks left open by history feedback → when the system archives them."""
    left = {k: v for k, v in latest.items() if v.get("history_new") is True and v["status"] != "closed"}
    if not left:
        return {}
    keys = list(left)
    places = pd.Series([str(left[k]["grid_code"]) for k in keys])
    last = pd.Series([pd.Timestamp(left[k]["stage_start"]) for k in keys])
    past = pd.Series(True, index=places.index) if history else history_mask(places, last, go_live or {})
    out = {}
    for i, k in enumerate(keys):
        if not past.iat[i]:
            continue  # live feedback: live work
        start = _go_live_of(places.iat[i], go_live or {})
        after = last.iat[i] + pd.Timedelta(seconds=1)
        out[k] = max(pd.Timestamp(start), after) if start is not None else after
    return out


def _go_live_of(place: str, dates: dict) -> object:
    hits = [c for c in dates if place.startswith(c)]
    return dates[max(hits, key=len)] if hits else None
