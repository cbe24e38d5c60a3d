"""Valid rows → the rows each table receives, following the same rules as the
demo generator (:mod:`supervision.rules`): a registration pushes a verification
task at once, an address or scope change a change verification, a failed
inspection a clue transfer, a licence or penalty a disclosure task; task
feedback moves a task along :data:`supervision.rules.TRANSITIONS`.

Tasks are pushed when the batch is loaded (``created_at`` = load time; the push event
keeps the record's own time in ``source_time``, so push lag is measured), with the
first stage's deadline counted in working days from the event that starts the duty —
the push for an on-site check or a clue, the decision date for a disclosure — to the
department that
:func:`supervision.routing.route` finds among the loaded departments.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from domain import boundaries
from domain.sources import CREDIT_LISTS_ZH, UNLICENSED_ZH, Source
from domain.workdays import add_workdays, workdays_between
from etl.ingest import history_tasks
from queries.golive import history_mask
from supervision.routing import first_department, route
from supervision.rules import CHANGE_ZH, FIRST_STAGE, STAGE_LIMIT, TaskRules, task_type_of

logger = logging.getLogger(__name__)

EVENT_TYPE = {"registration": "registration", "change": "change", "licence": "licence", "penalty": "penalty",
              "complaint": "complaint", "inspection": "inspection", "sampling": "sampling"}
FIRST_NOTE = {"verify_registration": "新设、变更登记信息自动推送至村（社区）",
              "verify_change": "新设、变更登记信息自动推送至村（社区）",
              "clue": "检查发现问题，线索报镇街综治办", "disclosure": "许可、处罚决定作出，推送公示任务"}
FEEDBACK_NOTE = {"inspecting": "派发至网格员，开展首次实地核查", "notice": "发现问题，下达书面整改通知",
                 "joint": "逾期未整改，转村（社区）联合处置", "town": "村（社区）处置未果，提交镇街处置",
                 "transferred": "推送至职能部门办理", "closed": "办结"}


#: Departments frame when none are loaded: tasks then name no department ('').
NO_DEPARTMENTS = pd.DataFrame({"dept_id": [], "region_code": [], "kind": [], "industries": []}, dtype=object)


def stable_id(*parts: str) -> int:
    """A 63-bit id derived from the record's identity (the same record → the same id)."""
    return int.from_bytes(hashlib.sha1("\x1f".join(parts).encode()).digest()[:8], "big") >> 1


def stable_ids(kind: str, keys: pd.Series) -> list[int]:
    """:func:`stable_id` ``(kind, key)`` of every key of a column (the same ids, one loop)."""
    sha1, from_bytes, head = hashlib.sha1, int.from_bytes, kind + "\x1f"
    return [from_bytes(sha1((head + k).encode()).digest()[:8], "big") >> 1 for k in keys.astype(str).tolist()]


@dataclass
class Frames:
    """Rows for each table, plus the entity and task keys whose older rows they replace."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    replaces: dict[str, list[str]] = field(default_factory=dict)  # table → keys (credit_code / task_id)
    history: int = 0  # records that would push a task but are history (before go-live, or a history load)

    def rows(self, table: str) -> int:
        df = self.tables.get(table)
        return 0 if df is None else len(df)


def build(source: Source, rows: pd.DataFrame, lookups: dict[str, pd.DataFrame], batch_id: str,
          now: dt.datetime, rules: TaskRules, history: bool = False, go_live: dict | None = None) -> Frames:
    """The table rows of one batch's valid ``rows``; records that are history (``history``,
    or dated before their region's ``go_live`` date) push no task."""
    out = Frames()
    if rows.empty:
        return out
    rows = rows.reset_index(drop=True)
    ents = lookups.get("entities")
    if source.id == "task_feedback":
        _feedback(out, rows, lookups["tasks"], lookups.get("departments", NO_DEPARTMENTS), rules, history, go_live)
    elif source.id == "patrol_clue":
        past = (pd.Series(True, index=rows.index) if history
                else history_mask(rows["grid_code"], rows["event_time"], go_live or {}))
        _patrol_clues(out, rows, lookups.get("departments", NO_DEPARTMENTS), now, rules, past.to_numpy())
    else:
        ev = _events(source, rows, ents, batch_id)
        out.tables["events"] = ev
        _entities(out, source, rows, ents, batch_id, lookups.get("grid_shapes"), lookups.get("list_last"))
        past = pd.Series(True, index=ev.index) if history else history_mask(ev["grid_code"], ev["event_time"],
                                                                               go_live or {})
        _new_tasks(out, source, rows, ev, lookups.get("departments", NO_DEPARTMENTS), now, rules, past.to_numpy())
    out.tables["ingest_keys"] = pd.DataFrame({
        "source": source.id, "record_id": rows[source.key].astype(str), "batch_id": batch_id,
        "row_no": rows["row_no"].astype("uint32")})
    for name, df in out.tables.items():
        df["batch_id"] = batch_id
    return out


def _entity_col(rows: pd.DataFrame, ents: pd.DataFrame | None, col: str) -> pd.Series:
    return ents[col].reindex(rows["credit_code"]).reset_index(drop=True)


def _events(source: Source, rows: pd.DataFrame, ents: pd.DataFrame | None, batch_id: str) -> pd.DataFrame:
    n = len(rows)
    sid = source.id
    if sid == "registration":
        grid, etype, industry = rows["grid_code"], rows["entity_type"], rows["industry"]
    else:
        grid = _entity_col(rows, ents, "grid_code")
        etype, industry = _entity_col(rows, ents, "entity_type"), _entity_col(rows, ents, "industry")
    if sid == "change":  # an address change happens in the new grid
        grid = rows["new_grid_code"].where(rows["change_item"] == "address", grid)
    if sid == "credit_list":  # the list's name: what 联合惩戒 and the entity page read
        detail = rows["list"].map(CREDIT_LISTS_ZH)
    else:
        detail = {"change": rows.get("change_item"), "cancellation": rows.get("reason"),
              "licence": rows.get("licence_item"), "penalty": rows.get("violation"),
                  "complaint": rows.get("content"), "inspection": rows.get("note"),
                  "sampling": rows.get("product")}.get(sid)
    etype_of = (rows["kind"] if sid == "cancellation" else "list_" + rows["action"] if sid == "credit_list"
                else EVENT_TYPE[sid])
    result = rows["result"] if "result" in rows else pd.Series(["none"] * n)
    ev = pd.DataFrame({
        "event_id": stable_ids(sid, rows[source.key]),
        "event_time": pd.to_datetime(rows["event_time"]).dt.floor("s"),
        "event_type": etype_of,
        "credit_code": rows["credit_code"], "grid_code": grid, "entity_type": etype, "industry": industry,
        "detail": (detail.fillna("") if detail is not None else ""), "result": result.fillna("none"),
        "amount": rows["amount"].astype(float) if "amount" in rows else 0.0,
        "batch_no": rows["batch_no"] if "batch_no" in rows else "",
        "dept_id": rows["dept_id"].fillna("") if "dept_id" in rows else "", "source": sid})
    ev["event_date"] = ev["event_time"].dt.normalize()
    return ev


def _entities(out: Frames, source: Source, rows: pd.DataFrame, ents: pd.DataFrame | None, batch_id: str,
              grid_shapes: dict | None = None, list_last: dict | None = None) -> None:
    if source.id == "registration":
        ent = pd.DataFrame({
            "credit_code": rows["credit_code"], "name": rows["name"], "entity_type": rows["entity_type"],
            "industry": rows["industry"], "grid_code": rows["grid_code"],
            "reg_date": pd.to_datetime(rows["event_time"]).dt.normalize(), "status": "active",
            "status_date": pd.Series([pd.NaT] * len(rows), dtype="datetime64[ns]"), "credit_grade": "B",
            "abnormal": np.uint8(0), "dishonest": np.uint8(0), "legal_rep": rows["legal_rep"],
            "owner_id": rows["owner_id"].fillna(""), "capital": rows["capital"].fillna(0.0).astype(float),
            "lon": rows["lon"].astype(float), "lat": rows["lat"].astype(float)})
        missing = ent["lon"].isna().to_numpy()
        if missing.any():
            rng = np.random.default_rng(stable_id(batch_id) % 2**32)
            points = boundaries.with_village_points(rng, ent[missing], grid_shapes)
            ent.loc[missing, ["lon", "lat"]] = points[["lon", "lat"]].to_numpy()
        out.tables["entities"] = ent
        return
    if source.id not in ("change", "cancellation", "credit_list") or ents is None:
        return
    new = ents.reindex(rows["credit_code"]).reset_index()
    new["status_date"] = pd.to_datetime(new["status_date"])
    if source.id == "credit_list":  # the newest decision per list stands, loaded ones included
        new = new.assign(_t=rows["event_time"].to_numpy(), _r=rows["row_no"].to_numpy(), _l=rows["list"].to_numpy(),
                         _on=(rows["action"] == "entry").astype("uint8").to_numpy())
        last = new.sort_values(["_t", "_r"]).groupby(["credit_code", "_l"]).tail(1)
        known = list_last or {}
        last = last[[not ((c, k) in known and pd.Timestamp(t) < known[(c, k)])
                     for c, k, t in zip(last["credit_code"], last["_l"], last["_t"])]]
        for flag in ("abnormal", "dishonest"):
            mine = last[last["_l"] == flag].set_index("credit_code")["_on"]
            new[flag] = new["credit_code"].map(mine).fillna(new[flag]).astype("uint8")
        new = new.drop(columns=["_t", "_r", "_l", "_on"])
    elif source.id == "cancellation":
        new["status"] = rows["kind"].map({"cancellation": "cancelled", "revocation": "revoked"}).to_numpy()
        new["status_date"] = pd.to_datetime(rows["event_time"]).dt.normalize().to_numpy()
    else:  # several changes of one entity in a batch apply in time order onto one row
        current: dict[str, dict] = {}
        for r in rows.sort_values(["event_time", "row_no"]).itertuples(index=False):
            e = current.setdefault(r.credit_code, {"credit_code": r.credit_code, **ents.loc[r.credit_code].to_dict()})
            value = r.new_value or ""
            if r.change_item in ("name", "legal_rep") and value:
                e[r.change_item] = value
            elif r.change_item == "address":
                e["grid_code"] = r.new_grid_code
            elif r.change_item == "capital" and pd.notna(pd.to_numeric(value, errors="coerce")):
                e["capital"] = float(value)
        new = pd.DataFrame(list(current.values()))
        new["status_date"] = pd.to_datetime(new["status_date"])
    for col in ("abnormal", "dishonest"):
        new[col] = new[col].astype("uint8")
    new["reg_date"] = pd.to_datetime(new["reg_date"])
    out.tables["entities"] = new.drop_duplicates("credit_code", keep="last").reset_index(drop=True)
    out.replaces["entities"] = list(out.tables["entities"]["credit_code"])


def _new_tasks(out: Frames, source: Source, rows: pd.DataFrame, ev: pd.DataFrame, depts: pd.DataFrame,
               now: dt.datetime, rules: TaskRules, past: np.ndarray) -> None:
    sid = source.id
    types = task_type_of(ev["event_type"], ev["detail"], ev["result"])
    sel = types != ""
    if not sel.any():
        return
    ttype = str(types[sel][0])  # one source: one kind of task
    out.history = int((sel & past).sum())
    sel = sel & ~past
    if not sel.any():
        return
    e, r = ev[sel].reset_index(drop=True), rows[sel].reset_index(drop=True)
    status, limit = FIRST_STAGE[ttype]
    created = pd.Timestamp(now).floor("s")
    # the duty starts at the push, except disclosure: the law counts from the decision
    start = (e["event_time"].dt.normalize().to_numpy().astype("datetime64[D]") if ttype == "disclosure"
             else np.full(len(e), np.datetime64(created.date())))
    due = add_workdays(start, rules.limit(limit))
    grid = e["grid_code"]
    dept = first_department(depts, ttype, sid, grid, e["industry"], r["dept_id"] if "dept_id" in r else None)
    detail = {"verify_registration": pd.Series([""] * len(e)), "verify_change": r.get("change_item", pd.Series(
        dtype=str)).map(CHANGE_ZH), "clue": r.get("note", pd.Series(dtype=str)).fillna("检查发现问题"),
              "disclosure": e["detail"]}[ttype].fillna("")
    actor = r["inspector"].fillna("").replace("", "grid") if ttype == "clue" else "system"
    _push(out, ttype, e["event_id"], e["credit_code"], grid, dept, created, due, status, detail, actor,
          e["event_time"], e["source"])


def _patrol_clues(out: Frames, rows: pd.DataFrame, depts: pd.DataFrame, now: dt.datetime, rules: TaskRules,
                  past: np.ndarray) -> None:
    """巡查线索: each clue about a business that is not registered (no credit code) pushes a
    线索移送 task to its town's office at once; the task names the business in its detail."""
    out.history = int(past.sum())
    r = rows[~past].reset_index(drop=True)
    if r.empty:
        return
    status, limit = FIRST_STAGE["clue"]
    created = pd.Timestamp(now).floor("s")
    due = add_workdays(np.full(len(r), np.datetime64(created.date())), rules.limit(limit))
    dept = first_department(depts, "clue", "patrol_clue", r["grid_code"], pd.Series([""] * len(r)))
    note = r["note"].fillna("").astype(str)
    detail = (r["kind"].map(UNLICENSED_ZH) + "：" + r["name"].astype(str) + "（" + r["address"].astype(str) + "）"
              + note.where(note == "", "。" + note)).str.slice(0, 500)
    ids = pd.Series(stable_ids("patrol_clue", r["clue_id"]), dtype="uint64")
    _push(out, "clue", ids, "", r["grid_code"], dept, created, due, status, detail, r["reporter"].astype(str),
          pd.to_datetime(r["event_time"]).dt.floor("s"), "patrol_clue")


def _push(out: Frames, ttype: str, event_id: pd.Series, credit: object, grid: pd.Series, dept: pd.Series,
          created: pd.Timestamp, due: np.ndarray, status: str, detail: pd.Series, actor: object,
          source_time: pd.Series, source: object) -> None:
    """The new tasks and their push events (``source_time``: the record's own time: push lag)."""
    n = len(event_id)
    task_id = "T" + event_id.astype(str)
    tasks = pd.DataFrame({
        "task_id": task_id, "task_type": ttype, "credit_code": credit, "grid_code": grid,
        "dept_id": dept, "created_at": created, "due_date": pd.to_datetime(due), "status": status,
        "closed_at": pd.Series([pd.NaT] * n, dtype="datetime64[ns]"), "problem_found": np.uint8(0),
        "source_event_id": event_id.astype("uint64"), "detail": detail, "late_stages": np.uint8(0),
        "work_days": np.uint16(0)})
    te = pd.DataFrame({
        "task_id": task_id, "event_time": created, "event_date": created.normalize(), "from_status": "none",
        "status": status, "due_date": pd.to_datetime(due), "stage_due": pd.Timestamp("1970-01-01"),
        "stage_wd": np.uint16(0), "late_stages": np.uint8(0), "actor": actor,
        "actor_kind": "grid_worker" if ttype == "clue" else "system", "note": FIRST_NOTE[ttype],
        "task_type": ttype, "grid_code": grid, "dept_id": dept, "credit_code": credit,
        "source_time": source_time, "source": source})
    out.tables["tasks"], out.tables["task_events"] = tasks, te


def _feedback(out: Frames, rows: pd.DataFrame, state: pd.DataFrame, depts: pd.DataFrame, rules: TaskRules,
              history: bool = False, go_live: dict | None = None) -> None:
    """Apply each task's feedback rows in time order (rows already passed the lifecycle
    check); a task of a record loaded as history is pushed first at the record's time, and
    archived when history feedback leaves it open (:mod:`etl.ingest.history_tasks`)."""
    events, latest = [], {}
    for r in rows.sort_values(["task_id", "event_time", "row_no"]).itertuples(index=False):
        st = latest.get(r.task_id)
        if st is None:
            st = state.loc[r.task_id].to_dict()
            st["stage_start"] = pd.Timestamp(st["stage_start"])
            st["due_date"] = pd.Timestamp(st["due_date"])
            if st.get("history_new") is True:
                events.append(history_tasks.push_event(st, r.task_id))
        events.append(_apply(st, r.task_id, r.status, pd.Timestamp(r.event_time).floor("s"), r.actor, r.actor_kind,
                             r.note or FEEDBACK_NOTE[r.status], r.dept_id, r.problem_found, depts, rules))
        latest[r.task_id] = st
    for task_id, t in history_tasks.archive_times(latest, history, go_live or {}).items():
        events.append(_apply(latest[task_id], task_id, "closed", t, "system", "system", history_tasks.ARCHIVE_NOTE,
                             None, None, depts, rules))
    te = pd.DataFrame(events)
    for col, typ in (("stage_wd", "uint16"), ("late_stages", "uint8")):
        te[col] = te[col].astype(typ)
    tasks = pd.DataFrame([{"task_id": k, **{c: v[c] for c in (
        "task_type", "credit_code", "grid_code", "dept_id", "created_at", "due_date", "status", "closed_at",
        "problem_found", "source_event_id", "detail", "late_stages", "work_days")}} for k, v in latest.items()])
    tasks["closed_at"] = pd.to_datetime(tasks["closed_at"])
    tasks["created_at"] = pd.to_datetime(tasks["created_at"])
    for col, typ in (("problem_found", "uint8"), ("late_stages", "uint8"), ("work_days", "uint16"),
                     ("source_event_id", "uint64")):
        tasks[col] = tasks[col].astype(typ)
    out.tables["task_events"], out.tables["tasks"] = te, tasks
    out.replaces["tasks"] = list(tasks["task_id"])


def _apply(st: dict, task_id: str, status: str, t: pd.Timestamp, actor: str, actor_kind: str, note: str,
           dept_id: object, problem_found: object, depts: pd.DataFrame, rules: TaskRules) -> dict:
    """Task ``st`` moves to ``status`` at ``t``: the task event, and ``st`` updated in place."""
    day = np.datetime64(t.date())
    stage_due = st["due_date"]
    late = int(st["late_stages"]) + int(t.normalize() > stage_due)
    wd = int(workdays_between(np.datetime64(st["stage_start"].date()), day))
    due = stage_due
    if status in STAGE_LIMIT:
        due = pd.Timestamp(add_workdays(np.array([day]), rules.limit(STAGE_LIMIT[status]))[0])
    dept = st["dept_id"]
    if status == "transferred":
        trade = st.get("industry") if isinstance(st.get("industry"), str) else ""
        dept = dept_id if isinstance(dept_id, str) and dept_id else str(route(
            depts, pd.Series([str(st["grid_code"])]), "licensing", pd.Series([trade])).iat[0])
    event = {
        "task_id": task_id, "event_time": t, "event_date": t.normalize(), "from_status": st["status"],
        "status": status, "due_date": due, "stage_due": stage_due, "stage_wd": max(wd, 0),
        "late_stages": min(late, 255), "actor": actor, "actor_kind": actor_kind, "note": note,
        "task_type": st["task_type"], "grid_code": st["grid_code"], "dept_id": dept, "credit_code": st["credit_code"]}
    closed = status == "closed"
    st.update(status=status, due_date=due, stage_start=t, late_stages=min(late, 255), dept_id=dept,
              problem_found=int(st["problem_found"]) or int(problem_found == "1") or int(status == "notice"),
              closed_at=t if closed else pd.NaT,
              work_days=int(workdays_between(np.datetime64(pd.Timestamp(st["created_at"]).date()), day))
              if closed else 0)
    return event
