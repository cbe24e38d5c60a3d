"""Pure helpers of the drill-down table (components/region_table.py): no database."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from components.tables import CSV_SAFE
from components.region_table import (DEFAULT_INDICATORS, build_rows, code_from_slug, column_defs,
                                     create_region_grid, csv_params, indicator_options, level_of, name_markdown,
                                     page_query, parse_indicators, region_href, slug)
from indicators.catalogue import CATALOGUE


def test_slugs_and_hrefs():
    assert slug("") == "all" and slug("4419") == "4419"
    assert code_from_slug("all", "44") == "" and code_from_slug("ALL", "44") == ""
    assert code_from_slug(None, "4419") == "4419" and code_from_slug("root", "4419") == "4419"
    assert code_from_slug(" 441900003 ", "44") == "441900003"
    assert region_href("4419") == "/region/4419"
    assert region_href("") == "/region/all"
    q = page_query(["entity_stock", "abnormal_rate"], "2026-11-20", "week")
    assert region_href("441900003", q) == \
        "/region/441900003?indicator=entity_stock%2Cabnormal_rate&date=2026-11-20&grain=week"
    assert region_href("44", {}, prefix="/app/region/") == "/app/region/44"
    assert page_query() == {} and page_query(date="2026-01-01") == {"date": "2026-01-01"}


def test_parse_indicators():
    assert parse_indicators(None) == list(DEFAULT_INDICATORS)
    assert parse_indicators("") == list(DEFAULT_INDICATORS)
    assert parse_indicators("nope, ;drop") == list(DEFAULT_INDICATORS)
    assert parse_indicators("abnormal_rate, entity_stock,abnormal_rate,x") == ["abnormal_rate", "entity_stock"]
    assert parse_indicators(["tasks_open", "bad"]) == ["tasks_open"]
    assert all(i in CATALOGUE for i in DEFAULT_INDICATORS)


def test_indicator_options_cover_catalogue():
    opts = indicator_options()
    assert [o["value"] for o in opts] == list(CATALOGUE)
    assert opts[0]["label"] == "市场主体总量（户）· 主体登记"


def test_level_of():
    assert [level_of(c) for c in ("", "44", "4419", "441900", "441900003", "441900003001", "441900003001001")] \
        == [0, 1, 2, 3, 4, 5, 6]
    assert level_of("123") is None


def test_name_markdown_escapes():
    assert name_markdown("莞城街道", "/region/441900003") == "[莞城街道](/region/441900003)"
    assert name_markdown("a[b]_c", "/x") == r"[a\[b\]\_c](/x)"


def _values() -> pd.DataFrame:
    """A compute(..., by_child=True)-shaped frame for two children and two indicators."""
    return pd.DataFrame({
        "indicator_id": ["entity_stock", "entity_stock", "abnormal_rate", "abnormal_rate"],
        "region_code": ["441900003", "441900004", "441900003", "441900004"],
        "region_name": ["东城街道", "南城街道", "东城街道", "南城街道"],
        "numerator": [120.0, 0.0, 3.0, 0.0], "denominator": [np.nan, np.nan, 120.0, 0.0],
        "value": [120.0, 0.0, 2.5, np.nan], "grade": [None, None, "normal", None],
    })


def test_build_rows_from_compute_frame():
    ids = ["entity_stock", "abnormal_rate"]
    rows = build_rows(_values(), ids, href=lambda c: f"/region/{c}?date=2026-11-20")
    assert [r["code"] for r in rows] == ["441900003", "441900004"]
    first, second = rows
    assert first["name"] == "东城街道" and first["level"] == 4
    assert first["name_md"] == "[东城街道](/region/441900003?date=2026-11-20)"
    assert first["entity_stock"] == 120 and isinstance(first["entity_stock"], int)
    assert math.isclose(first["abnormal_rate"], 2.5)
    assert second["entity_stock"] == 0 and second["abnormal_rate"] is None  # NaN → None (JSON-safe)
    # An indicator not in the frame stays None; an extra one in the frame is ignored.
    rows = build_rows(_values(), ["entity_stock", "tasks_open"])
    assert rows[0]["tasks_open"] is None and "abnormal_rate" not in rows[0]
    assert build_rows(_values().iloc[0:0], ids) == []


def test_column_defs_and_grid():
    ids = ["entity_stock", "abnormal_rate"]
    cols = column_defs(ids)
    fields = [c["field"] for c in cols]
    assert fields == ["code", "name_md", "name", "entity_stock", "abnormal_rate"]
    name = cols[1]
    assert name["cellRenderer"] == "markdown" and name["filterValueGetter"]["function"] == "params.data.name"
    assert cols[2]["hide"] is True
    stock, rate = cols[3], cols[4]
    assert stock["headerName"] == "市场主体总量" and stock["filter"] == "agNumberColumnFilter"
    assert ",.0f" in stock["valueFormatter"]["function"]
    assert f",.{CATALOGUE['abnormal_rate'].decimals}f" in rate["valueFormatter"]["function"]
    assert csv_params("x.csv", ids) == {"fileName": "x.csv", "columnKeys": ["code", "name", *ids], **CSV_SAFE}
    grid = create_region_grid("region-grid", ids)
    assert grid.id == "region-grid" and grid.rowData == [] and grid.getRowId == "params.data.code"
    assert grid.dashGridOptions["theme"]["function"].startswith("themeQuartz")
