"""Demo supervision tasks, generated stage by stage along the lifecycle of
:mod:`supervision.rules`: every transition is a task event with its time, actor
and the deadline of the stage it starts, so the demo exercises every view."""
from __future__ import annotations

import numpy as np
import pandas as pd

from etl.demo_events import office_time
from domain.workdays import add_workdays, workdays_between
from supervision.rules import CHANGE_ZH, LICENSING_DEPT, TaskRules, task_type_of

NO_DATE = np.datetime64("1970-01-01")
PROBLEM_KINDS = (["住所（经营场所）与登记不符", "无照经营"], [0.6, 0.4])
CLUE_KINDS = (["无照经营", "超范围经营", "食品安全隐患", "虚假宣传"], [0.4, 0.25, 0.2, 0.15])


def _lag(rng: np.random.Generator, limit: np.ndarray) -> np.ndarray:
    """Working days a stage takes: mostly within its limit, some late, a few very late."""
    u = rng.random(len(limit))
    on_time = 1 + (rng.random(len(limit)) * limit).astype(int)
    late = limit + 1 + rng.integers(0, 10, len(limit))
    very_late = limit + 11 + rng.integers(0, 20, len(limit))
    return np.where(u < 0.86, on_time, np.where(u < 0.96, late, very_late))


#: Share of each source's records pushed after the 1-hour limit (a feed that runs late).
LATE_PUSH_SHARE = {"registration": 0.02, "change": 0.05, "inspection": 0.03, "licence": 0.04, "penalty": 0.08}


def _late_pushes(rng: np.random.Generator, source: np.ndarray, created: np.ndarray,
                 today: np.datetime64) -> np.ndarray:
    """Some records reach their village late: hours late mostly, days late when a feed
    was down; never pushed after ``today`` (the demo ends when it is generated)."""
    share = np.array([LATE_PUSH_SHARE.get(s, 0.0) for s in source])
    hours = np.where(rng.random(len(source)) < 0.7, rng.integers(1, 24, len(source)),
                     24 * rng.integers(1, 21, len(source)))
    late = created + (hours * 3600).astype("timedelta64[s]")
    pick = (rng.random(len(source)) < share) & (late.astype("datetime64[D]") < today)
    return np.where(pick, late, created)


class _Machine:
    """Arrays of the tasks' current stage plus the events emitted so far."""

    def __init__(self, n: int) -> None:
        self.status = np.full(n, "", dtype=object)
        self.start = np.full(n, NO_DATE, dtype="datetime64[D]")
        self.due = np.full(n, NO_DATE, dtype="datetime64[D]")
        self.time = np.full(n, np.datetime64("1970-01-01T00:00:00"), dtype="datetime64[s]")
        self.dept = np.full(n, "", dtype=object)
        self.late = np.zeros(n, dtype="int64")
        self.end = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")  # sampled end of the stage
        self.events: list[dict[str, np.ndarray]] = []

    def move(self, idx: np.ndarray, status: str, time: np.ndarray, due: np.ndarray | None,
             actor: np.ndarray, actor_kind: np.ndarray | str, note: np.ndarray | str, dept: np.ndarray | None = None) -> None:
        """Tasks ``idx`` end their stage at ``time`` and enter ``status`` (deadline ``due``)."""
        if len(idx) == 0:
            return
        day = time.astype("datetime64[D]")
        first = self.status[idx] == ""
        stage_due = np.where(first, NO_DATE, self.due[idx])
        stage_wd = np.zeros(len(idx), dtype="int64")
        stage_wd[~first] = workdays_between(self.start[idx][~first], day[~first])
        late = self.late[idx] + (~first & (day > stage_due))
        new_due = stage_due if due is None else due
        if dept is not None:
            self.dept[idx] = dept
        self.events.append({
            "i": idx, "event_time": time, "from_status": np.where(first, "none", self.status[idx]),
            "status": np.full(len(idx), status, dtype=object), "due_date": new_due, "stage_due": stage_due,
            "stage_wd": stage_wd, "late_stages": late, "actor": actor,
            "actor_kind": np.broadcast_to(np.asarray(actor_kind, dtype=object), (len(idx),)),
            "note": np.broadcast_to(np.asarray(note, dtype=object), (len(idx),)), "dept_id": self.dept[idx].copy()})
        self.status[idx], self.start[idx], self.due[idx] = status, day, new_due
        self.time[idx], self.late[idx] = time, late
        self.end[idx] = np.datetime64("NaT")

    def ending(self, rng: np.random.Generator, status: str, limit: int | np.ndarray,
               until: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
        """Tasks in ``status`` whose stage ends by ``until``, and when (each stage's
        length is drawn once, when first asked; a stage that ends later today stays open)."""
        idx = np.flatnonzero(self.status == status)
        new = idx[np.isnat(self.end[idx])]
        limits = np.broadcast_to(np.asarray(limit), self.status.shape)[new]
        self.end[new] = add_workdays(self.start[new], _lag(rng, limits))
        end_day = self.end[idx]
        keep = end_day <= until.astype("datetime64[D]")
        idx, end_day = idx[keep], end_day[keep]
        t = np.maximum(office_time(rng, end_day), self.time[idx] + np.timedelta64(60, "s"))
        now = t <= until
        self.end[idx[~now]] = np.datetime64("2999-12-31")  # ends after the demo does: stays open
        return idx[now], t[now]


def make_tasks(rng: np.random.Generator, ev: pd.DataFrame, until: np.datetime64, workers: pd.DataFrame,
               rules: TaskRules | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tasks (current state) and task events for the demo event log ``ev``, as they stand at
    ``until`` (datetime64[s], the demo's end: nothing is pushed or done after it)."""
    rules = rules or TaskRules()
    today = until.astype("datetime64[D]")
    lim = rules.limit
    types = task_type_of(ev["event_type"], ev["detail"], ev["result"])
    src = ev[types != ""].reset_index(drop=True)
    ttype = types[types != ""]
    n = len(src)
    s_type = src["event_type"].to_numpy()
    verify = np.isin(ttype, ["verify_registration", "verify_change"])
    grid = src["grid_code"].to_numpy(dtype=object)
    town, city = src["grid_code"].str[:9].to_numpy(dtype=object), src["grid_code"].str[:4].to_numpy(dtype=object)
    industry = src["industry"].to_numpy(dtype=object)
    worker = (workers.drop_duplicates("grid_code").set_index("grid_code")["worker_id"]
              .reindex(grid).fillna("").to_numpy(dtype=object))
    town_market, town_office = town + "-01", town + "-02"
    licensing = np.array([LICENSING_DEPT.get(i, "01") for i in industry], dtype=object)

    problem = verify & (rng.random(n) < 0.07)
    detail = np.array([CHANGE_ZH.get(d, "") for d in src["detail"].to_numpy(dtype=object)], dtype=object)
    detail = np.where(s_type == "change", detail, "")
    kinds = rng.choice(PROBLEM_KINDS[0], n, p=PROBLEM_KINDS[1]).astype(object)
    clue_kinds = rng.choice(CLUE_KINDS[0], n, p=CLUE_KINDS[1]).astype(object)
    kind = np.where(ttype == "clue", clue_kinds, np.where(problem, kinds, ""))
    detail = np.where(ttype == "disclosure", src["detail"].to_numpy(dtype=object),
                      np.where(kind != "", kind, detail))
    unlicensed_trade = (kind == "无照经营") & np.isin(industry, list(LICENSING_DEPT))
    responsible = np.where(unlicensed_trade, city + "-" + licensing, city + "-01")

    m = _Machine(n)
    created = (src["event_time"].to_numpy().astype("datetime64[s]")
               + rng.integers(60, 3300, n).astype("timedelta64[s]"))
    created = _late_pushes(rng.spawn(1)[0], s_type, created, today)
    cday = created.astype("datetime64[D]")
    limit0 = np.select([verify, ttype == "clue"], [lim("inspection"), lim("clue_forward")], lim("disclosure"))
    due0 = add_workdays(cday, limit0)
    all_idx = np.arange(n)
    status0 = np.select([verify, ttype == "clue"], ["pending", "town"], "pending")
    for st, sel in (("pending", status0 == "pending"), ("town", status0 == "town")):
        idx = all_idx[sel]
        is_clue = ttype[idx] == "clue"
        disc_dept = np.where(s_type[idx] == "licence", city[idx] + "-" + licensing[idx], town_market[idx])
        m.move(idx, st, created[idx], due0[idx],
               actor=np.where(is_clue, worker[idx], "system"),
               actor_kind=np.where(is_clue, "grid_worker", "system"),
               note=np.where(is_clue, "网格巡查发现线索，报镇街综治办", np.where(
                   ttype[idx] == "disclosure", "许可、处罚决定作出，推送公示任务", "新设、变更登记信息自动推送至村（社区）")),
               dept=np.where(is_clue, town_office[idx], np.where(ttype[idx] == "disclosure", disc_dept,
                                                                   town_market[idx])))

    idx = np.flatnonzero(verify)
    t = created[idx] + rng.integers(300, 1800, len(idx)).astype("timedelta64[s]")
    ok = t <= until
    m.move(idx[ok], "inspecting", t[ok], None, worker[idx[ok]], "grid_worker", "派发至网格员，开展首次实地核查")

    returns = rng.spawn(1)[0]  # its own stream: the other draws stay as they were
    for _ in range(8):  # stages in lifecycle order; loops until every task has settled
        idx, t = m.ending(rng, "inspecting", lim("inspection"), until)
        bad = problem[idx]
        m.move(idx[~bad], "closed", t[~bad], None, worker[idx[~bad]], "grid_worker", "首次核查：经营情况与登记一致，办结")
        d = t[bad].astype("datetime64[D]")
        m.move(idx[bad], "notice", t[bad], add_workdays(d, lim("recheck")), worker[idx[bad]],
               "grid_worker", "首次核查发现问题（" + kind[idx[bad]] + "），下达书面整改通知")

        idx, t = m.ending(rng, "notice", lim("recheck"), until)
        fixed = rng.random(len(idx)) < 0.8
        m.move(idx[fixed], "closed", t[fixed], None, worker[idx[fixed]], "grid_worker", "复查：已整改到位，办结")
        d = t[~fixed].astype("datetime64[D]")
        m.move(idx[~fixed], "joint", t[~fixed], add_workdays(d, lim("joint")),
               worker[idx[~fixed]], "grid_worker", "复查：逾期未整改，转村（社区）联合处置")

        idx, t = m.ending(rng, "joint", lim("joint"), until)
        fixed = rng.random(len(idx)) < 0.4
        village = np.array([g[:12] for g in grid[idx]], dtype=object)
        m.move(idx[fixed], "closed", t[fixed], None, village[fixed], "village", "村（社区）联合处置完毕，办结")
        d = t[~fixed].astype("datetime64[D]")
        m.move(idx[~fixed], "town", t[~fixed], add_workdays(d, lim("town")), village[~fixed],
               "village", "村（社区）处置未果，提交镇街处置")

        idx, t = m.ending(rng, "town", np.where(ttype == "clue", lim("clue_forward"), lim("town")), until)
        fixed = (ttype[idx] != "clue") & (rng.random(len(idx)) < 0.3)
        m.move(idx[fixed], "closed", t[fixed], None, town_office[idx[fixed]], "town_office", "镇街处置完毕，办结")
        back = ~fixed & (ttype[idx] != "clue") & (returns.random(len(idx)) < 0.12)  # 退回村（社区）
        m.move(idx[back], "joint", t[back], add_workdays(t[back].astype("datetime64[D]"), lim("joint")),
               town_office[idx[back]], "town_office", "镇街退回村（社区）继续处置")
        fixed = fixed | back
        up = idx[~fixed]
        d = t[~fixed].astype("datetime64[D]")
        m.move(up, "transferred", t[~fixed], add_workdays(d, lim("department")), town_office[up],
               "town_office", np.where(unlicensed_trade[up], "推送至许可审批部门（谁审批、谁监管）",
                                       "推送至市场监管部门"), dept=responsible[up])

        idx, t = m.ending(rng, "transferred", lim("department"), until)
        m.move(idx, "closed", t, None, m.dept[idx], "department", "职能部门反馈处理结果，办结")

        idx, t = m.ending(rng, "pending", lim("disclosure"), until)
        idx, t = idx[ttype[idx] == "disclosure"], t[ttype[idx] == "disclosure"]
        m.move(idx, "closed", t, None, m.dept[idx], "department", "已在公示系统公示，办结")

    tasks, te = _frames(m, src, ttype, grid, created, problem, detail)
    # A record of the last minutes before ``until`` whose push would come after it: not pushed yet.
    pushed = tasks["created_at"].to_numpy() <= until.astype("datetime64[ns]")
    return tasks[pushed].reset_index(drop=True), te[te["task_id"].isin(tasks["task_id"][pushed])].reset_index(drop=True)


def _frames(m: _Machine, src: pd.DataFrame, ttype: np.ndarray, grid: np.ndarray, created: np.ndarray,
            problem: np.ndarray, detail: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    task_id = ("T" + pd.Series(src["event_id"].to_numpy()).astype(str).str.zfill(10)).to_numpy(dtype=object)
    cols = {k: np.concatenate([e[k] for e in m.events]) for k in m.events[0]}
    i = cols.pop("i")
    te = pd.DataFrame({"task_id": task_id[i], "event_time": cols["event_time"].astype("datetime64[ns]")})
    te["event_date"] = te["event_time"].dt.normalize()
    for k in ("from_status", "status"):
        te[k] = cols[k]
    for k in ("due_date", "stage_due"):
        te[k] = cols[k].astype("datetime64[ns]")
    te["stage_wd"] = cols["stage_wd"].astype("uint16")
    te["late_stages"] = np.minimum(cols["late_stages"], 255).astype("uint8")
    for k in ("actor", "actor_kind", "note"):
        te[k] = cols[k]
    te["task_type"], te["grid_code"], te["dept_id"] = ttype[i], grid[i], cols["dept_id"]
    te["credit_code"] = src["credit_code"].to_numpy(dtype=object)[i]
    push = te["from_status"].to_numpy() == "none"  # the push keeps its record's own time and source
    te["source_time"] = np.where(push, src["event_time"].to_numpy().astype("datetime64[s]")[i],
                                 np.datetime64(0, "s")).astype("datetime64[ns]")
    te["source"] = np.where(push, src["event_type"].to_numpy(dtype=object)[i], "")
    te = te.sort_values(["task_id", "event_time"], kind="stable").reset_index(drop=True)

    last = te.groupby("task_id", sort=False).tail(1).set_index("task_id").reindex(task_id)
    closed = (last["status"] == "closed").to_numpy()
    tasks = pd.DataFrame({
        "task_id": task_id, "task_type": ttype, "credit_code": src["credit_code"].to_numpy(),
        "grid_code": grid, "dept_id": last["dept_id"].to_numpy(),
        "created_at": created.astype("datetime64[ns]"), "due_date": last["due_date"].to_numpy(),
        "status": last["status"].to_numpy(),
        "closed_at": np.where(closed, last["event_time"].to_numpy(), np.datetime64("NaT")).astype("datetime64[ns]"),
        "problem_found": problem.astype("uint8"), "source_event_id": src["event_id"].to_numpy().astype("uint64"),
        "detail": detail, "late_stages": last["late_stages"].to_numpy().astype("uint8")})
    close_day = tasks["closed_at"].to_numpy().astype("datetime64[D]")
    work = np.zeros(len(tasks), dtype="int64")
    work[closed] = workdays_between(created.astype("datetime64[D]")[closed], close_day[closed])
    tasks["work_days"] = work.astype("uint16")
    return tasks, te
