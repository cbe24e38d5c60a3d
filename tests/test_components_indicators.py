"""The indicator table factories and the navigation bar (pure: no database, no server)."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from components.indicator_table import (EXPORT_COLUMNS, GRADE_ORDER, KIND_ZH, build_rows, category_options,
                                        column_defs, create_indicator_grid, csv_params, filter_rows,
                                        format_value, grade_counts, grade_label, matches_search,
                                        name_markdown, threshold_text)
from components.nav import NAV_ITEMS, create_nav
from components.tables import DARK_THEME
from indicators.catalogue import CATALOGUE, INDICATORS
from indicators.model import CATEGORIES, GRADES

ROOT = Path(__file__).resolve().parents[1]
NAN = math.nan


def _values(rows: list[tuple]) -> pd.DataFrame:
    """A hand-made compute_with_comparisons result for region 4419."""
    df = pd.DataFrame(rows, columns=["indicator_id", "value", "grade", "mom", "yoy"])
    df["region_code"], df["region_name"] = "4419", "东莞市"
    df["numerator"] = df["denominator"] = df["prev_value"] = df["yoy_value"] = NAN
    return df


VALUES = _values([
    ("entity_stock", 13_100.0, None, 0.0083, 0.136),
    ("new_registrations", 99.0, None, -0.1, NAN),
    ("abnormal_rate", 4.98765, "yellow", NAN, NAN),
    ("sampling_pass_rate", NAN, None, NAN, NAN),      # no sampling: denominator 0
    ("overdue_rate", 51.44, "red", 0.184, 0.508),
    ("grade_a_share", 72.3, "normal", NAN, NAN),
    ("registered_capital", 947_926.4912, None, 0.012, 0.166),
    ("net_growth", -12.0, None, float("inf"), -2.0),
])


@pytest.mark.parametrize("ind_id, text", [
    ("abnormal_rate", "≥3% 蓝 / ≥4% 黄 / ≥5% 橙 / ≥8% 红"),
    ("sampling_pass_rate", "≤98% 蓝 / ≤97% 黄 / ≤95% 橙 / ≤90% 红"),
    ("dishonest_rate", "≥2‰ 蓝 / ≥3‰ 黄 / ≥5‰ 橙 / ≥8‰ 红"),
    ("load_per_worker", "≥300 蓝 / ≥500 黄 / ≥800 橙 / ≥1200 红"),
    ("entity_stock", "—"),
])
def test_threshold_text(ind_id, text):
    assert threshold_text(CATALOGUE[ind_id]) == text


@pytest.mark.parametrize("ind_id, value, text", [
    ("entity_stock", 13_100.0, "1.31万"), ("entity_stock", 9_999.0, "9,999"), ("entity_stock", 0.0, "0"),
    ("entity_stock", 123_456_789.0, "1.23亿"), ("net_growth", -12.0, "-12"), ("new_registrations", NAN, "—"),
    ("abnormal_rate", 4.98765, "4.99"), ("enterprise_share", 34.46, "34.5"), ("abnormal_rate", None, "—"),
    ("registered_capital", 947_926.4912, "947,926.49"), ("load_per_worker", 1234.56, "1,234.6"),
])
def test_format_value(ind_id, value, text):
    assert format_value(CATALOGUE[ind_id], value) == text


def test_rows_from_values():
    rows = {r["id"]: r for r in build_rows(INDICATORS, VALUES)}
    assert list(rows) == [i.id for i in INDICATORS]  # catalogue order, every indicator
    json.dumps(list(rows.values()), allow_nan=False)  # no NaN reaches the browser

    stock = rows["entity_stock"]
    assert stock["category_zh"] == "主体登记" and stock["name_zh"] == "市场主体总量"
    assert stock["name_en"] == "Market entities" and stock["unit"] == "户" and stock["kind_zh"] == "存量"
    assert stock["value"] == 13_100.0 and stock["value_text"] == "1.31万"
    assert stock["value_exact"] == "13,100 户" and stock["value_plain"] == "13100"
    assert stock["mom_text"] == "+0.8%" and stock["yoy_text"] == "+13.6%"
    assert stock["thresholds"] == "—" and stock["grade"] is None and stock["grade_label"] == "—"

    flow = rows["new_registrations"]
    assert flow["kind_zh"] == "流量" and flow["value_text"] == "99"
    assert flow["mom_text"] == "-10.0%" and flow["yoy"] is None and flow["yoy_text"] == "—"

    rate = rows["abnormal_rate"]
    assert rate["value_text"] == "4.99" and rate["kind_zh"] == "当前" and rate["mom_text"] == "—"
    assert rate["grade"] == "yellow" and rate["grade_label"] == "黄色" and rate["grade_rank"] == 2
    assert rows["overdue_rate"]["grade_label"] == "红色" and rows["overdue_rate"]["grade_rank"] == 4
    assert rows["grade_a_share"]["grade_label"] == "正常" and rows["grade_a_share"]["grade_rank"] == 0

    missing = rows["sampling_pass_rate"]
    assert missing["value"] is None and missing["value_text"] == "—" and missing["value_exact"] == ""
    assert missing["grade"] is None and missing["grade_rank"] == -1
    assert rows["registered_capital"]["value_text"] == "947,926.49"
    assert rows["net_growth"]["mom"] is None and rows["net_growth"]["mom_text"] == "—"  # inf: no base
    assert rows["net_growth"]["yoy_text"] == "-200.0%"
    # Indicators absent from the frame show '—' (computed, but no value).
    assert rows["complaints"]["value_text"] == "—" and rows["complaints"]["value"] is None


def test_rows_before_computation():
    rows = {r["id"]: r for r in build_rows(INDICATORS)}
    assert rows["entity_stock"]["value_text"] == "…" and rows["entity_stock"]["mom_text"] == "…"
    assert rows["abnormal_rate"]["mom_text"] == "—"  # current state: never compared
    assert rows["abnormal_rate"]["thresholds"] == "≥3% 蓝 / ≥4% 黄 / ≥5% 橙 / ≥8% 红"


def test_grades():
    assert [grade_label(g) for g in GRADE_ORDER] == ["正常", "蓝色", "黄色", "橙色", "红色"]
    assert grade_label(None) == "—" and grade_label("purple") == "—"
    counts = grade_counts(build_rows(INDICATORS, VALUES))
    assert counts == {"normal": 1, "blue": 0, "yellow": 1, "orange": 0, "red": 1}


def test_search_matching():
    rows = build_rows(INDICATORS)
    ids = lambda q: {r["id"] for r in filter_rows(rows, query=q)}  # noqa: E731
    assert ids("投诉") == {"complaints", "food_complaints", "price_complaints", "complaint_rate"}
    assert ids("MARKET ENTITIES") == {"entity_stock"}          # English, any case, every word
    assert ids("entity_stock") == {"entity_stock"}             # the id
    assert ids("") == ids(None) == {i.id for i in INDICATORS}
    assert ids("无此指标") == set()
    assert "overdue_rate" in ids("Rate") and "entity_stock" not in ids("rate")
    # The definition is not searched: 投诉 only in names of complaint indicators.
    assert not matches_search({"search": "entity_stock 市场主体总量 market entities"}, "期末")


def test_category_filter():
    rows = build_rows(INDICATORS)
    credit = filter_rows(rows, "credit")
    assert credit and {r["category"] for r in credit} == {"credit"}
    assert [r["id"] for r in filter_rows(rows, "credit", "rate")] == ["abnormal_rate", "dishonest_rate",
                                                                      "joint_feedback_ontime_rate"]
    assert len(filter_rows(rows, None)) == len(filter_rows(rows, "")) == len(INDICATORS)
    assert [o["value"] for o in category_options()] == list(CATEGORIES)
    assert category_options()[0]["label"] == "主体登记"


def test_name_markdown_escapes():
    ind = CATALOGUE["grade_cd_share"]
    assert name_markdown(ind) == "**C/D级信用主体占比**"  # no English name, no id on the screen
    assert name_markdown(CATALOGUE["abnormal_rate"]) == "**经营异常名录占比**"
    assert set(KIND_ZH) == {"stock", "flow", "current"}


def test_columns_and_grid():
    cols = column_defs()
    fields = [c["field"] for c in cols]
    assert len(fields) == len(set(fields))
    assert set(EXPORT_COLUMNS) <= set(fields) and csv_params("x.csv")["columnKeys"] == list(EXPORT_COLUMNS)
    by = {c["field"]: c for c in cols}
    assert [by[f]["headerName"] for f in ("category_zh", "name_md", "definition_zh", "unit", "kind_zh",
                                          "thresholds", "value", "mom", "yoy", "grade_rank")] == [
        "分类", "指标", "定义", "单位", "类型", "预警阈值", "当前值", "环比", "同比", "预警"]
    assert by["value"]["valueFormatter"]["function"].endswith("params.data.value_text : ''")
    assert "params.data.grade" in by["grade_rank"]["cellClass"]["function"]

    grid = create_indicator_grid("ind-grid", build_rows(INDICATORS))
    assert grid.id == "ind-grid" and grid.getRowId == "params.data.id" and len(grid.rowData) == len(INDICATORS)
    opts = grid.dashGridOptions
    assert opts["theme"] == DARK_THEME and opts["quickFilterText"] == ""
    assert grid.defaultColDef["sortable"] is True and grid.csvExportParams["fileName"] == "indicators.csv"
    quick = {c["field"]: c["getQuickFilterText"]["function"] for c in grid.columnDefs}
    assert quick.pop("name_md") == "params.data.search" and set(quick.values()) == {"''"}
    assert set(grid.rowClassRules) == {f"ind-row-{g}" for g in ("blue", "yellow", "orange", "red")}


def test_css_is_local_and_matches_grade_colours():
    css = (ROOT / "assets" / "indicators.css").read_text(encoding="utf-8")
    assert "http" not in css and "@import" not in css and "@font-face" not in css and "url(" not in css
    for grade, (_label, colour) in GRADES.items():
        rule = re.search(rf"\.ind-badge-{grade}[^{{]*\{{([^}}]*)\}}", css)
        assert rule and f"background: {colour}" in rule.group(1), grade


def test_nav():
    nav = create_nav("/indicators")
    links = nav.children[1].children
    assert [(link.href, link.children) for link in links] == list(NAV_ITEMS)
    assert list(NAV_ITEMS)[:2] == [("/", "指挥大屏"), ("/indicators", "指标体系")]
    assert [link.className for link in links] == ["nav-link active" if href == "/indicators" else "nav-link"
                                                   for href, _ in NAV_ITEMS]
    assert [link.className for link in create_nav("/").children[1].children] == [
        "nav-link active" if href == "/" else "nav-link" for href, _ in NAV_ITEMS]
    assert nav.className == "top-nav" and nav.children[0].children == "金监"
