"""The 区域下钻 page: callbacks against the demo data on both engines (values equal
the indicator layer and an independent pandas count), 404 / 403 panels, then a
real headless Chromium drilling 广东省 → 东莞市 → 镇街 → 村居 → 网格 and back."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from components.region_table import DEFAULT_INDICATORS
from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute, compute_with_comparisons
from indicators.periods import period_to_date
from store import db as dbmod
from store.filters import Filter, RegionScope
from queries.regions import region_node
from tests.conftest import DEMO_END
from tests.test_app import ExplodingEngine
from tests.pagekit import walk as _walk, ids as _ids, text as _text, wait as _wait, js as _js

DAY = DEMO_END.isoformat()


@pytest.fixture
def page():
    from app import create_app

    create_app()
    from pages import region
    return region


def _alive(entities: pd.DataFrame, day) -> pd.DataFrame:
    end = pd.Timestamp(day)
    return entities[(entities["reg_date"] <= end) & ((entities["status"] == "active") | (entities["status_date"] > end))]


# ----------------------------------------------------------------------------- layout (no database)
def test_layout_makes_no_database_calls_and_reads_url(monkeypatch, page):
    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    monkeypatch.setattr(dbmod, "_engine", ExplodingEngine())
    tree = page.layout(code="441900003", indicator="abnormal_rate,entity_stock,bogus", date=DAY, grain="week")
    found = _ids(tree)
    assert found["region-code"].data == "441900003"
    assert found["region-indicators"].value == ["abnormal_rate", "entity_stock"]
    assert found["region-date"].date == DAY and found["region-grain"].value == "week"
    assert [c["field"] for c in found["region-grid"].columnDefs][3:] == ["abnormal_rate", "entity_stock"]
    assert "hidden" in found["region-status"].className and "hidden" not in found["region-main"].className
    assert found["region-share"].href.startswith("/region/441900003?indicator=abnormal_rate%2Centity_stock&")
    # Defaults; 'root' and no code = the jurisdiction; 'all' = the whole country (outside 4419).
    found = _ids(page.layout())
    assert found["region-code"].data == "4419" and found["region-grain"].value == "month"
    assert found["region-indicators"].value == list(DEFAULT_INDICATORS)
    assert _ids(page.layout(code="root"))["region-code"].data == "4419"
    # Known without the database: malformed → 404 panel, outside the jurisdiction → 403 panel.
    bad = _ids(page.layout(code="44x", date="nope", grain="hour"))
    assert "未找到该区域" in _text(bad["region-status"].children) and "hidden" in bad["region-main"].className
    assert bad["region-back"].href == "/region/4419"
    assert "无权查看" in _text(_ids(page.layout(code="4401"))["region-status"].children)
    assert "无权查看" in _text(_ids(page.layout(code="all"))["region-status"].children)
    all_ids = [c.id for c in _walk(page.layout(code="4419")) if isinstance(getattr(c, "id", None), str)]
    assert len(all_ids) == len(set(all_ids)) and all(i.startswith("region-") for i in all_ids)


# ----------------------------------------------------------------------------- callbacks on both engines
def test_table_equals_indicator_layer_and_pandas(dongguan, demo_data, page):
    ids = list(DEFAULT_INDICATORS)
    rows, cols, csv, note = page.refresh_table("4419", DAY, "month", ids)
    assert note == "" and [c["field"] for c in cols][3:] == ids
    assert csv["fileName"] == "region_4419_2026-11-20_month.csv"
    flt = Filter(region="4419", scope=RegionScope("4419"))
    exp = compute(dongguan, [CATALOGUE[i] for i in ids], flt, period_to_date(DEMO_END, "month"), by_child=True)
    node = region_node(dongguan, "4419")
    assert [r["code"] for r in rows] == list(node.children["code"]) and len(rows) == 36  # 441900 skipped
    by = {r["code"]: r for r in rows}
    for rec in exp.itertuples():
        got = by[rec.region_code][rec.indicator_id]
        if pd.isna(rec.value):
            assert got is None
        else:
            assert got == pytest.approx(rec.value)
    # entity_stock: an independent pandas count of entities alive at the period end.
    alive = _alive(demo_data.entities, DEMO_END)
    counts = alive.groupby(alive["grid_code"].str[:9]).size()
    assert {c: r["entity_stock"] for c, r in by.items()} == {c: int(counts.get(c, 0)) for c in by}
    assert sum(r["entity_stock"] for r in rows) == len(alive)
    first = rows[0]
    assert first["name_md"] == (f"[{first['name']}](/region/{first['code']}?indicator="
                                + "%2C".join(ids) + f"&date={DAY}&grain=month)")


def test_table_follows_indicator_choice_down_to_grids(dongguan, demo_data, page):
    town = region_node(dongguan, "4419").children["code"].iloc[0]
    village = region_node(dongguan, town).children["code"].iloc[0]
    rows, cols, _csv, _note = page.refresh_table(village, DAY, "week", ["tasks_open", "entity_stock"])
    assert [c["field"] for c in cols][3:] == ["tasks_open", "entity_stock"]
    assert rows and all(len(r["code"]) == 15 and r["level"] == 6 for r in rows)
    alive = _alive(demo_data.entities, DEMO_END)
    counts = alive[alive["grid_code"].str.startswith(village)].groupby("grid_code").size()
    assert {r["code"]: r["entity_stock"] for r in rows} == {r["code"]: int(counts.get(r["code"], 0)) for r in rows}
    exp = compute(dongguan, [CATALOGUE["tasks_open"]], Filter(region=village), period_to_date(DEMO_END, "week"),
                  by_child=True).set_index("region_code")["value"]
    assert {r["code"]: r["tasks_open"] for r in rows} == {c: int(v) for c, v in exp.items()}
    grid = rows[0]["code"]
    rows, _cols, _csv, note = page.refresh_table(grid, DAY, "month", None)
    assert rows == [] and note == "网格为最小单元，无下级区域"


def test_refresh_header_cards_and_trends(dongguan, demo_data, page):
    town = region_node(dongguan, "4419").children.iloc[0]
    out = page.refresh(town["code"], DAY, "month")
    title, level, path, status, status_cls, main_cls = out[:6]
    cards = out[6:6 + len(page.CARDS)]
    daily, monthly, period, table_title, banner, banner_cls = out[6 + len(page.CARDS):]
    assert title == town["name"] and level == "镇街" and banner_cls == "banner hidden"
    assert [p["name"] for p in path] == ["东莞市", town["name"]]  # the jurisdiction root down; 441900 skipped
    assert "hidden" in status_cls and "hidden" not in main_cls and table_title.startswith("下级村居（")
    exp = compute_with_comparisons(dongguan, [CATALOGUE[i] for _, i, _ in page.CARDS], Filter(region=town["code"]),
                                   period_to_date(DEMO_END, "month"), "month").set_index("indicator_id")
    by_id = {ind: card for (_cid, ind, _l), card in zip(page.CARDS, cards)}
    stock = _ids(html_div(by_id["entity_stock"]))["region-card-stock-value"]
    alive = _alive(demo_data.entities, DEMO_END)
    n = int(alive["grid_code"].str.startswith(town["code"]).sum())
    assert n == exp.loc["entity_stock", "value"] and stock.to_plotly_json()["props"]["data-value"] == f"{n:,}"
    new = _ids(html_div(by_id["new_registrations"]))["region-card-new-value"]
    assert new.to_plotly_json()["props"]["data-value"] == f"{int(exp.loc['new_registrations', 'value']):,}"
    assert "环比" in _text(by_id["new_registrations"]) and "当前状态" in _text(by_id["abnormal_rate"])
    # Trends: 30 days and 13 months of the query layer's flow.
    assert len(daily["data"][0]["x"]) == 30 and len(monthly["data"][0]["x"]) == 13
    ev = demo_data.events
    ev = ev[ev["grid_code"].str.startswith(town["code"]) & (ev["event_type"] == "registration")]
    in_30 = ev[(ev["event_date"] > pd.Timestamp(DEMO_END) - pd.Timedelta(days=30))
               & (ev["event_date"] <= pd.Timestamp(DEMO_END))]
    assert sum(daily["data"][0]["y"]) == len(in_30)
    assert "2026-11-01 至 2026-11-20" in _text(period)
    # Breadcrumb links keep the date, grain and columns.
    crumbs, share = page.update_links(path, DAY, "month", ["entity_stock"], town["code"])
    assert crumbs[0].href == f"/region/4419?indicator=entity_stock&date={DAY}&grain=month"
    assert crumbs[-1].children == town["name"] and share.startswith(f"/region/{town['code']}?")


def html_div(children):
    from dash import html
    return html.Div(children)


def test_not_found_forbidden_and_errors(dongguan, page):
    for code in ("441999999", "44x", "4419000031"):
        out = page.refresh(code, DAY, "month")
        assert "未找到该区域" in _text(out[3]) and "hidden" in out[5] and out[4] == "region-status"
        assert out[-1] == "banner hidden"
    out = page.refresh("4401", DAY, "month")
    assert "无权查看该区域" in _text(out[3]) and "hidden" in out[5]
    assert page.refresh_table("4401", DAY, "month", None)[0] == []
    # Other errors: a banner, the previous values kept.
    out = page.refresh("4419", "2026-13-01", "month")
    assert out[-1] == "banner" and out[-2].startswith("日期格式不正确")
    assert all(v is page.no_update for v in out[6:6 + len(page.CARDS)])
    rows, cols, _csv, note = page.refresh_table("4419", "2026-13-01", "month", None)
    assert rows is page.no_update and note.startswith("日期格式不正确")


def test_map_callbacks(dongguan, page):
    data, legend, note, viewport = page.refresh_map("4419", DAY, "month", ["abnormal_rate", "entity_stock"])
    codes = {f["properties"]["code"] for f in data["features"]}
    assert codes == set(region_node(dongguan, "4419").children["code"])
    assert viewport["transition"] == "fitBounds" and len(viewport["bounds"]) == 2
    exp = compute(dongguan, [CATALOGUE["abnormal_rate"]], Filter(region="4419"), period_to_date(DEMO_END, "month"),
                  by_child=True).set_index("region_code")["value"]
    for f in data["features"]:
        assert f["properties"]["value"] == pytest.approx(exp[f["properties"]["code"]], nan_ok=True)
    assert page.map_click({"properties": {"code": "441900003"}}, DAY, "day", ["entity_stock"]) == \
        f"/region/441900003?indicator=entity_stock&date={DAY}&grain=day"
    assert page.map_click(None, DAY, "day", None) is page.no_update


# ----------------------------------------------------------------------------- browser
def _crumbs(dash_duo) -> list[str]:
    return _js(dash_duo, "return Array.from(document.querySelectorAll('#region-breadcrumbs .region-crumb'))"
                         ".map(e => e.innerText.trim());")


def _stock(db, code: str) -> int:
    df = compute(db, [CATALOGUE["entity_stock"]], Filter(region=code), period_to_date(DEMO_END, "month"))
    return int(df["value"].iloc[0])


def _check_level(dash_duo, db, code: str, names: list[str]) -> None:
    """URL, breadcrumbs and the entity_stock card of the region ``code``."""
    _wait(lambda: _js(dash_duo, "return window.location.pathname;") == f"/region/{code}", what=f"URL of {code}")
    _wait(lambda: _crumbs(dash_duo) == names, what=f"breadcrumbs {names}")
    want = f"{_stock(db, code):,}"
    _wait(lambda: _js(dash_duo, "var e = document.getElementById('region-card-stock-value');"
                                "return e && e.getAttribute('data-value');") == want, what=f"stock card {want}")
    assert _js(dash_duo, "return document.getElementById('region-title').innerText;") == names[-1]


def _click_child(dash_duo, code: str) -> None:
    """Scroll the grid to the child's row and click the link in its name cell."""
    sel = f".region-grid .ag-row[row-id='{code}'] .region-name-cell a"
    _wait(lambda: _js(dash_duo, """
        var api = dash_ag_grid.getApi('region-grid'); var node = api && api.getRowNode(arguments[0]);
        if (!node) { return false; } api.ensureNodeVisible(node, 'middle'); return true;""", code),
          what=f"row {code}")
    link = _wait(lambda: dash_duo.find_element(sel), what=f"link of {code}")
    _wait(lambda: link.is_displayed(), what="visible link")
    link.click()


@pytest.mark.browser
def test_drill_down_in_browser(dash_duo, monkeypatch, demo_db):
    from app import create_app

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    dbmod.set_db(demo_db)
    try:
        app = create_app()
        dash_duo.start_server(app)
        dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                        {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
        base = dash_duo.server_url
        # Outside the 4419 jurisdiction: the server's 403 page (auth.guard); a malformed code: the 404 panel.
        dash_duo.driver.get(f"{base}/region/44?date={DAY}")
        dash_duo.wait_for_contains_text("h1", "403", timeout=30)
        assert "无权查看该区域的数据" in dash_duo.driver.find_element("css selector", "body").text
        dash_duo.get_logs()  # the browser logged the expected 403; later checks look for new errors
        dash_duo.wait_for_page(url=f"{base}/region/441999999?date={DAY}", timeout=30)
        dash_duo.wait_for_contains_text("#region-status", "未找到该区域", timeout=30)

        # Province jurisdiction: 广东省 → 东莞市 → 镇街 → 村居 → 网格.
        monkeypatch.setenv("JINJIAN_ROOT_REGION", "44")
        dash_duo.wait_for_page(url=f"{base}/region/44?date={DAY}&grain=month", timeout=30)
        _check_level(dash_duo, demo_db, "44", ["广东省"])
        assert _js(dash_duo, "return document.getElementById('region-level').innerText;") == "省"
        _js(dash_duo, "window.__noReload = 1;")
        town = region_node(demo_db, "4419").children.iloc[0]
        village = region_node(demo_db, town["code"]).children.iloc[0]
        grid = region_node(demo_db, village["code"]).children.iloc[0]
        steps = [("4419", "东莞市"), (town["code"], town["name"]), (village["code"], village["name"]),
                 (grid["code"], grid["name"])]
        names = ["广东省"]
        for code, name in steps:
            _click_child(dash_duo, code)
            names.append(name)
            _check_level(dash_duo, demo_db, code, names)
            assert f"date={DAY}" in _js(dash_duo, "return window.location.search;")
        assert _js(dash_duo, "return window.__noReload;") == 1  # links navigate without reloading
        assert _js(dash_duo, "return document.getElementById('region-level').innerText;") == "网格"
        dash_duo.wait_for_contains_text("#region-table-note", "网格为最小单元", timeout=30)

        # Browser back: the village again.
        dash_duo.driver.back()
        _check_level(dash_duo, demo_db, village["code"], names[:-1])
        dash_duo.driver.back()
        _check_level(dash_duo, demo_db, town["code"], names[:-2])
        _wait(lambda: _js(dash_duo, "return document.querySelectorAll('.region-grid .ag-row').length;") > 0,
              what="village rows")
        _wait(lambda: _js(dash_duo, "return document.querySelectorAll('#region-geojson path, "
                                    ".region-map path.leaflet-interactive').length;")
              >= len(region_node(demo_db, town["code"]).children), what="map polygons")
        time.sleep(0.5)  # the map flies to the children's bounds: wait for the animation to end
        _wait(lambda: _js(dash_duo, "return !document.querySelector('.leaflet-zoom-anim');"), what="map animation")
        time.sleep(1.5)
        dash_duo.driver.save_screenshot("/tmp/region.png")
        assert _js(dash_duo, "return document.documentElement.scrollHeight <= window.innerHeight;")
        assert _js(dash_duo, "return window.innerWidth;") == 1920

        # Leaflet's own race when a page is replaced during a zoom animation (reading the
        # removed map pane's "_leaflet_pos") is not an app error; anything else is.
        logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"
                and "_leaflet_pos" not in str(e.get("message", ""))]
        assert logs == []
    finally:
        dbmod.set_db(None)
