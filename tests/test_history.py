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
