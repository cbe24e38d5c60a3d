"""Demo 联合惩戒 (docs/joint.md): a case for every alive entity that entered the
serious-dishonesty list within the demo's window, opened when it entered, with an action
for each participating department (supervision.joint.MEMORANDA['dishonest']). Most
departments report back within a week (some after their deadline). Every such entity is still
on the list, so no case is repaired (信用修复 takes it off). Nothing is dated after the demo's end.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from domain.workdays import add_workdays
from supervision.joint import MEMORANDA

DONE_RATE = 0.85
BY = "系统导入"
EPOCH = pd.Timestamp("1970-01-01")


def make_joint(seed: int, until: np.datetime64, entities: pd.DataFrame, events: pd.DataFrame,
               depts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo's ``joint_cases`` and ``joint_actions`` (their own random stream)."""
    rng = np.random.default_rng([seed, 31])
    end = pd.Timestamp(until)
    memo = MEMORANDA["dishonest"]
    listed = entities[(entities["dishonest"] == 1) & (entities["status"] == "active")]
    entries = events[(events["event_type"] == "list_entry") & (events["detail"] == "严重违法失信名单")
                     & events["credit_code"].isin(set(listed["credit_code"]))]
    entries = entries.sort_values("event_time").groupby("credit_code").tail(1)
    if entries.empty:
        return pd.DataFrame(), pd.DataFrame()
    grid = dict(zip(listed["credit_code"], listed["grid_code"]))
    cases, actions = [], []
    for code, when in zip(entries["credit_code"], pd.to_datetime(entries["event_time"])):
        g = grid[code]
        mine = depts[[g.startswith(str(r)) for r in depts["region_code"]]]
        takers = mine[mine["kind"].isin(memo.participants)]
        office = mine[mine["kind"] == "market_regulator"].sort_values("region_code", key=lambda s: -s.str.len())
        if takers.empty or office.empty:
            continue
        case_id = f"LH{when:%Y%m%d%H%M%S}{code[-6:]}00"
        due = pd.Timestamp(add_workdays(np.array([when.date()], dtype="datetime64[D]"), memo.feedback_days)[0])
        reported = rng.random(len(takers)) < DONE_RATE
        done = when + pd.to_timedelta(rng.integers(1, 10, len(takers)), unit="D") + pd.to_timedelta(
            rng.integers(9 * 3600, 17 * 3600, len(takers)), unit="s")
        done = pd.to_datetime(np.where(reported & (done <= end), done.floor("s"), EPOCH))
        opened = pd.DataFrame({
            "case_id": case_id, "dept_id": takers["dept_id"].to_numpy(), "credit_code": code, "grid_code": g,
            "measures": "；".join(memo.measures), "opened_at": when, "due_date": due, "done_at": EPOCH,
            "done_by": "", "note": "", "entered_at": when, "version": 1})
        fed = np.asarray(done > EPOCH)  # a department's report: a second row entered when it was made
        actions += [opened, opened[fed].assign(done_at=done[fed], done_by=BY, note="已落实惩戒措施",
                                                entered_at=done[fed], version=2)]
        cases.append({"case_id": case_id, "credit_code": code, "grid_code": g, "memo_id": memo.id,
                      "dept_id": str(office["dept_id"].iloc[0]), "reason": "列入严重违法失信名单", "opened_at": when,
                      "opened_by": BY, "closed_at": EPOCH, "closed_by": "", "close_note": "", "version": 1})
    return pd.DataFrame(cases), pd.concat(actions, ignore_index=True) if actions else pd.DataFrame()
