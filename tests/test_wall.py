"""The command wall: numbers equal the independent oracle; the page fills 1920×1080
and 3840×2160 without scrollbars; it survives a database outage."""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from components.format import format_cn
from indicators.catalogue import CATALOGUE
from indicators.periods import period_to_date
from store import db as dbmod
from store.engine import ServerEngine
from queries.overview import WALL_HEADLINES, wall_data
from tests.conftest import DEMO_END
from tests.oracle import ORACLES, oracle_by_child

DG = "4419"


def test_wall_numbers_equal_oracle(demo_db, demo_data):
    data = wall_data(demo_db, DG, DEMO_END)
    for ind_id, grain in WALL_HEADLINES:
        period = period_to_date(DEMO_END, grain)
        expected = ORACLES[ind_id](demo_data, DG, period.start, period.end)
        assert data.headlines[(ind_id, grain)][0] == pytest.approx(expected), (ind_id, grain)
    month = period_to_date(DEMO_END, "month")
    towns = list(data.children["region_code"])
    assert len(towns) == 36
    exp = oracle_by_child(demo_data, "entity_stock", towns, month.start, month.end)
    got = dict(zip(data.children["region_code"], data.children["value"]))
    assert all(got[t] == pytest.approx(exp[t]) for t in towns)
    # traceability alerts: batches failed in the last 7 days handled in Dongguan, from pandas
    ev = demo_data.events
    smp = ev[ev["event_type"] == "sampling"]
    day = pd.to_datetime(smp["event_date"])
    recent = smp[(smp["result"] == "fail") & (day > pd.Timestamp(DEMO_END) - pd.Timedelta(days=7))
                 & (day <= pd.Timestamp(DEMO_END))]
    assert data.alert_total == recent["batch_no"].nunique() >= 1  # every batch failed in Dongguan itself
    newest = recent.groupby("batch_no")["event_date"].min().reset_index().sort_values(
        ["event_date", "batch_no"], ascending=[False, True])
    assert list(data.alerts["batch_no"]) == [newest["batch_no"].iloc[0]]
    for r in data.alerts.itertuples(index=False):
        handlers = smp[(smp["batch_no"] == r.batch_no) & (day <= pd.Timestamp(DEMO_END))]
        assert r.entities == handlers["credit_code"].nunique() and r.towns == handlers["grid_code"].str[:9].nunique()
    ev = demo_data.events.sort_values(["event_time", "event_id"], ascending=False)
    assert data.ticker["event_id"].tolist() == ev["event_id"].head(15).tolist()
    assert pd.Timestamp(data.latest) == demo_data.events["event_time"].max()  # freshness


@pytest.mark.parametrize("setting,value", [("JINJIAN_TASK_OVERDUE_BUCKETS", "三到五天"),
                                           ("JINJIAN_HOLIDAY_FILE", "/nonexistent/节假日安排.csv")])
def test_wall_data_with_a_broken_setting(demo_db, demo_data, monkeypatch, setting, value):
    """An operator's broken task rule or holiday file empties only the task tiles: the rest is
    computed as usual and the wall is told what is wrong and who fixes it."""
    monkeypatch.setenv(setting, value)
    data = wall_data(demo_db, DG, DEMO_END)
    assert data.problem and data.problem.endswith("请联系系统管理员") and "JINJIAN" not in data.problem
    period = period_to_date(DEMO_END, "day")
    assert data.headlines[("entity_stock", "day")][0] == pytest.approx(
        ORACLES["entity_stock"](demo_data, DG, period.start, period.end))
    assert np.isnan(data.headlines[("tasks_overdue", "day")][0]) and data.overdue.empty
    assert len(data.children) == 36 and len(data.ticker) == 15
    monkeypatch.delenv(setting)
    assert wall_data(demo_db, DG, DEMO_END).problem is None


def _open_wall(dash_duo, monkeypatch, db, refresh: int = 5):
    from app import create_app

    monkeypatch.setenv("JINJIAN_ROOT_REGION", DG)
    monkeypatch.setenv("JINJIAN_WALL_REFRESH_SECONDS", str(refresh))
    dbmod.set_db(db)
    dash_duo.start_server(create_app())
    dash_duo.wait_for_contains_text("#wall-path", "东莞市", timeout=40)


def _alive_today(demo_data) -> int:
    today = dt.date.today()
    return int(ORACLES["entity_stock"](demo_data, DG, today, today))


@pytest.mark.browser
def test_wall_fills_screens_without_scrollbars(dash_duo, monkeypatch, demo_db, demo_data):
    try:
        _open_wall(dash_duo, monkeypatch, demo_db)
        dash_duo.wait_for_text_to_equal("#wall-kpi-stock-value", format_cn(_alive_today(demo_data)), timeout=30)
        month = period_to_date(dt.date.today(), "month")  # 推送及时率 this month and its late count
        rate = ORACLES["push_ontime_rate"](demo_data, DG, month.start, month.end)
        dash_duo.wait_for_text_to_equal("#wall-kpi-push-value", format_cn(rate, 1), timeout=30)
        late = int(ORACLES["push_late"](demo_data, DG, month.start, month.end))
        assert dash_duo.find_element("#wall-kpi-push-late").text == f"本月超时 {late} 件"
        today = dt.date.today()  # 双随机: firms inspected of those drawn, and the overdue ones
        done = ORACLES["random_completion"](demo_data, DG, today, today)
        dash_duo.wait_for_text_to_equal("#wall-kpi-random-value", format_cn(done, 1), timeout=30)
        overdue = int(ORACLES["random_overdue"](demo_data, DG, today, today))
        assert overdue > 0 and dash_duo.find_element("#wall-kpi-random-overdue").text == f"逾期未查 {overdue} 户"
        cases = ORACLES["joint_cases_open"](demo_data, DG, today, today)  # 联合惩戒 in force, overdue feedback
        dash_duo.wait_for_text_to_equal("#wall-kpi-joint-value", format_cn(cases), timeout=30)
        late = int(ORACLES["joint_feedback_overdue"](demo_data, DG, today, today))
        assert cases > 0 and dash_duo.find_element("#wall-kpi-joint-overdue").text == f"逾期未反馈 {late} 件"
        dash_duo.wait_for_element("path.leaflet-interactive", timeout=30)
        assert len(dash_duo.find_elements("path.leaflet-interactive")) == 36
        assert not dash_duo.find_elements("img.leaflet-tile")  # no tile server by default
        for w, h in ((1920, 1080), (3840, 2160)):
            dash_duo.driver.set_window_size(w, h)
            time.sleep(1.5)
            dims = dash_duo.driver.execute_script(
                "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight, "
                "window.innerWidth, window.innerHeight];")
            assert dims[0] <= dims[2] and dims[1] <= dims[3], (w, h, dims)
            dash_duo.driver.save_screenshot(f"/tmp/wall-{w}.png")
        latest = demo_data.events.sort_values(["event_time", "event_id"]).iloc[-1]
        name = demo_data.entities.set_index("credit_code").loc[latest["credit_code"], "name"]
        assert name in dash_duo.find_element("#wall-ticker").text
        # The test data end on DEMO_END: the wall says when, and how many days ago that was.
        newest = pd.Timestamp(demo_data.events["event_time"].max()).to_pydatetime()
        days = (dt.datetime.now() - newest).days
        fresh = dash_duo.find_element("#wall-fresh")
        assert fresh.text == f"数据更新于 {newest:%Y-%m-%d %H:%M} · 数据已 {days} 天未更新", fresh.text
        assert "stale" in fresh.get_attribute("class")
        logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
        assert logs == []
        hosts = dash_duo.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).hostname);")
        assert hosts and set(hosts) <= {"127.0.0.1", "localhost"}  # offline: nothing from the internet
    finally:
        dbmod.set_db(None)


@pytest.mark.browser
def test_wall_survives_database_outage(dash_duo, monkeypatch, ch_server, both_dbs, demo_data):
    db = ServerEngine(ch_server.url, database="test_demo", connect_timeout=1)
    try:
        _open_wall(dash_duo, monkeypatch, db, refresh=1)
        shown = format_cn(_alive_today(demo_data))
        dash_duo.wait_for_text_to_equal("#wall-kpi-stock-value", shown, timeout=30)
        ch_server.stop()
        dash_duo.wait_for_contains_text("#wall-banner", "数据库", timeout=30)
        assert "hidden" not in dash_duo.find_element("#wall-banner").get_attribute("class")
        assert dash_duo.find_element("#wall-kpi-stock-value").text == shown  # last values kept
        ch_server.start()
        deadline = time.time() + 40
        while "hidden" not in dash_duo.find_element("#wall-banner").get_attribute("class"):
            assert time.time() < deadline, "wall did not recover after the database came back"
            time.sleep(0.5)
        assert dash_duo.find_element("#wall-kpi-stock-value").text == shown
    finally:
        if not ch_server.running:
            ch_server.start()
        dbmod.set_db(None)


@pytest.mark.browser
def test_wall_drills_by_map_click_and_goes_up(dash_duo, monkeypatch, demo_db, demo_data):
    try:
        _open_wall(dash_duo, monkeypatch, demo_db)
        dash_duo.wait_for_element("path.leaflet-interactive", timeout=30)
        town = demo_data.entities["grid_code"].str[:9].value_counts().index[0]
        town_name = demo_data.grids.loc[demo_data.grids["parent"].str[:9] == town, "name"].iloc[0]
        target = dash_duo.driver.execute_script(
            "const layers = Object.values(document.querySelectorAll('path.leaflet-interactive'));"
            "return layers.length;")
        assert target == 36
        # click the polygon whose tooltip names the busiest town (its code is in the feature)
        for path in dash_duo.find_elements("path.leaflet-interactive"):
            dash_duo.driver.execute_script(
                "arguments[0].dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))", path)
            tip = dash_duo.driver.execute_script(
                "const t = document.querySelector('.leaflet-tooltip'); return t ? t.textContent : '';")
            if tip and town_name[:2] in tip:
                path.click()
                break
        else:  # the tooltip text did not identify it: click the first polygon instead
            dash_duo.find_elements("path.leaflet-interactive")[0].click()
        dash_duo.wait_for_contains_text("#wall-path", "镇街", timeout=30)
        assert "region=" in dash_duo.driver.current_url and "4419" in dash_duo.driver.current_url
        dash_duo.wait_for_element("path.leaflet-interactive", timeout=30)
        dash_duo.find_element("#wall-up").click()
        dash_duo.wait_for_contains_text("#wall-path", "东莞市（市）", timeout=30)
    finally:
        dbmod.set_db(None)


@pytest.mark.browser
def test_wall_rotates_through_playlist(dash_duo, monkeypatch, demo_db, demo_data):
    town = demo_data.entities["grid_code"].str[:9].value_counts().index[0]
    monkeypatch.setenv("JINJIAN_WALL_PLAYLIST", f"{DG},{town}")
    monkeypatch.setenv("JINJIAN_WALL_ROTATE_SECONDS", "3")
    try:
        _open_wall(dash_duo, monkeypatch, demo_db)
        dash_duo.wait_for_contains_text("#wall-path", "镇街", timeout=30)   # → the town
        dash_duo.wait_for_contains_text("#wall-path", "东莞市（市）", timeout=30)  # → back to Dongguan
    finally:
        dbmod.set_db(None)
