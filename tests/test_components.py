"""Pure component factories (no server)."""
from __future__ import annotations

import pandas as pd
import pytest

from components.cards import create_stat_card
from components.figures import create_children_bar, create_flow_lines
from components.format import format_change, format_cn, pct_change
from components.tables import create_region_table


@pytest.mark.parametrize("value, text", [
    (0, "0"), (9_999, "9,999"), (10_000, "1.00万"), (12_345, "1.23万"), (123_456_789, "1.23亿"),
    (-25_000, "-2.50万"), (None, "—"), (float("nan"), "—"), (12.5, "12.50"),
])
def test_format_cn(value, text):
    assert format_cn(value) == text


def test_changes():
    assert format_change(pct_change(1052, 1000)) == "+5.2%"
    assert format_change(pct_change(989, 1000)) == "-1.1%"
    assert pct_change(5, 0) is None and format_change(None) == "—"


def test_stat_card_keeps_exact_value():
    card = create_stat_card("c1", "存续市场主体", 1_234_567, "户")
    value = card.children[1].children[0]
    assert value.id == "c1-value" and value.children == "123.46万"
    assert getattr(value, "data-value") == "1,234,567"


def test_figures_and_table():
    df = pd.DataFrame({"child_name": ["甲", "乙"], "a": [1, 2], "b": [3, 4]})
    fig = create_children_bar(df, {"a": "企业", "b": "个体"}, "t")
    assert [t.name for t in fig.data] == ["企业", "个体"] and list(fig.data[1].y) == [3, 4]
    flow = pd.DataFrame({"period": pd.date_range("2026-01-01", periods=3), "registered": [1, 2, 3],
                         "cancelled": [0, 1, 0], "revoked": [0, 0, 1]})
    fig = create_flow_lines(flow, "t")
    assert list(fig.data[1].y) == [0, 1, 1]
    grid = create_region_table("t1", {"all": "累计"})
    assert [c["field"] for c in grid.columnDefs] == ["child_code", "child_name", "all"]
