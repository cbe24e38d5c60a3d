"""The indicator catalogue table (指标体系): pure row and column factories.

No database and no server: :func:`build_rows` turns the catalogue plus the
DataFrame of :func:`queries.indicator_values.compute_with_comparisons` into row dicts
for dash-ag-grid, :func:`column_defs` describes the columns and
:func:`create_indicator_grid` builds the grid.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

import dash_ag_grid as dag
import pandas as pd

from components.format import finite_or_none, format_change, format_cn
from components.tables import CSV_SAFE, DARK_THEME, WRAP_HEADERS
from indicators.model import CATEGORIES, GRADES, Indicator

KIND_ZH: dict[str, str] = {"stock": "存量", "flow": "流量", "current": "当前"}
#: Grades from least to most severe; the rank sorts the grade column.
GRADE_ORDER: tuple[str, ...] = ("normal", "blue", "yellow", "orange", "red")
GRADE_RANK: dict[str, int] = {g: i for i, g in enumerate(GRADE_ORDER)}
WARNING_GRADES: tuple[str, ...] = GRADE_ORDER[1:]
PENDING = "…"
NONE = "—"
#: Units written right after the threshold number ("≥3%"); others are left out.
_INLINE_UNITS = ("%", "‰")
#: Columns in the CSV export, in order (some are hidden in the grid).
EXPORT_COLUMNS: tuple[str, ...] = ("category_zh", "id", "name_zh", "name_en", "definition_zh", "unit", "kind_zh",
                                   "thresholds", "value", "value_plain", "mom", "yoy", "grade_rank")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))




def threshold_text(ind: Indicator) -> str:
    """'≥3% 蓝 / ≥4% 黄 / ≥5% 橙 / ≥8% 红' (≤ for higher-is-better); '—' without thresholds."""
    t = ind.thresholds
    if t is None:
        return NONE
    op = "≥" if t.direction == "higher_worse" else "≤"
    unit = ind.unit if ind.unit in _INLINE_UNITS else ""
    return " / ".join(f"{op}{getattr(t, g):g}{unit} {GRADES[g][0][0]}" for g in WARNING_GRADES)


def format_value(ind: Indicator, value: float | int | None) -> str:
    """Counts the Chinese way (format_cn: 1.23万); ratios and amounts with the
    indicator's fixed decimals and thousands separators; missing → '—'."""
    if _missing(value):
        return NONE
    if ind.is_ratio or ind.decimals > 0:
        return f"{float(value):,.{ind.decimals}f}"  # type: ignore[arg-type]
    return format_cn(value)


def exact_value(ind: Indicator, value: float | int | None, sep: bool = True) -> str:
    """The unabbreviated value ('123,456' or '3.42'); '' when missing."""
    if _missing(value):
        return ""
    return f"{float(value):{',' if sep else ''}.{ind.decimals}f}"  # type: ignore[arg-type]


def grade_label(grade: str | None) -> str:
    """'红色' … '正常'; '—' when there is no grade (no thresholds or no value)."""
    return GRADES[grade][0] if grade in GRADES else NONE


def search_text(ind: Indicator) -> str:
    """What the search box matches: id, Chinese and English name, lower case."""
    return f"{ind.id} {ind.name_zh} {ind.name_en}".lower()


def matches_search(row: dict[str, Any], query: str | None) -> bool:
    """AG Grid quick-filter semantics on the row's search text: every
    whitespace-separated word must occur, case-insensitively."""
    words = (query or "").lower().split()
    return all(w in row["search"] for w in words)


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def name_markdown(ind: Indicator) -> str:
    """The name cell: the Chinese name (bold). The id and English name are searched but not
    shown (a leader's screen names no internal id; the CSV export carries both)."""
    return f"**{_md(ind.name_zh)}**"


def build_rows(indicators: Sequence[Indicator], values: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One row dict per indicator, in catalogue order.

    ``values`` is the DataFrame of ``compute_with_comparisons`` for ONE region
    (indicator_id, value, grade, mom, yoy, …); ``None`` gives catalogue-only rows
    whose value cells show '…' (not computed yet).
    """
    by_id: dict[str, dict[str, Any]] = {}
    if values is not None:
        by_id = {str(r["indicator_id"]): r for r in values.to_dict("records")}
    rows = []
    for ind in indicators:
        v = by_id.get(ind.id)
        value = finite_or_none(v.get("value")) if v else None
        mom = finite_or_none(v.get("mom")) if v else None
        yoy = finite_or_none(v.get("yoy")) if v else None
        grade = v.get("grade") if v else None
        grade = grade if isinstance(grade, str) and grade in GRADES else None
        pending = values is None
        rows.append({
            "id": ind.id, "category": ind.category, "category_zh": CATEGORIES[ind.category][0],
            "name_zh": ind.name_zh, "name_en": ind.name_en, "name_md": name_markdown(ind),
            "definition_zh": ind.definition_zh, "unit": ind.unit, "kind": ind.kind, "kind_zh": KIND_ZH[ind.kind],
            "thresholds": threshold_text(ind),
            "value": value, "value_text": PENDING if pending else format_value(ind, value),
            "value_exact": "" if value is None else f"{exact_value(ind, value)} {ind.unit}",
            "value_plain": exact_value(ind, value, sep=False),
            "mom": mom, "mom_text": PENDING if pending and ind.comparable else format_change(mom),
            "yoy": yoy, "yoy_text": PENDING if pending and ind.comparable else format_change(yoy),
            "grade": grade, "grade_rank": GRADE_RANK.get(grade or "", -1), "grade_label": grade_label(grade),
            "search": search_text(ind),
        })
    return rows


def filter_rows(rows: Iterable[dict[str, Any]], category: str | None = None,
                query: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``category`` (None/'' = all) matching the search ``query``."""
    return [r for r in rows if (not category or r.get("category") == category) and matches_search(r, query)]


def grade_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many rows are in each grade (all of GRADE_ORDER, zeros included)."""
    counts = {g: 0 for g in GRADE_ORDER}
    for r in rows:
        if r.get("grade") in counts:
            counts[r["grade"]] += 1
    return counts


def category_options() -> list[dict[str, str]]:
    return [{"label": zh, "value": key} for key, (zh, _en) in CATEGORIES.items()]


def _fmt(field: str) -> dict[str, str]:
    """Show the pre-formatted text of ``field`` while sorting on the number."""
    return {"function": f"params.data ? params.data.{field} : ''"}


_NO_QUICK = {"function": "''"}


def column_defs() -> list[dict[str, Any]]:
    """Columns: category, name, definition, unit, kind, thresholds, value, 环比, 同比, grade.
    Only the name column feeds the quick filter (search by id / 中文 / English)."""
    change_rules = {"ind-up": "params.value > 0", "ind-down": "params.value < 0"}
    return [
        {"field": "category_zh", "headerName": "分类", "width": 108, "pinned": "left",
         "cellClass": "ind-category-cell"},
        {"field": "name_md", "headerName": "指标", "width": 290, "pinned": "left", "cellRenderer": "markdown",
         "cellClass": "ind-name-cell", "autoHeight": True,
         "getQuickFilterText": {"function": "params.data.search"}},
        {"field": "definition_zh", "headerName": "定义", "flex": 1, "minWidth": 280, "wrapText": True,
         "autoHeight": True, "cellClass": "ind-definition-cell", "sortable": False},
        {"field": "unit", "headerName": "单位", "width": 96},
        {"field": "kind_zh", "headerName": "类型", "width": 84, "headerTooltip": "存量：期末；流量：期内；当前：最新状态"},
        {"field": "thresholds", "headerName": "预警阈值", "width": 300, "wrapText": True, "autoHeight": True,
         "cellClass": "ind-threshold-cell", "sortable": False},
        {"field": "value", "headerName": "当前值", "width": 132, "type": "numericColumn",
         "valueFormatter": _fmt("value_text"), "tooltipField": "value_exact", "cellClass": "ind-value-cell"},
        {"field": "mom", "headerName": "环比", "width": 100, "type": "numericColumn",
         "valueFormatter": _fmt("mom_text"), "cellClassRules": change_rules},
        {"field": "yoy", "headerName": "同比", "width": 100, "type": "numericColumn",
         "valueFormatter": _fmt("yoy_text"), "cellClassRules": change_rules},
        {"field": "grade_rank", "headerName": "预警", "width": 96, "valueFormatter": _fmt("grade_label"),
         "autoHeight": True, "sortingOrder": ["desc", "asc", None],
         "cellClass": {"function": "'ind-grade-cell ind-grade-' + (params.data.grade || 'none')"}},
        # Hidden: exported to CSV only.
        {"field": "id", "headerName": "编号", "hide": True},
        {"field": "name_zh", "headerName": "指标名称", "hide": True},
        {"field": "name_en", "headerName": "Indicator", "hide": True},
        {"field": "value_plain", "headerName": "数值（精确）", "hide": True},
    ]


def row_class_rules() -> dict[str, str]:
    """Rows tinted by warning grade (blue … red)."""
    return {f"ind-row-{g}": f"params.data.grade === '{g}'" for g in WARNING_GRADES}


def csv_params(file_name: str = "indicators.csv") -> dict[str, Any]:
    return {"fileName": file_name, "columnKeys": list(EXPORT_COLUMNS), **CSV_SAFE}


def create_indicator_grid(grid_id: str, rows: list[dict[str, Any]]) -> dag.AgGrid:
    """A sortable dark grid of indicators with quick filter and CSV export."""
    cols = column_defs()
    for c in cols:  # only the name column is searched
        c.setdefault("getQuickFilterText", _NO_QUICK)
    return dag.AgGrid(
        id=grid_id, columnDefs=cols, rowData=rows, getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True, "suppressHeaderMenuButton": True, **WRAP_HEADERS},
        rowClassRules=row_class_rules(),
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "quickFilterText": "",
                         "suppressRowVirtualisation": True, "suppressColumnVirtualisation": True,
                         "tooltipShowDelay": 300, "enableCellTextSelection": True,
                         "localeText": {"noRowsToShow": "没有符合条件的指标"}},
        csvExportParams=csv_params(),
        className="ind-grid",
        style={"height": "100%", "width": "100%"},
    )
