"""The 指标体系 page: callbacks against the demo data, then a real headless
Chromium showing the query layer's numbers, the search and the CSV export."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys

from components.indicator_table import EXPORT_COLUMNS, build_rows, csv_params, format_value, matches_search
from indicators.catalogue import CATALOGUE, INDICATORS
from queries.indicator_values import compute, compute_with_comparisons
from indicators.periods import period_to_date
from store.filters import Filter, RegionScope
from queries.regions import region_node
from tests.conftest import DEMO_END
from tests.pagekit import walk as _walk

ROWS = ".ag-center-cols-container .ag-row"
TOWN = "441900003"  # a 镇街 of Dongguan in the demo data


def _cell(ind_id: str, col: str) -> str:
    return f".ag-center-cols-container .ag-row[row-id='{ind_id}'] .ag-cell[col-id='{col}']"


def _expected(db, region: str, ids: list[str]) -> dict[str, str]:
    inds = [CATALOGUE[i] for i in ids]
    df = compute(db, inds, Filter(region=region), period_to_date(DEMO_END, "month")).set_index("indicator_id")
    return {i: format_value(CATALOGUE[i], df.loc[i, "value"]) for i in ids}


def test_region_options_reach_villages(dongguan):
    from app import create_app

    create_app()
    from pages.indicators import _region_options

    root = region_node(dongguan, "4419")
    opts = _region_options(root, "4419")
    assert opts[0] == {"label": "东莞市", "value": "4419"}
    assert len(opts) == 1 + len(root.children) and all(o["label"].startswith("↓ ") for o in opts[1:])
    village = region_node(dongguan, TOWN).children["code"].iloc[0]
    opts = _region_options(region_node(dongguan, village), "4419")
    assert [o["value"] for o in opts[:3]] == ["4419", TOWN, village]  # up, up, here
    assert opts[0]["label"] == "↑ 东莞市" and opts[2]["label"].startswith("东莞市 › ")
    assert all(len(o["value"]) == 15 for o in opts[3:]) and len(opts) > 3  # its grids


def test_refresh_callback_and_errors(dongguan):
    from app import create_app

    create_app()
    from pages import indicators as page

    rows, _period, _summary, banner, banner_cls, href, csv = page.refresh("4419", DEMO_END.isoformat(), "month")
    assert banner_cls == "banner hidden" and href.endswith("?region=4419&date=2026-11-20&grain=month")
    assert csv["fileName"] == "indicators_4419_2026-11-20_month.csv"
    exp = compute_with_comparisons(dongguan, INDICATORS, Filter(region="4419", scope=RegionScope("4419")),
                                   period_to_date(DEMO_END, "month"), "month")
    assert rows == build_rows(INDICATORS, exp)
    # Outside the jurisdiction, malformed, unknown: a banner, the table is kept.
    for code, msg in (("4401", "无权查看该区域的数据"), ("44x", "区划"), ("441999999", "未找到")):
        out = page.refresh(code, DEMO_END.isoformat(), "month")
        assert out[0] is page.no_update and msg in out[3] and out[4] == "banner"
    assert page.refresh("4419", "2026-13-01", "month")[3].startswith("日期格式不正确")


def test_layout_reads_url_parameters(monkeypatch):
    from app import create_app

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "4419")
    create_app()
    from pages import indicators as page

    tree = page.layout(region=TOWN, date="2026-11-20", grain="week", category="credit", q="异常")
    found = {c.id: c for c in _walk(tree) if getattr(c, "id", None)}
    assert found["ind-region"].value == TOWN and found["ind-date"].date == "2026-11-20"
    assert found["ind-grain"].value == "week" and found["ind-category"].value == "credit"
    assert found["ind-search"].value == "异常"
    assert {r["category"] for r in found["ind-grid"].rowData} == {"credit"}
    bad = {c.id: c for c in _walk(page.layout(region="4401", date="x", grain="hour")) if getattr(c, "id", None)}
    assert bad["ind-region"].value == "4419" and bad["ind-grain"].value == "month"


def _row_ids(dash_duo) -> set[str]:
    """Ids of the displayed rows, read in one script (no stale elements while the grid redraws)."""
    return set(dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute('row-id'));", ROWS))


def _text(dash_duo, selector: str) -> str:
    return dash_duo.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;", selector)


def _wait(cond, timeout: float = 20.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.2)
    assert cond()


def _screenshot(dash_duo, suffix: str) -> None:
    """With JINJIAN_SCREENSHOT=/tmp/indicators.png, save the page at a 1920×1080 viewport."""
    target = os.environ.get("JINJIAN_SCREENSHOT")
    if not target:
        return
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    time.sleep(1)
    path = Path(target)
    dash_duo.driver.save_screenshot(str(path.with_name(path.stem + suffix + path.suffix)))


@pytest.mark.browser
def test_indicator_page_in_browser(dash_duo, dongguan):
    from app import create_app

    app = create_app()
    dash_duo.start_server(app)
    url = dash_duo.server_url + "/indicators?date=2026-11-20&region=4419&grain=month"
    dash_duo.wait_for_page(url=url, timeout=30)
    dash_duo.wait_for_contains_text("#ind-region-path", "东莞市", timeout=30)

    # Every indicator is listed, with the query layer's values.
    _wait(lambda: _row_ids(dash_duo) == {i.id for i in INDICATORS})
    expected = _expected(dongguan, "4419", ["entity_stock", "new_registrations", "abnormal_rate"])
    for ind_id, text in expected.items():
        dash_duo.wait_for_text_to_equal(_cell(ind_id, "value"), text, timeout=30)
    assert expected["entity_stock"] not in ("—", "…")
    full = compute_with_comparisons(dongguan, INDICATORS, Filter(region="4419"),
                                    period_to_date(DEMO_END, "month"), "month")
    rows = {r["id"]: r for r in build_rows(INDICATORS, full)}
    for ind_id in ("abnormal_rate", "sampling_pass_rate", "entity_stock"):
        assert _text(dash_duo, _cell(ind_id, "grade_rank")) == rows[ind_id]["grade_label"]
        assert _text(dash_duo, _cell(ind_id, "mom")) == rows[ind_id]["mom_text"]
    assert "2026-11-01 至 2026-11-20" in dash_duo.find_element("#ind-period").text

    _screenshot(dash_duo, "")

    # The CSV export (same parameters as the export button) holds the hidden exact columns.
    params = csv_params()
    assert params.pop("processCellCallback") == {"function": "csvSafeCell(params)"}  # dash-ag-grid makes it a function
    csv = dash_duo.driver.execute_script(
        f"return dash_ag_grid.getApi('ind-grid').getDataAsCsv(Object.assign({json.dumps(params)}, "
        "{processCellCallback: dashAgGridFunctions.csvSafeCell}));")
    header, *lines = csv.splitlines()
    assert header.count(",") == len(EXPORT_COLUMNS) - 1 and '"编号"' in header and len(lines) == len(INDICATORS)
    stock_line = next(line for line in lines if '"entity_stock"' in line)
    assert f'"{rows["entity_stock"]["value_plain"]}"' in stock_line and "市场主体总量" in stock_line

    # Searching narrows the rows in the browser (names, English names or ids).
    search = dash_duo.find_element("#ind-search")
    search.send_keys("投诉")
    want = {r["id"] for r in rows.values() if matches_search(r, "投诉")}
    assert want == {"complaints", "food_complaints", "price_complaints", "complaint_rate"}
    _wait(lambda: _row_ids(dash_duo) == want)
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("RATE")
    _wait(lambda: _row_ids(dash_duo) == {r["id"] for r in rows.values() if matches_search(r, "rate")})
    _screenshot(dash_duo, "-search")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    _wait(lambda: len(_row_ids(dash_duo)) == len(INDICATORS))
    dash_duo.find_element("#ind-export").click()  # the export itself must not fail in the page

    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert logs == []


@pytest.mark.browser
def test_indicator_page_town_week_category(dash_duo, dongguan):
    from app import create_app

    app = create_app()
    dash_duo.start_server(app)
    dash_duo.wait_for_page(url=dash_duo.server_url
                           + f"/indicators?date=2026-11-20&region={TOWN}&grain=week&category=registration",
                           timeout=30)
    node = region_node(dongguan, TOWN)
    dash_duo.wait_for_contains_text("#ind-region-path", node.name, timeout=30)
    inds = [CATALOGUE["entity_stock"], CATALOGUE["new_registrations"]]
    df = compute(dongguan, inds, Filter(region=TOWN), period_to_date(DEMO_END, "week")).set_index("indicator_id")
    for ind in inds:
        dash_duo.wait_for_text_to_equal(_cell(ind.id, "value"), format_value(ind, df.loc[ind.id, "value"]),
                                        timeout=30)
    assert _row_ids(dash_duo) == {i.id for i in INDICATORS if i.category == "registration"}
    assert "2026-11-16 至 2026-11-20" in dash_duo.find_element("#ind-period").text  # ISO week from Monday

    # Down to a village with the region selector: its options list the children.
    village = node.children.iloc[0]
    dash_duo.find_element("#ind-region").click()
    _wait(lambda: len(dash_duo.find_elements(".dash-dropdown-option")) == 2 + len(node.children))
    option = dash_duo.find_elements(".dash-dropdown-option")[2]  # ↑ 东莞市, 东莞市 › 镇街, ↓ first village
    assert option.text == f"↓ {village['name']}"
    option.click()
    dash_duo.wait_for_contains_text("#ind-region-path", f"{node.name} › {village['name']}", timeout=30)
    df = compute(dongguan, inds, Filter(region=village["code"]), period_to_date(DEMO_END, "week"))
    stock = df.set_index("indicator_id").loc["entity_stock", "value"]
    dash_duo.wait_for_text_to_equal(_cell("entity_stock", "value"), format_value(inds[0], stock), timeout=30)
    assert village["code"] in dash_duo.find_element("#ind-share").get_attribute("href")
    logs = [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    assert logs == []
