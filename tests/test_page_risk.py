"""The 风险预警 page: pure factories, callbacks on both engines against the
independent pandas risk formula (tests/oracle_risk.py), 404 / 403 panels, then a
real headless Chromium: a village's grids on the map with their legend, a click on
a grid opens its details, a link opens the entity page with the oracle's score."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest
from dash import html

from components import risk_factors as rf, risk_map as rm, risk_views as rv
from indicators.model import GRADES
from store import db as dbmod
from store.filters import Filter
from queries.grid import mask_phone
from queries.regions import region_node
from queries.risk import batch_alerts
from supervision.risk import FACTORS, RISK_GRADES, RiskRules
from tests import oracle_risk as R
from tests.conftest import DEMO_END
from tests.oracle_tasks import open_at
from tests.test_app import ExplodingEngine
from tests.pagekit import walk as _walk, ids as _ids, text as _text, props as _props, wait as _wait, js as _js

DAY = DEMO_END.isoformat()
RULES = RiskRules()


@pytest.fixture
def page():
    from app import create_app

    create_app()
    from pages import risk
    return risk


@pytest.fixture(scope="module")
def oracle(demo_data) -> pd.DataFrame:
    return R.scores(demo_data, "4419", DEMO_END)


def _area_grades(oracle: pd.DataFrame, parent: str, n: int) -> dict[str, str]:
    """Child code → area grade from the oracle's scores (children with scored entities)."""
    s = oracle[oracle["grid_code"].str.startswith(parent)]
    g = s.groupby(s["grid_code"].str[:n])["grade"].agg(lambda x: x.isin(["red", "orange"]).mean() * 100)
    return {c: RULES.area_grade(v) for c, v in g.items()}


def _busiest_village(oracle: pd.DataFrame) -> str:
    hi = oracle[oracle["grade"].isin(["red", "orange"])]
    return str(hi.groupby(hi["grid_code"].str[:12]).size().sort_values(ascending=False, kind="stable").index[0])


# ----------------------------------------------------------------------------- layout (no database)
def test_layout_makes_no_database_calls_and_reads_url(monkeypatch, page):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    monkeypatch.setattr(dbmod, "_engine", ExplodingEngine())
    found = _ids(page.layout(region="441900003001", date=DAY, grid="441900003001005"))
    assert found["risk-region"].data == "441900003001" and found["risk-date"].date == DAY
    assert found["risk-selected"].data == "441900003001005"
    assert found["risk-share"].href == "/risk?region=441900003001&date=2026-11-20&grid=441900003001005"
    assert "hidden" in found["risk-status"].className and "hidden" not in found["risk-main"].className
    for key in ("risk-map", "risk-geojson", "risk-points", "risk-legend", "risk-grid", "risk-trend", "risk-feed",
                "risk-batches", "risk-fanout", "risk-details", "risk-donut", *(f"risk-card-{g}" for g in rv.GRADE_ORDER)):
        assert key in found, key
    # Defaults: the jurisdiction and today; a grid outside the region is ignored.
    found = _ids(page.layout(grid="441900101001001"))
    assert found["risk-region"].data == "4419" and found["risk-date"].date == dt.date.today().isoformat()
    assert _ids(page.layout(region="441900003", grid="441900101001001"))["risk-selected"].data is None
    # Malformed → 404, outside the jurisdiction → 403 (no database).
    bad = _ids(page.layout(region="44x", date="nope"))
    assert "未找到该区域" in _text(bad["risk-status"].children) and "hidden" in bad["risk-main"].className
    assert "无权查看" in _text(_ids(page.layout(region="4401"))["risk-status"].children)
    ids = [c.id for c in _walk(page.layout(region="4419")) if isinstance(getattr(c, "id", None), str)]
    assert len(ids) == len(set(ids)) and all(i.startswith("risk-") for i in ids)


# ----------------------------------------------------------------------------- pure factories
def test_grade_cards_and_donut():
    counts = {"red": 2, "orange": 56, "yellow": 721, "blue": 12309}
    cards = rv.create_grade_cards(counts, RULES.grades)
    for g, card in zip(rv.GRADE_ORDER, cards):
        assert card.id == f"risk-card-{g}" and RISK_GRADES[g] in _text(card)
        assert _props(_ids(card)[f"risk-card-{g}-value"])["data-value"] == str(counts[g])
    assert "评分≥50分" in _text(cards[0]) and "占 0.02%" in _text(cards[0]) and "评分<15分" in _text(cards[3])
    assert _props(_ids(rv.create_grade_cards(None, RULES.grades)[0])["risk-card-red-value"])["data-value"] == ""
    fig = rv.create_grade_figure(counts)
    assert list(fig.data[0].values) == [2, 56, 721, 12309]
    assert list(fig.data[0].marker.colors) == [GRADES[g][1] for g in rv.GRADE_ORDER]
    assert "1.31万" in fig.layout.annotations[0].text
    assert rv.grade_counts(pd.DataFrame({"grade": ["red", "blue"], "entities": [3, 4]})) == \
        {"red": 3, "orange": 0, "yellow": 0, "blue": 4}


def _square(code: str, name: str, x: float, schematic: bool = True) -> dict:
    return {"type": "Feature", "properties": {"code": code, "name": name, "schematic": schematic},
            "geometry": {"type": "Polygon", "coordinates": [[[x, 23], [x + 1, 23], [x + 1, 24], [x, 24], [x, 23]]]}}


def test_risk_map_layer_colours_legend_and_notes():
    fc = {"type": "FeatureCollection", "missing": [], "missing_names": {},
          "features": [_square("a", "甲<b>", 113), _square("b", "乙", 114), _square("c", "丙", 115),
                       _square("d", "丁", 116)]}
    by_child = pd.DataFrame({"region_code": ["a", "b", "c", "d"], "entities": [10, 40, 5, 0], "high": [3, 0, 1, 0],
                             "high_share": [30.0, 0.0, 20.0, float("nan")], "avg_score": [20.0, 4.0, 9.0, float("nan")],
                             "grade": ["red", "blue", "red", None]})
    points = pd.DataFrame({"credit_code": ["x", "y", "z"], "name": ["X", "Y", "Z"], "lon": [113.5, 114.5, 113.2],
                           "lat": [23.5, 23.5, 23.2], "score": [55.0, 31.0, 40.0], "grade": ["red", "orange", "orange"]})
    layer = rm.risk_map_layer(fc, by_child, RULES.area_grades, points)
    props = {f["properties"]["code"]: f["properties"] for f in layer.geojson["features"]}
    assert props["a"]["fill"] == GRADES["red"][1] and props["b"]["fill"] == GRADES["blue"][1]
    assert props["d"]["grade"] is None and props["d"]["fill"] == "#3a4a63"
    assert "甲&lt;b&gt;" in props["a"]["tooltip"] and "30.00%" in props["a"]["tooltip"]
    assert "schematic" not in fc["features"][0]["properties"] or "fill" not in fc["features"][0]["properties"]  # pure
    assert layer.counts == {"red": 2, "orange": 0, "yellow": 0, "blue": 1, "none": 1}
    rows = {r.to_plotly_json()["props"]["data-class"]: _text(r) for r in layer.legend[1:]}
    assert rows["red"].split() == ["红", "≥2%", "2"] and rows["blue"].split() == ["蓝", "<0.5%", "1"]
    assert rows["none"].endswith("1") and rows["point-red"].endswith("1") and rows["point-orange"].endswith("2")
    assert "（示意）" in _text(layer.legend[0]) and "边界为示意" in _text(layer.note)
    assert layer.bounds == [[23, 113], [24, 117]]
    real = rm.risk_map_layer({"type": "FeatureCollection", "features": [_square("a", "甲", 113, False)]},
                             by_child.iloc[:1], RULES.area_grades)
    assert "示意" not in _text(real.legend) + _text(real.note) and len(real.legend) == 5  # title + 4 grades
    tricky = pd.concat([points, pd.DataFrame({"credit_code": ["w"], "name": ["<img src=x>"], "lon": [113.0],
                                              "lat": [23.0], "score": [10.0], "grade": ["blue"]})])
    marks = rm.point_layer(tricky.assign(name=["X", "Y", "<i>Z</i>", "<img src=x>"]), DAY)["features"]
    assert [m["properties"]["fill"] for m in marks] == [GRADES["orange"][1], GRADES["orange"][1],
                                                         GRADES["red"][1]]  # red on top, no blue
    assert marks[-1]["geometry"]["coordinates"] == [113.5, 23.5] and marks[-1]["properties"]["radius"] == 8
    assert 'href="/entity/x?date=2026-11-20"' in marks[-1]["properties"]["popup"]
    assert "&lt;i&gt;Z&lt;/i&gt; · 40.00分" == marks[-2]["properties"]["tooltip"]  # names are escaped
    assert "<i>" not in marks[-2]["properties"]["popup"]
    box = rm.create_risk_map("risk")
    assert {"risk-map", "risk-geojson", "risk-points", "risk-legend", "risk-note"} <= set(_ids(box))
    assert rm.map_hideout("g")["selected"] == "g" and rm.map_hideout(None)["selected"] is None


def test_breakdown_bar_rows_and_entity_panel():
    row = {"credit_code": "C1", "name": "甲", "grid_code": "441900003001005", "score": 52.5, "grade": "red",
           "complaints": 2, "penalties": 0, "abnormal": 1, "dishonest": 1, "failed_batches": 0, "failed_inspections": 1,
           "overdue_verifications": 0, "credit_class": 3, "industry_class": 2, "credit_grade": "D", "industry": "H",
           "p_complaints": 6.0, "p_penalties": 0.0, "p_abnormal": 10.0, "p_dishonest": 20.0, "p_failed_batches": 0.0,
           "p_failed_inspections": 2.5, "p_overdue_verifications": 0.0, "p_credit": 10.0, "p_industry": 4.0}
    parts = rf.breakdown(row, RULES.weights)
    assert [p["id"] for p in parts] == [f.id for f in FACTORS]
    assert sum(p["points"] for p in parts) == pytest.approx(52.5)
    bg = rf.bar_background(row, 100.0)
    assert bg.startswith("linear-gradient(to right, #2ec7ff 0.00% 6.00%, #ffb020 6.00% 16.00%")
    assert "rgba(120,170,255,0.10) 52.50% 100%" in bg
    rows = rv.build_entity_rows(pd.DataFrame([row]), {"441900003001005": "第5网格"}, DAY, RULES.weights, 100.0)
    assert rows[0]["code_md"] == "[C1](/entity/C1?date=2026-11-20)" and rows[0]["grid"] == "第5网格"
    assert rows[0]["breakdown"].startswith("投诉举报 6.00；经营异常名录 10.00") and rows[0]["p_dishonest"] == 20.0
    cols = {c["field"]: c for c in rv.entity_column_defs()}
    assert cols["breakdown"]["cellStyle"]["function"].find("bar_bg") > 0 and cols["p_credit"]["hide"]
    panel = rf.factor_breakdown(row, RULES.weights)
    found = _ids(panel)
    assert [c.id for c in panel.children][:2] == ["entity-factor-dishonest", "entity-factor-abnormal"]  # most first
    assert _props(found["entity-factor-complaints"])["data-points"] == "6.00"
    text = _text(found["entity-factor-complaints"])
    assert "6.00 / 15 分" in text and "2 件" in text and FACTORS[0].definition_zh in text
    assert "信用等级 D" in _text(found["entity-factor-credit"]) and "行业门类 H（高）" in _text(found["entity-factor-industry"])
    assert "已列入" in _text(found["entity-factor-abnormal"])


def test_trend_feed_fanout_details_and_phone_mask():
    trend = pd.DataFrame({"day": [dt.date(2026, 11, 19), dt.date(2026, 11, 19), dt.date(2026, 11, 20)],
                          "event_type": ["complaint", "penalty", "complaint"], "events": [3, 1, 2]})
    fig = rv.create_trend_figure(trend, dt.date(2026, 10, 22), DEMO_END)
    assert fig.layout.barmode == "stack" and [t.name for t in fig.data] == list(rv.WARNING_ZH.values())
    assert len(fig.data[0].x) == 30 and list(fig.data[0].y)[-2:] == [3, 2] and sum(fig.data[1].y) == 1
    feed = pd.DataFrame({"event_time": [pd.Timestamp("2026-11-20 13:00")], "event_type": ["sampling"],
                         "detail": ["抽检"], "credit_code": ["C1"], "grid_code": ["g"], "batch_no": ["PC1"]})
    items = rv.create_feed(feed, {"C1": "甲"}, DAY)
    assert "抽检不合格" in _text(items) and "批次 PC1" in _text(items)
    assert _props(items[0].children[2])["href"] == "/entity/C1?date=2026-11-20"
    assert "暂无" in _text(rv.create_feed(feed.iloc[:0], {}, DAY))
    inside = pd.DataFrame({"credit_code": ["C1"], "grid": ["g"], "failed_samples": [1], "samples": [2],
                           "first_seen": [pd.Timestamp("2026-11-01")]})
    out = rv.create_fanout("PC1", inside, 4, {"C1": "甲"}, {"g": "第1网格"}, DAY)
    assert "另有 4 户在辖区外" in _text(out) and "辖区内 1 户" in _text(out) and "1/2" in _text(out)
    assert "点击一个批次" in _text(rv.create_fanout(None, None, 0, {}, {}, DAY))
    workers = pd.DataFrame({"name": ["梁英"], "phone": [mask_phone("18776862209")]})
    details = rv.create_grid_details("441900003001005", "第5网格", {"grade": "orange"}, pd.DataFrame(
        {"credit_code": ["C1"], "name": ["甲"], "score": [31.0], "grade": ["orange"]}), workers, pd.DataFrame(
        {"task_id": ["T1"], "task_type": ["clue"], "status": ["town"], "due_date": [pd.Timestamp("2026-11-25")],
         "bucket": ["normal"], "credit_code": ["C1"]}), 1, {"C1": "甲"}, DAY)
    text = _text(details)
    assert "187****2209" in text and "区域橙" in text and "线索移送" in text and "镇街处置" in text
    assert "在办任务（1）" in text and "评分主体（1）" in text
    assert mask_phone("") == "" and mask_phone("1234567") == "12***67" and mask_phone("123") == "***"


# ----------------------------------------------------------------------------- callbacks on both engines
def test_summary_and_table_equal_oracle(dongguan, oracle, page):
    for region in ("4419", "441900003"):
        exp = oracle[oracle["grid_code"].str.startswith(region)]
        out = page.refresh_summary(region, DAY)
        for g, children in zip(rv.GRADE_ORDER, out[:4]):
            got = _props(_ids(html.Div(children))[f"risk-card-{g}-value"])["data-value"]
            assert got == str(int((exp["grade"] == g).sum())), (region, g)
        assert list(out[4].data[0].values) == [int((exp["grade"] == g).sum()) for g in rv.GRADE_ORDER]
        assert f"{len(exp):,} 户" in out[5]
    rows, note = page.refresh_table("4419", DAY)
    want = oracle.reset_index().sort_values(["score", "credit_code"], ascending=[False, True]).head(page.TOP_N)
    assert [r["credit_code"] for r in rows] == list(want["credit_code"]) and "100 户" in note
    assert [r["score"] for r in rows] == pytest.approx(list(want["score"]))
    assert [r["grade"] for r in rows] == list(want["grade"])
    top = rows[0]
    assert sum(top[f"p_{f.id}"] for f in FACTORS) == pytest.approx(top["score"], abs=0.02)
    w = want.iloc[0]
    for f in FACTORS:
        count = w[f.id]
        assert top[f"p_{f.id}"] == pytest.approx(R.WEIGHTS[f.id] * min(count, R.CAPS[f.id]) / R.CAPS[f.id], abs=0.01)
    assert top["grid"] == region_node(dongguan, top["grid_code"]).name


def test_map_equals_oracle_area_grades(dongguan, oracle, demo_data, page):
    for region, n in (("4419", 9), (_busiest_village(oracle), 15)):
        data, legend, note, viewport, points, title = page.refresh_map(region, DAY)
        kids = region_node(dongguan, region).children
        assert {f["properties"]["code"] for f in data["features"]} == set(kids["code"])
        exp = _area_grades(oracle, region, n)
        assert {f["properties"]["code"]: f["properties"]["grade"] for f in data["features"]} == \
            {c: exp.get(c) for c in kids["code"]}
        counts = {r.to_plotly_json()["props"]["data-class"]: int(r.children[-1].children) for r in legend[1:]}
        for g in rv.GRADE_ORDER:
            assert counts[g] == sum(1 for v in exp.values() if v == g)
        hi = oracle[oracle["grid_code"].str.startswith(region) & oracle["grade"].isin(["red", "orange"])]
        assert len(points["features"]) == len(hi) and counts["point-red"] == int((hi["grade"] == "red").sum())
        assert viewport["transition"] == "fitBounds"
        assert ("网格" in title) == (n == 15)
        schematic = any(f["properties"]["schematic"] for f in data["features"])
        assert schematic == (n == 15 or n == 9)  # towns and grids: generated cells
        assert ("边界为示意" in _text(note)) == schematic and ("（示意）" in _text(legend[0])) == schematic


def test_trend_feed_and_batches(dongguan, demo_data, page):
    fig = page.refresh_trend("441900003", DAY)
    ev = demo_data.events
    ev = ev[ev["grid_code"].str.startswith("441900003")]
    day = pd.to_datetime(ev["event_date"])
    warn = ev[(ev["event_type"].isin(["complaint", "penalty", "list_entry"])
               | (ev["event_type"].isin(["inspection", "sampling"]) & (ev["result"] == "fail")))]
    in30 = warn[(day.loc[warn.index] > pd.Timestamp(DEMO_END) - pd.Timedelta(days=30))
                & (day.loc[warn.index] <= pd.Timestamp(DEMO_END))]
    assert sum(sum(t.y) for t in fig.data) == len(in30)
    for kind, trace in zip(rv.WARNING_ZH, fig.data):
        assert sum(trace.y) == int((in30["event_type"] == kind).sum())
    items = page.refresh_feed("441900003", DAY)
    newest = warn[day.loc[warn.index] <= pd.Timestamp(DEMO_END)].sort_values(["event_time", "event_id"],
                                                                             ascending=False).head(page.FEED_ROWS)
    assert [_props(i.children[2])["title"] for i in items] == list(newest["credit_code"])
    names = demo_data.entities.set_index("credit_code")["name"]
    assert items[0].children[2].children == names[newest["credit_code"].iloc[0]]
    rows, note = page.refresh_batches("4419", DAY)
    exp = batch_alerts(dongguan, Filter(region="4419"), DEMO_END - dt.timedelta(days=89), DEMO_END)
    assert [r["batch_no"] for r in rows] == list(exp["batch_no"]) and note == f"近 90 天 {len(rows)} 批"
    # Fan-out seen from the first handler's town: "另有 N 户在辖区外" equals pandas.
    batch = rows[0]["batch_no"]
    s = demo_data.events[(demo_data.events["event_type"] == "sampling") & (demo_data.events["batch_no"] == batch)]
    town = s["grid_code"].iloc[0][:9]
    out = page.show_fanout([rows[0]], town, DAY)
    inside = set(s.loc[s["grid_code"].str.startswith(town), "credit_code"])
    outside = s.loc[~s["grid_code"].str.startswith(town), "credit_code"].nunique()
    assert f"辖区内 {len(inside)} 户" in _text(out) and f"另有 {outside} 户在辖区外" in _text(out)
    assert "点击一个批次" in _text(page.show_fanout(None, town, DAY))


def test_map_click_and_grid_details(dongguan, oracle, demo_data, page):
    village = _busiest_village(oracle)
    town = village[:9]
    assert page.map_click({"properties": {"code": village}}, town, DAY) == \
        (f"/risk?region={village}&date={DAY}", None)
    exp = oracle[oracle["grid_code"].str.startswith(village)]
    grid = str(exp.groupby("grid_code").size().sort_values(ascending=False, kind="stable").index[0])
    href, selected = page.map_click({"properties": {"code": grid}}, village, DAY)
    assert href is page.no_update and selected == grid
    assert page.map_click(None, village, DAY) == (page.no_update, page.no_update)
    details, hideout = page.show_details(grid, DAY, village)
    assert hideout["selected"] == grid
    found = _ids(html.Div(details))
    mine = exp[exp["grid_code"] == grid].reset_index().sort_values(["score", "credit_code"], ascending=[False, True])
    rows = found["risk-details-entities"].children[1].children
    assert [_props(r)["data-code"] for r in rows] == list(mine["credit_code"])
    assert [r.children[1].children for r in rows] == [f"{s:.2f}" for s in mine["score"]]
    workers = demo_data.grid_workers[demo_data.grid_workers["grid_code"] == grid].sort_values("worker_id")
    got = [(li.children[0].children, li.children[1].children) for li in found["risk-details-workers"].children]
    assert got == [(w.name, w.phone[:3] + "****" + w.phone[-4:]) for w in workers.itertuples()]
    tasks = open_at(demo_data, grid, DEMO_END)
    assert f"在办任务（{len(tasks)}）" in _text(details)
    assert len([li for li in found["risk-details-tasks"].children if "risk-task" == li.className]) == min(len(tasks), 50)
    # Outside the region → a note, nothing selected.
    details, hideout = page.show_details("441900101001001", DAY, village)
    assert "不在当前区域" in _text(details) and hideout["selected"] is None
    assert page.update_share(DAY, grid, village) == f"/risk?region={village}&date={DAY}&grid={grid}"


def test_not_found_forbidden_and_errors(dongguan, page):
    for code in ("441999999", "44x"):
        out = page.refresh_header(code, DAY)
        assert "未找到该区域" in _text(out[3]) and "hidden" in out[5] and out[-1] == "banner hidden"
        assert page.refresh_table(code, DAY) == ([], "")
    out = page.refresh_header("4401", DAY)
    assert "无权查看该区域" in _text(out[3]) and "hidden" in out[5]
    out = page.refresh_header("4419", "2026-13-01")
    assert out[-1] == "banner" and out[-2].startswith("日期格式不正确")
    rows, note = page.refresh_table("4419", "2026-13-01")
    assert rows is page.no_update and note.startswith("日期格式不正确")
    title, level, crumbs, *_ = page.refresh_header("441900003", DAY)
    assert level == "镇街" and [c.children for c in crumbs if hasattr(c, "href")] == ["东莞市"]


# ----------------------------------------------------------------------------- browser
_INSIDE_POINT = """
    var p = arguments[0], r = p.getBoundingClientRect(), best = null;
    for (var i = 1; i < 12 && !best; i++) {
        for (var j = 1; j < 12; j++) {
            var x = r.left + r.width * ((i * 5) % 12) / 12, y = r.top + r.height * ((j * 7) % 12) / 12;
            if (document.elementFromPoint(x, y) === p) { best = [x, y]; break; }
        }
    }
    return best;"""


def _mouse(dash_duo, kind: str, xy) -> None:
    dash_duo.driver.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": kind, "x": xy[0], "y": xy[1],
                                                                 "button": "left", "clickCount": 1})


def _click_feature(dash_duo, name: str) -> None:
    """Hover each polygon until its tooltip names ``name``, then click it there (real mouse events)."""
    paths = dash_duo.find_elements("#risk-map .leaflet-overlay-pane path.leaflet-interactive")
    for path in paths:
        xy = _js(dash_duo, _INSIDE_POINT, path)
        if not xy:
            continue
        _mouse(dash_duo, "mouseMoved", xy)
        time.sleep(0.3)
        tip = _wait(lambda: dash_duo.find_element(".leaflet-tooltip").text, timeout=5, what="tooltip")
        if tip.splitlines()[0] == name:
            _mouse(dash_duo, "mousePressed", xy)
            _mouse(dash_duo, "mouseReleased", xy)
            return
    raise AssertionError(f"no polygon named {name}")


@pytest.mark.browser
def test_risk_page_in_browser(dash_duo, dongguan, oracle, demo_data):
    from app import create_app

    village = _busiest_village(oracle)
    exp = oracle[oracle["grid_code"].str.startswith(village)]
    grades = _area_grades(oracle, village, 15)
    kids = region_node(dongguan, village).children
    grid = str(exp[exp["grade"].isin(["red", "orange"])].sort_values("score", ascending=False)["grid_code"].iloc[0])
    grid_name = kids.set_index("code").loc[grid, "name"]

    app = create_app()
    dash_duo.start_server(app)
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    # Start at the village's town and drill down by clicking the village's polygon (no page reload).
    town = region_node(dongguan, village[:9])
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/risk?region={town.code}&date={DAY}", timeout=30)
    _wait(lambda: len(dash_duo.find_elements("#risk-map .leaflet-overlay-pane path.leaflet-interactive"))
          == len(town.children), what="village polygons")
    town_high = int(oracle[oracle["grid_code"].str.startswith(town.code)]["grade"].isin(["red", "orange"]).sum())
    _wait(lambda: len(dash_duo.find_elements("#risk-map .leaflet-risk-points-pane-pane path")) == town_high,
          what="town risk points")
    time.sleep(0.6)  # fitBounds
    dash_duo.driver.save_screenshot("/tmp/risk_town.png")
    _js(dash_duo, "window.__noReload = 1;")
    _click_feature(dash_duo, region_node(dongguan, village).name)
    _wait(lambda: _js(dash_duo, "return window.location.search;") == f"?region={village}&date={DAY}",
          what="drilled URL")
    dash_duo.wait_for_text_to_equal("#risk-title", region_node(dongguan, village).name, timeout=30)
    assert _js(dash_duo, "return window.__noReload;") == 1
    # Cards equal the oracle; the map's polygons, points and legend rows with counts.
    red = str(int((exp["grade"] == "red").sum()))
    _wait(lambda: _js(dash_duo, "return document.getElementById('risk-card-red-value').getAttribute('data-value');")
          == red, what="red card")
    _wait(lambda: len(dash_duo.find_elements("#risk-map .leaflet-overlay-pane path.leaflet-interactive")) == len(kids),
          what="grid polygons")
    high = int(exp["grade"].isin(["red", "orange"]).sum())
    _wait(lambda: len(dash_duo.find_elements("#risk-map .leaflet-risk-points-pane-pane path")) == high,
          what="risk points")
    legend = _wait(lambda: _js(dash_duo, """return Array.from(document.querySelectorAll('#risk-legend .legend-row'))
        .map(r => [r.getAttribute('data-class'), r.querySelector('.legend-count').innerText]);"""), what="legend")
    got = dict(legend)
    for g in rv.GRADE_ORDER:
        assert got[g] == str(sum(1 for v in grades.values() if v == g)), g
    assert got["point-red"] == red
    assert "示意" in dash_duo.find_element("#risk-legend").text
    fills = {p.get_attribute("fill").lower() for p in
             dash_duo.find_elements("#risk-map .leaflet-overlay-pane path.leaflet-interactive")}
    assert fills == {GRADES[g][1] for g in set(grades.values())} | ({"#3a4a63"} if len(grades) < len(kids) else set())
    # The table's factor bars are drawn.
    _wait(lambda: "linear-gradient" in _js(dash_duo, "var c = document.querySelector('.risk-grid .risk-bar-cell');"
                                                     "return c ? getComputedStyle(c).backgroundImage : '';"),
          what="breakdown bars")
    # Click the grid polygon → its details: entities and grid workers.
    time.sleep(0.6)  # fitBounds
    _click_feature(dash_duo, grid_name)
    _wait(lambda: dash_duo.find_element(".risk-details-head").get_attribute("data-code") == grid, what="details")
    mine = exp[exp["grid_code"] == grid].reset_index().sort_values(["score", "credit_code"], ascending=[False, True])
    codes = _js(dash_duo, "return Array.from(document.querySelectorAll('#risk-details-entities tbody tr'))"
                          ".map(r => r.getAttribute('data-code'));")
    assert codes == list(mine["credit_code"])
    workers = demo_data.grid_workers[demo_data.grid_workers["grid_code"] == grid]
    text = dash_duo.find_element("#risk-details-workers").text
    assert all(n in text for n in workers["name"]) and workers["phone"].iloc[0] not in text
    _wait(lambda: dash_duo.find_element("#risk-share").get_attribute("href").endswith(f"grid={grid}"),
          what="share link")
    assert _js(dash_duo, "return document.documentElement.scrollHeight <= window.innerHeight;")  # fits 1920×1080
    dash_duo.driver.save_screenshot("/tmp/risk.png")
    # Open the top entity of that grid from its link: the page shows the oracle's score.
    top = mine.iloc[0]
    dash_duo.find_element(f"#risk-details-entities tr[data-code='{top['credit_code']}'] a").click()
    _wait(lambda: _js(dash_duo, "return window.location.pathname;") == f"/entity/{top['credit_code']}",
          what="entity URL")
    _wait(lambda: _js(dash_duo, "var e = document.getElementById('entity-score');"
                                "return e && e.getAttribute('data-value');") == f"{top['score']:.2f}",
          what="entity score")
    assert _js(dash_duo, "return document.getElementById('entity-grade').getAttribute('data-grade');") == top["grade"]
    assert _js(dash_duo, "return window.__noReload;") == 1
    dash_duo.wait_for_contains_text("#entity-grid", grid_name, timeout=10)
    dash_duo.driver.save_screenshot("/tmp/entity.png")
    assert dash_duo.get_logs() == []


def test_map_and_batches_are_shared_views(dongguan, page, monkeypatch, caplog):
    """Warm, the map and the batch list are one cache look-up (no query, no geometry drawn
    again): the same outputs; a load (data version) or another snapshot draws them anew."""
    import logging

    from cachelib import SimpleCache
    from plotly.io.json import to_json_plotly

    import store.versions as versions
    from store import cache

    cache.configure(SimpleCache(), 60, view_seconds=300)
    try:
        first = (page.refresh_map("4419", DAY), page.refresh_batches("4419", DAY))
        with caplog.at_level(logging.INFO, logger="store.sql"):
            again = (page.refresh_map("4419", DAY), page.refresh_batches("4419", DAY))
        queries = [r for r in caplog.records if r.name == "store.sql" and r.msg.startswith("query ")]
        assert to_json_plotly(again) == to_json_plotly(first)
        # version checks (cached for seconds, so a slow machine may ask again) are not drawing
        assert [r.args[0] for r in queries if "region" not in r.args[0] and not r.args[0].endswith("_version")] == []
        drawn: list[str] = []
        real = page.risk_map_layer
        monkeypatch.setattr(page, "risk_map_layer", lambda *a, **k: drawn.append("map") or real(*a, **k))
        page.refresh_map("4419", DAY)
        assert drawn == []
        monkeypatch.setattr(page, "usable", lambda *a: type("S", (), {"id": "another-snapshot"})())
        page.refresh_map("4419", DAY)
        assert drawn == ["map"]
        monkeypatch.setattr(versions, "data_version_or_zero", lambda db: 10 ** 9)
        page.refresh_map("4419", DAY)
        assert drawn == ["map", "map"] and to_json_plotly(page.refresh_batches("4419", DAY)) == to_json_plotly(first[1])
    finally:
        cache.configure(None, 0)
