"""Numbers the Chinese way: 万 (10⁴) and 亿 (10⁸); the dropdowns' words in Chinese."""
from __future__ import annotations

import math

#: dcc.Dropdown's own words in Chinese (search box, clear buttons, nothing found, counts).
DROPDOWN_LABELS = {"search": "搜索", "clear_search": "清除搜索", "clear_selection": "清除", "no_options_found": "无匹配项",
                   "select_all": "全选", "deselect_all": "取消全选", "selected_count": "已选 {num_selected} 项"}


def format_cn(value: float | int | None, digits: int = 2) -> str:
    """12,345 → '1.23万'; 123,456,789 → '1.23亿'; below 10,000 with thousands separators.

    None / NaN → '—'.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e8:
        return f"{sign}{v / 1e8:.{digits}f}亿"
    if v >= 1e4:
        return f"{sign}{v / 1e4:.{digits}f}万"
    if float(v).is_integer():
        return f"{sign}{int(v):,}"
    return f"{sign}{v:,.{digits}f}"


def format_change(ratio: float | None) -> str:
    """A period-over-period change: 0.052 → '+5.2%'; None → '—'."""
    if ratio is None or (isinstance(ratio, float) and (math.isnan(ratio) or math.isinf(ratio))):
        return "—"
    return f"{ratio * 100:+.1f}%"


def pct_change(current: float, previous: float) -> float | None:
    """(current − previous) / previous, or None when previous is 0."""
    if not previous:
        return None
    return (current - previous) / previous


def finite_or_none(x: object) -> float | None:
    """A JSON-safe float: None, NaN, ±inf and non-numbers → None."""
    if x is None:
        return None
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def json_ready(value: object) -> object:
    """``value`` (callback outputs: components, figures, numbers) as the plain JSON data Dash
    sends for it: cheap to cache and to copy, and Dash renders it the same."""
    import json

    from plotly.io.json import to_json_plotly

    return json.loads(to_json_plotly(value))
