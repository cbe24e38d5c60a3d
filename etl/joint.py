"""Writes of 联合惩戒 (docs/joint.md): a case opened by the initiating department (the
entity's market-regulation office) under a memorandum — by hand, or for every entity on the
serious-dishonesty list without one (:func:`sync_dishonest`) — with one action per
participating department, due ``feedback_days`` working days later; each department reports
back what it did; credit repair (信用修复) closes the case.

Rows are appended with a growing ``version`` (the newest counts). The caller audits.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

import pandas as pd

from domain.errors import InvalidParameter, JinjianError
from domain.uscc import InvalidCreditCode, validate
from queries import joint as q
from store.engine import Engine
from store.executor import run
from queries.golive import go_live_dates, history_mask
from store.filters import NATIONAL, RegionScope
from supervision.joint import MEMORANDA, feedback_due

logger = logging.getLogger(__name__)

MAX_TEXT = 200
#: Who opens the cases of a loaded list batch (shown as 发起人).
AUTO_BY = "系统（名录导入）"
_CHUNK = 5000  # credit codes per bound IN list (a query stays far below max_query_size)
EPOCH = pd.Timestamp("1970-01-01")


class CaseRefused(InvalidParameter):
    user_message = "联合惩戒案件不能发起"


class CaseNotFound(JinjianError):
    user_message = "未找到该联合惩戒案件"
    http_status = 404


def _text(value: str, what: str, required: bool = False) -> str:
    value = (value or "").strip()
    if len(value) > MAX_TEXT or (required and not value):
        raise CaseRefused(f"{what} {value[:40]!r}", user_message=f"请填写{what}（不超过 {MAX_TEXT} 字）")
    return value


def _entity(db: Engine, credit_code: str, scope: RegionScope) -> pd.Series:
    try:
        code = validate(credit_code)
    except InvalidCreditCode as exc:
        raise CaseRefused(str(exc), user_message=exc.user_message) from None
    df = run(db, "joint_entity", "SELECT credit_code, grid_code, name, abnormal, dishonest FROM entities "
             "WHERE credit_code = %(c)s AND grid_code LIKE %(like)s LIMIT 1", {"c": code, "like": scope.prefix + "%"})
    if df.empty:
        raise CaseRefused(f"entity {code} not in {scope.prefix}", user_message=f"辖区内没有统一社会信用代码为 {code} 的市场主体")
    return df.iloc[0]


def open_case(db: Engine, credit_code: str, memo_id: str, scope: RegionScope, by: str, reason: str,
              now: dt.datetime | None = None, entered: dt.datetime | None = None) -> str:
    """Open a case on an entity of the scope under memorandum ``memo_id``; return its id.
    ``now``: when it opens (its deadline runs from then); ``entered``: when its actions were
    written (default ``now``; a listing loaded late opens in the past but is entered today)."""
    now = (now or dt.datetime.now()).replace(microsecond=0)
    entered = (entered or now).replace(microsecond=0)
    memo = MEMORANDA.get(memo_id)
    if memo is None:
        raise CaseRefused(f"memo {memo_id!r}", user_message="请选择合作备忘录")
    reason = _text(reason, "惩戒事由", required=True)
    ent = _entity(db, credit_code, scope)
    code, grid = str(ent["credit_code"]), str(ent["grid_code"])
    if not int(ent[memo.list_flag]):
        listed = {"dishonest": "严重违法失信名单", "abnormal": "经营异常名录"}[memo.list_flag]
        raise CaseRefused(f"{code} not on {memo.list_flag}", user_message=f"该主体未列入{listed}，不能按本备忘录发起")
    if not q.in_force(db, code, grid)[lambda d: d["memo_id"] == memo_id].empty:
        raise CaseRefused(f"{code} already has an open {memo_id} case", user_message="该主体已有同一备忘录下的在办案件")
    depts = run(db, "joint_depts", "SELECT dept_id, region_code, toString(kind) AS kind FROM departments")
    mine = depts[[grid.startswith(str(r)) for r in depts["region_code"]]]  # departments whose region holds it
    takers = mine[mine["kind"].isin(memo.participants)].sort_values("dept_id")
    initiator = mine[mine["kind"] == "market_regulator"].sort_values("region_code", key=lambda s: -s.str.len())
    if takers.empty or initiator.empty:
        raise CaseRefused(f"no departments for {memo_id} at {grid}", user_message="部门名录中没有可参与联合惩戒的部门")
    case_id = f"LH{now:%Y%m%d%H%M%S}{code[-6:]}{secrets.token_hex(2).upper()}"
    version = time.time_ns()
    due = feedback_due(now.date(), memo.feedback_days)
    db.insert("joint_actions", pd.DataFrame({
        "case_id": case_id, "dept_id": takers["dept_id"].to_numpy(), "credit_code": code, "grid_code": grid,
        "measures": "；".join(memo.measures), "opened_at": pd.Timestamp(now), "due_date": pd.Timestamp(due),
        "done_at": EPOCH, "done_by": "", "note": "", "entered_at": pd.Timestamp(entered), "version": version}))
    db.insert("joint_cases", pd.DataFrame({
        "case_id": [case_id], "credit_code": [code], "grid_code": [grid], "memo_id": [memo_id],
        "dept_id": [str(initiator["dept_id"].iloc[0])], "reason": [reason], "opened_at": [pd.Timestamp(now)],
        "opened_by": [by], "closed_at": [EPOCH], "closed_by": [""], "close_note": [""], "version": [version]}))
    logger.info("joint case %s on %s (%s): %d departments, due %s", case_id, code, memo_id, len(takers), due)
    return case_id


def sync_dishonest(db: Engine, scope: RegionScope, by: str, now: dt.datetime | None = None) -> list[str]:
    """A case for every active entity of the scope on the serious-dishonesty list without an open
    one and not repaired since it last entered the list; an entity that cannot get one (no
    participating department for its grid) is logged and skipped. Returns the cases opened."""
    listed = run(db, "joint_dishonest", """
        SELECT credit_code FROM entities WHERE grid_code LIKE %(like)s AND dishonest = 1 AND status = 'active'
        ORDER BY credit_code""", {"like": scope.prefix + "%"})
    return _open_listed(db, scope, by, {code: now for code in listed["credit_code"]})[0]


def open_for_batch(db: Engine, batch_id: str, history: bool = False,
                   by: str = AUTO_BY) -> tuple[list[str], list[str], int]:
    """联合惩戒 for what a loaded 名录列入与移出 batch did to the serious-dishonesty list: a case for
    each active entity it put (and left) on the list, opened at the listing's decision time (the
    duty starts with the listing, not when the file arrived) under the rules of
    :func:`sync_dishonest`; an entity it took off the list has its open case closed as repaired
    (信用修复) at the exit's time (never before the case opened). Listings of a history load or
    dated before their region's go-live open none; exits close cases whatever their age.
    Idempotent (a batch sent again changes nothing more). Returns (opened, closed, refused)."""
    info = run(db, "joint_batch_range", "SELECT argMax(data_from, version) AS a, argMax(data_to, version) AS b "
               "FROM ingest_batches WHERE batch_id = %(b)s", {"b": batch_id})
    if info.empty or pd.isna(info["a"].iloc[0]):
        return [], [], 0
    moves = run(db, "joint_batch_listings", """
        SELECT credit_code, any(grid_code) AS grid_code, toString(event_type) AS kind, max(event_time) AS at
        FROM events WHERE event_date >= %(a)s AND event_date <= %(b)s AND batch_id = %(batch)s
          AND event_type IN ('list_entry', 'list_exit') AND detail = '严重违法失信名单'
        GROUP BY credit_code, kind ORDER BY credit_code, kind""",
               {"a": pd.Timestamp(info["a"].iloc[0]).date(), "b": pd.Timestamp(info["b"].iloc[0]).date(),
                "batch": batch_id})
    if moves.empty:
        return [], [], 0
    codes = sorted(set(moves["credit_code"]))
    flags = pd.concat([run(db, "joint_batch_entities", "SELECT credit_code, any(dishonest) AS listed, "
                         "any(toString(status)) AS status FROM entities WHERE credit_code IN %(c)s "
                         "GROUP BY credit_code", {"c": codes[i:i + _CHUNK]}) for i in range(0, len(codes), _CHUNK)])
    moves = moves.join(flags.set_index("credit_code"), on="credit_code")
    past = history_mask(moves["grid_code"], moves["at"], go_live_dates(db)) | history
    entries = moves[(moves["kind"] == "list_entry") & (moves["listed"] == 1) & (moves["status"] == "active") & ~past]
    opened, refused = _open_listed(db, NATIONAL, by, {c: pd.Timestamp(t).to_pydatetime() for c, t in
                                                      zip(entries["credit_code"], entries["at"])}, dt.datetime.now())
    exits, closed = moves[(moves["kind"] == "list_exit") & (moves["listed"] == 0)], []
    for code, at in zip(exits["credit_code"], exits["at"]):
        for case in q.in_force(db, code, "").itertuples(index=False):
            if case.memo_id == "dishonest":
                when = max(pd.Timestamp(at), pd.Timestamp(case.opened_at)).to_pydatetime()
                repair(db, str(case.case_id), NATIONAL, by, "移出严重违法失信名单", when)
                closed.append(str(case.case_id))
    return opened, closed, refused


def cases_for_batch(db: Engine, batch_id: str, history: bool = False) -> list[str]:
    """:func:`open_for_batch` for the loader: what to tell the sender. The batch stays loaded
    when this fails; sent again, it is done then (or by the 联合惩戒 page)."""
    try:
        opened, closed, refused = open_for_batch(db, batch_id, history)
    except Exception:  # noqa: BLE001 - the batch is loaded whatever happens here
        logger.exception("joint cases of batch %s not opened or repaired", batch_id[:12])
        return ["联合惩戒案件未能自动发起或修复，请重新报送本批次或在联合惩戒页处理"]
    return ([f"已按合作备忘录发起联合惩戒案件 {len(opened)} 件"] if opened else []) + (
        [f"已信用修复联合惩戒案件 {len(closed)} 件（移出严重违法失信名单）"] if closed else []) + (
        [f"{refused} 户列入严重违法失信名单但未能发起联合惩戒（部门名录中没有可参与的部门）"] if refused else [])


def _open_listed(db: Engine, scope: RegionScope, by: str, listed: dict[str, dt.datetime | None],
                 written: dt.datetime | None = None) -> tuple[list[str], int]:
    """Open a 严重违法失信 case for each of ``listed`` (credit code → opening time) that has no open
    one and was not repaired since it last entered the list; (cases opened, entities refused)."""
    known = q.cases(db, scope.prefix)
    known = known[known["memo_id"] == "dishonest"]
    entered = run(db, "joint_list_entries", """
        SELECT credit_code, max(event_time) AS entered FROM events
        WHERE event_type = 'list_entry' AND detail = '严重违法失信名单' AND grid_code LIKE %(like)s
        GROUP BY credit_code""", {"like": scope.prefix + "%"})
    last = dict(zip(entered["credit_code"], entered["entered"]))
    skip = set(known.loc[known["closed_at"] <= EPOCH, "credit_code"])  # open
    for code, closed in zip(known["credit_code"], known["closed_at"]):  # repaired after the last entry
        if closed > EPOCH and (code not in last or pd.Timestamp(last[code]) <= closed):
            skip.add(code)
    opened, refused = [], 0
    for code, when in listed.items():
        if code in skip:
            continue
        try:
            opened.append(open_case(db, code, "dishonest", scope, by, "列入严重违法失信名单", when, written))
        except CaseRefused as exc:
            refused += 1
            logger.warning("joint sync: no case for %s: %s", code, exc.detail)
    return opened, refused


def feedback(db: Engine, case_id: str, dept_id: str, scope: RegionScope, by: str, note: str,
             now: dt.datetime | None = None) -> None:
    """A participating department reports back what it did (the newest report counts)."""
    now = (now or dt.datetime.now()).replace(microsecond=0)
    note = _text(note, "执行情况", required=True)
    rows = q.actions(db, case_id, scope.prefix)
    row = rows[rows["dept_id"] == dept_id]
    if row.empty:
        raise CaseNotFound(f"action {case_id}/{dept_id} not in {scope.prefix}")
    r = row.iloc[0]
    done = pd.Timestamp(r["done_at"]) if pd.Timestamp(r["done_at"]) > EPOCH else pd.Timestamp(now)  # a correction keeps it
    db.insert("joint_actions", pd.DataFrame({
        "case_id": [case_id], "dept_id": [dept_id], "credit_code": [r["credit_code"]], "grid_code": [r["grid_code"]],
        "measures": [r["measures"]], "opened_at": [pd.Timestamp(r["opened_at"])], "due_date": [pd.Timestamp(r["due_date"])],
        "done_at": [done], "done_by": [by], "note": [note], "entered_at": [pd.Timestamp(now)],
        "version": [time.time_ns()]}))


def repair(db: Engine, case_id: str, scope: RegionScope, by: str, note: str, now: dt.datetime | None = None) -> None:
    """信用修复: the case closes; its measures are no longer in force."""
    now = (now or dt.datetime.now()).replace(microsecond=0)
    note = _text(note, "信用修复说明", required=True)
    c = q.case(db, case_id, scope.prefix)
    if c is None:
        raise CaseNotFound(f"case {case_id} not in {scope.prefix}")
    if pd.Timestamp(c["closed_at"]) > EPOCH:
        raise CaseRefused(f"case {case_id} closed", user_message="该案件已信用修复")
    db.insert("joint_cases", pd.DataFrame({
        "case_id": [case_id], "credit_code": [c["credit_code"]], "grid_code": [c["grid_code"]],
        "memo_id": [c["memo_id"]], "dept_id": [c["dept_id"]], "reason": [c["reason"]],
        "opened_at": [pd.Timestamp(c["opened_at"])], "opened_by": [c["opened_by"]], "closed_at": [pd.Timestamp(now)],
        "closed_by": [by], "close_note": [note], "version": [time.time_ns()]}))


__all__ = ["CaseNotFound", "CaseRefused", "feedback", "cases_for_batch", "open_case", "open_for_batch", "repair", "sync_dishonest"]
