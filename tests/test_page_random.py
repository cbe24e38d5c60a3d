"""/random (双随机抽查) in a real browser and through its callbacks as each role, on both engines:
a plan drawn on the page equals the stored plan; a result entered moves the cards, which
equal pandas over the items read back; the publication list (公示) downloads as CSV with
every cell safe to open; a viewer sees plans but may not draw (403, audited), and a town
user sees only the firms of the town."""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.keys import Keys

from etl.random_checks import PlanSpec, draw_plan, record_result
from store.executor import run
from store.filters import RegionScope
from tests.authkit import auth_on, dash_body, logged_in  # noqa: F401 - the fixture
from tests.pagekit import choose, js as _js, wait as _wait
from tests.oracle_random import asof_rows, random_figures
from tests.randomkit import random_app, random_db, stored_items  # noqa: F401 - the fixtures

TOWN = "441900003"


def _items(db) -> pd.DataFrame:
    """Every row of random_items read back (tests/oracle_random.py takes each firm as of a day)."""
    return stored_items(db)


def _cards_want(items: pd.DataFrame, region: str, day: dt.date) -> dict[str, str]:
    """The cards' exact values by pandas (the page shows them in data-value)."""
    f = random_figures(items, region, day)
    return {"drawn": f"{f['drawn']:,}", "done": f"{f['done']:,}", "overdue": f"{f['overdue']:,}",
            "rate": "" if not f["drawn"] else f"{round(100 * f['done'] / f['drawn'], 1):,}",
            "found": "" if not f["done"] else f"{round(100 * f['problems'] / f['done'], 1):,}"}


def _card(dash_duo, name: str) -> str:
    return _js(dash_duo, f"var e = document.getElementById('random-card-{name}-value'); "
                         "return e ? e.getAttribute('data-value') : null;")


@pytest.mark.browser
def test_random_page_draw_enter_publish(dash_duo, random_app, demo_data, tmp_path: Path):
    from app import create_app

    db = random_app
    app = create_app()
    dash_duo.start_server(app)
    driver = dash_duo.driver
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/random", timeout=30)
    today = dt.date.today()
    want = _cards_want(_items(db), "4419", today)
    _wait(lambda: _card(dash_duo, "drawn") == want["drawn"], what="drawn card")
    dept = run(db, "t_page_random_dept", "SELECT name FROM departments WHERE region_code = %(r)s "
               "AND kind = 'market_regulator'", {"r": TOWN})["name"].iloc[0]
    dash_duo.find_element("#random-name").send_keys("东城街道食品经营者专项抽查")
    region = dash_duo.find_element("#random-region")
    region.send_keys(Keys.CONTROL, "a")
    region.send_keys(TOWN)
    choose(dash_duo, "random-dept", dept)
    choose(dash_duo, "random-industries", "H")
    dash_duo.find_element("#random-draw").click()
    dash_duo.wait_for_contains_text("#random-draw-msg", "已抽取", timeout=30)
    message = dash_duo.find_element("#random-draw-msg").text
    plan_id = message.split("计划编号 ")[1].rstrip("）")
    stored = run(db, "t_page_random_plan", "SELECT seed, fingerprint, drawn, created_by FROM random_plans "
                 "WHERE plan_id = %(p)s", {"p": plan_id}).iloc[0]
    assert f"已抽取 {int(stored['drawn'])} 户" in message and stored["created_by"] == "local"
    dash_duo.wait_for_text_to_equal("#random-seed", str(int(stored["seed"])), timeout=30)
    assert dash_duo.find_element("#random-fingerprint").text == stored["fingerprint"]
    count = "var api = dash_ag_grid.getApi('random-items'); return api ? api.getDisplayedRowCount() : -1;"
    _wait(lambda: _js(dash_duo, count) == int(stored["drawn"]), what="item rows")
    names = _js(dash_duo, "var o = []; dash_ag_grid.getApi('random-items').forEachNode(n => o.push(n.data.credit_code));"
                          " return o;")
    industries = run(db, "t_page_random_ind", "SELECT DISTINCT industry FROM entities WHERE credit_code IN %(c)s",
                     {"c": names})["industry"].tolist()
    assert industries == ["H"]
    _wait(lambda: _card(dash_duo, "drawn") == _cards_want(_items(db), "4419", today)["drawn"], what="drawn after")
    # Enter a result for the first firm: it shows in the grid and the cards follow.
    first = names[0]
    _js(dash_duo, f"dash_ag_grid.getApi('random-items').getRowNode('{first}').setSelected(true);")
    choose(dash_duo, "random-result", "发现问题")
    dash_duo.find_element("#random-note").send_keys("=1+1 未亮证经营")
    dash_duo.find_element("#random-save").click()
    dash_duo.wait_for_contains_text("#random-result-msg", "已保存", timeout=30)
    shown = f"return dash_ag_grid.getApi('random-items').getRowNode('{first}').data.result;"
    _wait(lambda: _js(dash_duo, shown) == "发现问题", what="result in grid")
    want = _cards_want(_items(db), "4419", today)
    for name in ("drawn", "done", "overdue", "rate", "found"):
        _wait(lambda name=name: _card(dash_duo, name) == want[name], what=f"card {name} = {want[name]}")
    time.sleep(0.5)
    driver.save_screenshot("/tmp/random.png")
    # The publication list: the plan's firms with their results, the planted formula as text.
    dash_duo.find_element("#random-publish").click()
    csv_file = tmp_path / f"抽查结果公示-{plan_id}.csv"
    _wait(lambda: csv_file.exists() and not list(tmp_path.glob("*.crdownload")), what="csv download")
    time.sleep(0.3)
    pub = pd.read_csv(csv_file, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(pub.columns) == ["计划名称", "检查部门", "主体名称", "统一社会信用代码", "抽查结果", "检查日期", "检查人员"]
    assert sorted(pub["统一社会信用代码"]) == sorted(names)
    assert pub.set_index("统一社会信用代码").loc[first, "抽查结果"] == "发现问题"
    assert (pub["计划名称"] == "东城街道食品经营者专项抽查").all()
    # 涉企检查: the size of the 无事不扰 list today, by pandas over the demo's rows.
    from tests.oracle_random import spared

    n = len(spared(demo_data, "4419", today))
    dash_duo.wait_for_contains_text("#random-discipline-note", f"无事不扰名单 {n:,} 户", timeout=30)
    assert _js(dash_duo, "return dash_ag_grid.getApi('random-flags').getDisplayedRowCount();") > 0
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert not logs, [e["message"] for e in logs]


def _callback(client, output: str, values: dict, changed: list[str] | None = None):
    body = dash_body(client, output, values, changed)
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def test_random_callbacks_as_each_role(auth_on, flask_server, random_db, tmp_path):
    from store import db as dbmod

    db = random_db
    dbmod.set_db(db)  # after ``auth_on`` (whose ``dongguan`` set the shared demo database)
    dept = run(db, "t_page_random_dept2", "SELECT dept_id FROM departments WHERE region_code = %(r)s "
               "AND kind = 'market_regulator'", {"r": TOWN})["dept_id"].iloc[0]
    # A city plan whose firms lie in several towns: the town's users see only their own.
    plan_id = draw_plan(db, PlanSpec("全市随机抽查", run(db, "t_city_dept", "SELECT dept_id FROM departments WHERE "
                                     "region_code = '4419' AND kind = 'market_regulator'")["dept_id"].iloc[0], "4419",
                                     dt.date.today(), dt.date.today() + dt.timedelta(days=20), ("F",)),
                        RegionScope("4419"), by="city", seed=11)
    every = _items(db)
    mine = every[(every["plan_id"] == plan_id)]
    assert mine["grid_code"].str[:9].nunique() > 1
    town_codes = sorted(mine[mine["grid_code"].str.startswith(TOWN)]["credit_code"])
    sup, viewer = logged_in(flask_server, "town_sup"), logged_in(flask_server, "town_view")
    for client in (sup, viewer):
        resp = _callback(client, "random-items.rowData", {"random-plan.data": plan_id, "random-version.data": 0})
        assert resp.status_code == 200
        rows = resp.get_json()["response"]["random-items"]["rowData"]
        assert sorted(r["credit_code"] for r in rows) == town_codes
    # Drawing: the viewer is refused (403, audited perm_denied); the supervisor draws in the town only.
    draw = {"random-draw.n_clicks": 1, "random-name.value": "东城街道抽查", "random-dept.value": dept,
            "random-region.value": TOWN, "random-dates.start_date": dt.date.today().isoformat(),
            "random-dates.end_date": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
            "random-industries.value": None, "random-types.value": ["individual"], "random-listed.value": "all",
            "random-version.data": 0}
    before = auth_on.audit_rows(limit=1)[0]["id"]
    resp = _callback(viewer, "random-draw-msg.children", draw)
    assert resp.status_code == 403
    entries = [r for r in auth_on.audit_rows(limit=20) if r["id"] > before]
    assert [(r["action"], r["ok"]) for r in entries] == [("perm_denied", False)]
    resp = _callback(sup, "random-draw-msg.children", draw)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert "已抽取" in json.dumps(resp.get_json(), ensure_ascii=False)
    entries = [r for r in auth_on.audit_rows(limit=20) if r["id"] > before]
    assert ("random_draw", True) in [(r["action"], r["ok"]) for r in entries]
    resp = _callback(sup, "random-draw-msg.children",
                     {**draw, "random-region.value": "441900004"})
    assert resp.status_code == 403  # another town: outside the scope
    # Results: only inside the scope; the publication list needs export.
    record_result(db, plan_id, town_codes[0], "clean", RegionScope(TOWN), by="town_sup")
    resp = _callback(viewer, "random-download.data", {"random-publish.n_clicks": 1, "random-plan.data": plan_id})
    assert resp.status_code == 403
    resp = _callback(sup, "random-download.data", {"random-publish.n_clicks": 1, "random-plan.data": plan_id})
    assert resp.status_code == 200
    import base64

    data = resp.get_json()["response"]["random-download"]["data"]
    pub = pd.read_csv(io.BytesIO(base64.b64decode(data["content"])), dtype=str, encoding="utf-8-sig")
    assert sorted(pub["统一社会信用代码"]) == town_codes
    # The same list as PDF: read back with poppler — every firm's code, the plan, fonts embedded.
    resp = _callback(sup, "random-download.data", {"random-publish-pdf.n_clicks": 1, "random-plan.data": plan_id},
                     ["random-publish-pdf.n_clicks"])
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    data = resp.get_json()["response"]["random-download"]["data"]
    assert data["filename"] == f"抽查结果公示-{plan_id}.pdf"
    pdf = tmp_path / "pub.pdf"
    pdf.write_bytes(base64.b64decode(data["content"]))
    text = "".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert "双随机抽查结果公示" in text and "全市随机抽查" in text and "未发现问题" in text
    assert all(code in text for code in town_codes)
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts if line.strip()), fonts  # embedded


def test_tasks_section_equals_pandas(flask_server, dongguan, demo_data):
    """/tasks' 双随机抽查 section for a town on a day: the demo's plans by pandas."""
    from pages.random import tasks_random
    from dash.html import Div

    from tests.oracle_random import _firm_flags, spared
    from tests.pagekit import ids

    for region, day in ((TOWN, dt.date(2026, 11, 20)), ("4419", dt.date(2026, 9, 30)), ("4419", dt.date(2026, 6, 1))):
        cards, fig, note, joint = tasks_random(region, day.isoformat())
        from tests.oracle_joint import _ontime_rate, _open, _overdue
        rate = _ontime_rate(demo_data, region, day, day)  # 联合惩戒's note, by pandas
        assert joint.startswith(f"在办案件 {int(_open(demo_data, region, day, day)):,} 件；") and joint.endswith(
            f"按期反馈率 {'—' if rate != rate else f'{rate:.1f}%'}，逾期未反馈 {int(_overdue(demo_data, region, day, day)):,} 件")
        want = _cards_want(demo_data.random_items, region, day)
        got = {k: ids(Div(cards))[f"tasks-random-card-{k}-value"].to_plotly_json()["props"]["data-value"] for k in want}
        assert got == want, (region, day)
        items = asof_rows(demo_data.random_items, day)
        if want["drawn"] == "0":
            assert note.startswith("本区域尚无双随机抽查计划；")
            continue
        part = items[items["grid_code"].str.startswith(region) & (items["result"] != "pending")]
        rates = [round(100 * (part[part["credit_class"] == c]["result"] == "problem").mean(), 1)
                 if (part["credit_class"] == c).any() else None for c in "ABCD"]
        assert list(fig.data[0].y) == rates, (region, day)
        assert note.startswith(f"截至 {day:%Y-%m-%d}，已抽取 ")
        flags = _firm_flags(demo_data, region, day)  # 涉企检查 in the note, by pandas
        assert note.endswith(f"近 30 天被两个及以上部门检查（多头检查）{int((flags['depts'] >= 2).sum())} 户，一年内检查超过 "
                             f"2 次（频繁检查）{int((flags['times'] > 2).sum())} 户；无事不扰名单 "
                             f"{len(spared(demo_data, region, day)):,} 户，不列入双随机抽查"), note


def test_entity_page_shows_inspections_and_flags(flask_server, dongguan, demo_data):
    """主体画像's 涉企检查 for a firm flagged 多头检查 and for a 无事不扰 firm: the flags and the
    inspections of the year, by pandas (tests/oracle_random.py)."""
    from dash.html import Div

    from pages.entity import refresh_inspect
    from tests.oracle_random import _firm_flags, _inspections, spared
    from tests.pagekit import ids, text, walk

    day = dt.date(2026, 11, 20)
    flags = _firm_flags(demo_data, "4419", day)
    multi = flags[flags["depts"] >= 2].index[0]
    panel = Div(refresh_inspect(multi, day.isoformat()))
    rows = _inspections(demo_data, "4419", day)
    mine = rows[rows["credit_code"] == multi]
    shown = text(ids(panel)["entity-inspect-flags"])
    assert shown.startswith(f"多头检查（近 30 天 {int(flags.loc[multi, 'depts'])} 个部门）")
    assert ("频繁检查（一年内" in shown) == (len(mine) > 2)
    assert len([c for c in walk(panel) if getattr(c, "className", "") == "entity-ev"]) == len(mine)
    quiet = spared(demo_data, "4419", day)["credit_code"].iloc[0]
    panel = Div(refresh_inspect(quiet, day.isoformat()))
    assert "无事不扰名单（不列入双随机抽查）" in text(ids(panel)["entity-inspect-flags"])
    assert refresh_inspect("not-a-code", day.isoformat()) == []
