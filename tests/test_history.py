"""History and go-live (上线日期) on both engines: a town onboards three years of
registrations and then a week of live ones. Records dated before the go-live date — or
loaded with ``history=True`` — count in every entity figure but push no task, so the
wall shows no phantom open work; live records push their tasks as before. Figures are
checked through the API against pandas over the same files."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from etl.readiness import check
from etl.reference.golive import set_go_live
from queries.golive import go_live_dates, history_mask
from store import db as dbmod
from store.executor import run
from tests.refkit import departments_csv, grids_geojson, ingestor, make_grids, ref_env_fixture, registrations_csv

TOWN = "441900107"  # 桥头镇
env = ref_env_fixture("history")


@pytest.fixture(scope="module")
def town(env):
    """Grids and departments of the town, its go-live date a week ago, then the files."""
    grids = make_grids(TOWN, 2, 2)
    env.load("grids", grids_geojson(grids), "网格.geojson", scope=TOWN)
    env.load("departments", departments_csv([
        {"部门编码": "D107SJS", "部门名称": "桥头市场监管所", "所属区划代码": TOWN, "部门类型": "市场监管", "审批行业": ""}]),
        "部门.csv", scope=TOWN)
    today = dt.date.today()
    live_from = today - dt.timedelta(days=7)
    set_go_live(env.db, TOWN, live_from)
    codes = list(grids["code"])
    past, past_frame = registrations_csv(codes, 300, seed=31, start=today - dt.timedelta(days=3 * 365),
                                         end=live_from - dt.timedelta(days=1))
    live, live_frame = registrations_csv(codes, 20, seed=32, start=live_from)
    # one file with both: each record is judged by its own date
    mixed = pd.concat([past_frame, live_frame], ignore_index=True)
    both = past.rstrip(b"\n") + b"\n" + b"\n".join(live.split(b"\n")[1:])
    ing = ingestor(env.db, env.tmp)
    res = ing.ingest_bytes("registration", both, file_name="登记-三年.csv", scope=TOWN)
    bulk, bulk_frame = registrations_csv(codes, 15, seed=33, start=live_from)
    hist = ing.ingest_bytes("registration", bulk, file_name="登记-补录.csv", scope=TOWN, history=True)
    return {"env": env, "res": res, "hist": hist, "frames": (mixed, live_frame, bulk_frame), "live_from": live_from}


def test_history_pushes_no_task(town):
    env, res, hist = town["env"], town["res"], town["hist"]
    mixed, live, bulk = town["frames"]
    assert (res.rows_in, res.rows_loaded, hist.rows_loaded) == (320, 320, 15)
    assert any("300 条记录早于上线日期" in w for w in res.warnings), res.warnings
    assert any("15 条记录" in w for w in hist.warnings), hist.warnings
    tasks = run(env.db, "t_hist_tasks", "SELECT credit_code, toString(status) AS s FROM tasks "
                "WHERE grid_code LIKE %(like)s", {"like": TOWN + "%"})
    assert sorted(tasks["credit_code"]) == sorted(live["统一社会信用代码"])  # the live week only
    assert set(tasks["s"]) == {"pending"}
    ents = run(env.db, "t_hist_ents", "SELECT count() AS n FROM entities WHERE grid_code LIKE %(like)s",
               {"like": TOWN + "%"})
    assert int(ents["n"].iloc[0]) == len(mixed) + len(bulk)  # history counts in every stock


def test_figures_equal_pandas(town, flask_server, monkeypatch):
    env = town["env"]
    mixed, live, bulk = town["frames"]
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(env.db)
    try:
        client = flask_server.test_client()
        day = dt.date.today()

        def value(ind: str) -> float:
            resp = client.get(f"/api/v1/indicators/{ind}/values?region={TOWN}&date={day}&grain=month")
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            return json.loads(resp.get_data(as_text=True))["items"][0]["value"]

        regs = pd.concat([mixed, bulk], ignore_index=True)
        this_month = pd.to_datetime(regs["成立日期"]) >= pd.Timestamp(day.replace(day=1))
        assert value("entity_stock") == len(regs)
        assert value("new_registrations") == int(this_month.sum())
        assert value("tasks_open") == len(live)            # no phantom work
        assert value("tasks_overdue") == 0
        # 推送时效: each live record's push is timed from its own date (a date alone = 00:00),
        # not from its arrival; history pushes nothing, so it is not counted late
        pushes = run(env.db, "t_hist_push", "SELECT credit_code, event_time, source_time, source FROM task_events "
                     "WHERE grid_code LIKE %(like)s AND from_status = 'none'", {"like": TOWN + "%"})
        own = pd.to_datetime(live.set_index("统一社会信用代码")["成立日期"])
        assert (pd.to_datetime(pushes["source_time"]).to_numpy() == own.loc[pushes["credit_code"]].to_numpy()).all()
        assert set(pushes["source"]) == {"registration"}
        lag = (pd.to_datetime(pushes["event_time"]) - pd.to_datetime(pushes["source_time"])).dt.total_seconds()
        this = pd.to_datetime(pushes["event_time"]) >= pd.Timestamp(day.replace(day=1))
        assert value("push_late") == int((this & (lag > 3600)).sum()) > 0
        assert value("push_ontime_rate") == pytest.approx(100 * int((this & (lag <= 3600)).sum()) / int(this.sum()))
    finally:
        dbmod.set_db(None)


def test_go_live_is_shown_and_judged_per_region(town):
    env, live_from = town["env"], town["live_from"]
    assert go_live_dates(env.db)[TOWN] == live_from
    finding = next(f for f in check(env.db, TOWN, users=[]) if "上线日期" in f.zh)
    assert finding.severity == "ok" and str(live_from) in finding.zh
    # the deepest region with a date wins; records elsewhere are live
    dates = {"4419": dt.date(2020, 1, 1), TOWN: live_from}
    places = pd.Series([TOWN + "001001", "441900003001001", "440106001001001"])
    when = pd.Series(pd.to_datetime([str(live_from - dt.timedelta(days=1)), "2019-12-31", "2001-01-01"]))
    assert history_mask(places, when, dates).tolist() == [True, True, False]
    assert history_mask(places, when, {}).tolist() == [False, False, False]


def _feedback_csv(rows: list[tuple[str, str, dt.datetime, str]]) -> bytes:
    """(feedback id, task id, time, 处置结果) → a feedback CSV from a grid worker."""
    lines = ["反馈编号,任务编号,反馈时间,处置结果,办理人,办理人类型"]
    lines += [f"{f},{t},{when:%Y-%m-%d %H:%M:%S},{status},网格员甲,网格员" for f, t, when, status in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_history_feedback_gives_real_timelines_and_no_open_work(town, flask_server, monkeypatch):
    from etl.ingest.transform import stable_id

    env, live_from = town["env"], town["live_from"]
    mixed, live, bulk = town["frames"]
    past = mixed[pd.to_datetime(mixed["成立日期"]).dt.date < live_from].reset_index(drop=True)
    task = {c: "T" + str(stable_id("registration", c)) for c in pd.concat([past, live, bulk])["统一社会信用代码"]}
    a, b = past.iloc[0], past.iloc[1]
    day_a, day_b = (pd.Timestamp(x["成立日期"]).to_pydatetime() for x in (a, b))
    c, lv = bulk.iloc[0], live.iloc[0]
    day_c = pd.Timestamp(c["成立日期"]).to_pydatetime()
    ing = ingestor(env.db, env.tmp)
    res = ing.ingest_bytes("task_feedback", _feedback_csv([
        ("FA1", task[a["统一社会信用代码"]], day_a + dt.timedelta(days=1, hours=10), "核查中"),
        ("FA2", task[a["统一社会信用代码"]], day_a + dt.timedelta(days=3, hours=10), "办结"),
        ("FB1", task[b["统一社会信用代码"]], day_b + dt.timedelta(days=1, hours=9), "核查中"),
        ("FB2", task[b["统一社会信用代码"]], day_b + dt.timedelta(days=2, hours=9), "限期整改"),
        ("FX1", "T123456789", day_b + dt.timedelta(days=2), "核查中"),  # no such record: refused
    ]), file_name="历史反馈.csv", scope=TOWN)
    assert (res.rows_in, res.rows_loaded, res.rows_rejected) == (5, 4, 1)
    assert {p.code for p in res.problems} == {"unknown_task"}
    # history feedback in a history batch, dated after go-live; and live feedback on a live task
    now = dt.datetime.now().replace(microsecond=0)
    hist = ing.ingest_bytes("task_feedback", _feedback_csv([
        ("FC1", task[c["统一社会信用代码"]], max(day_c, now - dt.timedelta(hours=2)), "核查中")]),
        file_name="补录反馈.csv", scope=TOWN, history=True)
    live_fb = ing.ingest_bytes("task_feedback", _feedback_csv([
        ("FL1", task[lv["统一社会信用代码"]], dt.datetime.now().replace(microsecond=0), "核查中")]), file_name="反馈.csv", scope=TOWN)
    assert hist.rows_loaded == live_fb.rows_loaded == 1

    te = run(env.db, "t_hist_te", "SELECT task_id, event_time, toString(from_status) AS f, toString(status) AS s, "
             "actor_kind, note, toUnixTimestamp(source_time) AS st FROM task_events WHERE task_id IN %(t)s "
             "ORDER BY task_id, event_time", {"t": [task[x["统一社会信用代码"]] for x in (a, b, c, lv)]})
    steps = {t: list(zip(g["f"], g["s"], pd.to_datetime(g["event_time"]))) for t, g in te.groupby("task_id")}
    ta, tb, tc = (task[x["统一社会信用代码"]] for x in (a, b, c))
    # A: pushed at its record's own time, then the real timeline to its close
    assert steps[ta] == [("none", "pending", pd.Timestamp(day_a)),
                         ("pending", "inspecting", pd.Timestamp(day_a + dt.timedelta(days=1, hours=10))),
                         ("inspecting", "closed", pd.Timestamp(day_a + dt.timedelta(days=3, hours=10)))]
    # B: left at 限期整改 before go-live → archived by the system at the go-live date
    assert [s[:2] for s in steps[tb]] == [("none", "pending"), ("pending", "inspecting"), ("inspecting", "notice"),
                                          ("notice", "closed")]
    assert steps[tb][-1][2] == pd.Timestamp(live_from)
    archived = te[(te["task_id"] == tb) & (te["s"] == "closed")].iloc[0]
    assert archived["actor_kind"] == "system" and "归档" in archived["note"]
    # C: a history batch → archived one second after its last feedback (after go-live)
    assert [s[:2] for s in steps[tc]][-1] == ("inspecting", "closed")
    assert steps[tc][-1][2] == steps[tc][-2][2] + pd.Timedelta(seconds=1)
    # history pushes are not pushes Jinjian made: no source time, so not in 推送时效
    assert (te.loc[te["task_id"].isin([ta, tb, tc]) & (te["f"] == "none"), "st"] == 0).all()

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(env.db)
    try:
        client = flask_server.test_client()
        today = dt.date.today()

        def value(ind: str, day: dt.date, grain: str = "day") -> float:
            resp = client.get(f"/api/v1/indicators/{ind}/values?region={TOWN}&date={day}&grain={grain}")
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            return json.loads(resp.get_data(as_text=True))["items"][0]["value"]

        assert value("tasks_open", today) == len(live)  # still no phantom work: only the live week
        assert value("tasks_overdue", today) == 0
        # back then, A and B were open: the history counts as of its own dates
        assert value("tasks_open", (day_b + dt.timedelta(days=2, hours=12)).date()) >= 1
        closed_a = (day_a + dt.timedelta(days=3)).date()
        tasks = run(env.db, "t_hist_closed", "SELECT count() AS n FROM tasks WHERE grid_code LIKE %(g)s "
                    "AND toDate(closed_at) = %(d)s", {"g": TOWN + "%", "d": closed_a})
        assert value("tasks_closed", closed_a) == int(tasks["n"].iloc[0]) >= 1
    finally:
        dbmod.set_db(None)


def test_stage_deadlines_run_from_the_feedback_across_national_day(town):
    """Each later stage's deadline runs from the feedback that starts it, in working days
    across National Day 2025 and its make-up working days (调休: Sat 2025-10-11 is one)."""
    from etl.ingest.transform import stable_id
    from supervision.rules import TaskRules
    from tests.oracle_tasks import working_days_after

    def due_after(day: dt.date, n: int) -> dt.date:  # the n-th working day after ``day``, one by one
        d = day
        while working_days_after(day, d) < n:
            d += dt.timedelta(days=1)
        return d

    env = town["env"]
    # a registration of Mon 2025-09-29 (the day after the 调休 Sunday), loaded as history
    grids = list(make_grids(TOWN, 2, 2)["code"])
    data, frame = registrations_csv(grids, 1, seed=41, start=dt.date(2025, 9, 29), end=dt.date(2025, 9, 29))
    assert ingestor(env.db, env.tmp).ingest_bytes("registration", data, file_name="国庆前登记.csv", scope=TOWN,
                                                 history=True).rows_loaded == 1
    rec = frame.iloc[0]
    tid = "T" + str(stable_id("registration", rec["统一社会信用代码"]))
    steps = [("HD1", dt.datetime(2025, 9, 30, 9), "核查中"), ("HD2", dt.datetime(2025, 9, 30, 15), "限期整改"),
             ("HD3", dt.datetime(2025, 10, 11, 10), "村居联合处置"), ("HD4", dt.datetime(2025, 10, 20, 10), "镇街处置")]
    res = ingestor(env.db, env.tmp).ingest_bytes("task_feedback", _feedback_csv(
        [(f, tid, t, s) for f, t, s in steps]), file_name="国庆反馈.csv", scope=TOWN, history=True)
    assert res.rows_loaded == 4, res.problems
    te = run(env.db, "t_hol", "SELECT toString(status) AS s, due_date, stage_due, stage_wd FROM task_events "
             "WHERE task_id = %(t)s ORDER BY event_time", {"t": tid})
    lim = TaskRules.from_env().limit
    pushed = pd.Timestamp(rec["成立日期"]).date()
    due = {s: pd.Timestamp(d).date() for s, d in zip(te["s"], te["due_date"])}
    assert due["pending"] == due_after(pushed, lim("inspection")) == dt.date(2025, 10, 20)  # from the record's date
    assert due["notice"] == due_after(dt.date(2025, 9, 30), lim("recheck")) == dt.date(2025, 10, 21)
    assert due["joint"] == due_after(dt.date(2025, 10, 11), lim("joint"))
    assert due["town"] == due_after(dt.date(2025, 10, 20), lim("town"))
    # the recheck stage took the working days from 09-30 to 10-11, the Saturday that was worked
    assert te.loc[te["s"] == "joint", "stage_wd"].iat[0] == working_days_after(dt.date(2025, 9, 30),
                                                                               dt.date(2025, 10, 11)) == 3
    assert te["s"].iloc[-1] == "closed"  # a history batch leaves no open task: archived
