"""How a periodic report words its figures: values formatted as the report prints them,
changes as '增长 5.2%' / '上升 0.3 个百分点' (the summary sentences are composed in
:func:`queries.report_data.summary_sentences`).
"""
from __future__ import annotations

import math

import pandas as pd

from indicators.model import Indicator


def fmt_value(ind: Indicator, value: float | None) -> str:
    """Exact figures: counts with thousands separators, rates with their decimals."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "—"
    if not ind.is_ratio and ind.decimals == 0:
        return f"{int(round(value)):,}"
    return f"{value:,.{max(ind.decimals, 1)}f}"


def change_words(ratio: float | None) -> str:
    """0.052 → '增长 5.2%'; −0.011 → '下降 1.1%'; 0 → '持平'; NaN → '无可比数据'."""
    if ratio is None or math.isnan(ratio) or math.isinf(ratio):
        return "无可比数据"
    if abs(ratio) < 0.0005:
        return "持平"
    return f"{'增长' if ratio > 0 else '下降'} {abs(ratio) * 100:.1f}%"


def points_words(cur: float, prev: float) -> str:
    """A rate's change in percentage points: '上升 0.3 个百分点'."""
    if any(x is None or math.isnan(x) for x in (cur, prev)):
        return "无可比数据"
    d = cur - prev
    if abs(d) < 0.05:
        return "持平"
    return f"{'上升' if d > 0 else '下降'} {abs(d):.1f} 个百分点"


def compare_text(ind: Indicator, row: pd.Series) -> str:
    """'环比增长 5.2%，同比下降 1.1%' (rates: percentage points)."""
    if ind.unit == "%":
        return (f"环比{points_words(row['value'], row['prev_value'])}，"
                f"同比{points_words(row['value'], row['yoy_value'])}")
    return f"环比{change_words(row['mom'])}，同比{change_words(row['yoy'])}"
