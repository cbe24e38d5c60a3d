"""The drill-down table of child regions (区域下钻): pure helpers.

No database and no server: :func:`region_href` builds the shareable link of a
region page, :func:`build_rows` turns the DataFrame of
``queries.indicator_values.compute(..., by_child=True)`` into row dicts for
dash-ag-grid (the name cell is a markdown link to the child's page),
:func:`column_defs` describes the columns and :func:`create_region_grid` builds
the grid.

Region page URLs: ``/region/<code>`` with ``code`` = 2/4/6/9/12/15 digits,
``all`` for the national root ('') and ``root`` for the deployment's
jurisdiction (``JINJIAN_ROOT_REGION``).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlencode

import dash_ag_grid as dag
import pandas as pd

from components.tables import CSV_SAFE, DARK_THEME, WRAP_HEADERS
from indicators.catalogue import CATALOGUE
from indicators.model import CATEGORIES, Indicator
from components.format import finite_or_none

BASE = "/region/"
NATIONAL_SLUG = "all"
ROOT_SLUG = "root"
#: Default table columns.
DEFAULT_INDICATORS: tuple[str, ...] = ("entity_stock", "enterprise_stock", "individual_stock", "new_registrations",
                                       "cancellations", "tasks_overdue", "abnormal_rate")
#: Region level by code length (0 = the whole country).
LEVEL_BY_LENGTH: dict[int, int] = {0: 0, 2: 1, 4: 2, 6: 3, 9: 4, 12: 5, 15: 6}
#: Columns in the CSV export besides the indicators (the markdown link column is left out).
EXPORT_FIXED: tuple[str, ...] = ("code", "name")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~()])")


def slug(code: str) -> str:
    """The URL segment of a region: '' → 'all', otherwise the code."""
    return code or NATIONAL_SLUG


def code_from_slug(value: str | None, root: str) -> str:
    """The region code of a URL segment: None/''/'root' → ``root``, 'all' → '' (the
    whole country), anything else stripped (not validated here)."""
    value = (value or "").strip()
    if value in ("", ROOT_SLUG):
        return root
    if value.lower() == NATIONAL_SLUG:
        return ""
    return value


def page_query(indicators: Sequence[str] | None = None, date: str | None = None,
               grain: str | None = None) -> dict[str, str]:
    """The query parameters a region link keeps (only the ones given)."""
    q: dict[str, str] = {}
    if indicators:
        q["indicator"] = ",".join(indicators)
    if date:
        q["date"] = date
    if grain:
        q["grain"] = grain
    return q


def region_href(code: str, query: Mapping[str, str] | None = None, prefix: str = BASE) -> str:
    """'/region/441900003?indicator=entity_stock&date=2026-11-20&grain=month'."""
    href = prefix + slug(code)
    return href + "?" + urlencode(dict(query)) if query else href


def parse_indicators(value: str | Sequence[str] | None) -> list[str]:
    """Indicator ids from a URL parameter ('a,b') or a list: unknown ids and
    duplicates dropped, catalogue ids only; nothing valid → the defaults."""
    if isinstance(value, str):
        items: Iterable[str] = value.split(",")
    else:
        items = value or []
    out: list[str] = []
    for item in items:
        item = str(item).strip()
        if item in CATALOGUE and item not in out:
            out.append(item)
    return out or list(DEFAULT_INDICATORS)


def indicator_options() -> list[dict[str, str]]:
    """Every catalogue indicator for the column chooser: '市场主体总量（户）· 主体登记'."""
    return [{"label": f"{ind.name_zh}（{ind.unit}）· {CATEGORIES[ind.category][0]}", "value": ind.id}
            for ind in CATALOGUE.values()]


def level_of(code: str) -> int | None:
    """0 (全国) … 6 (网格) from the code length; None when the length is not a level's."""
    return LEVEL_BY_LENGTH.get(len(code))




def _value(ind: Indicator, x: Any) -> float | int | None:
    f = finite_or_none(x)
    if f is None:
        return None
    if not ind.is_ratio and ind.decimals == 0 and f.is_integer():
        return int(f)
    return round(f, max(ind.decimals, 0) + 4)


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def name_markdown(name: str, href: str) -> str:
    """The name cell: a markdown link to the child's page."""
    return f"[{_md(name)}]({href})"


def build_rows(values: pd.DataFrame, indicator_ids: Sequence[str],
               href: Callable[[str], str] = region_href) -> list[dict[str, Any]]:
    """One row per child region, in the order of ``values`` (children by code).

    ``values`` is the long DataFrame of ``compute(..., by_child=True)``
    (indicator_id, region_code, region_name, value, …); ``href(code)`` gives the
    link of a child. Row keys: code, name, name_md, level, and one key per
    indicator id with its value (None when not computable).
    """
    rows: dict[str, dict[str, Any]] = {}
    for rec in values.to_dict("records"):
        code = str(rec["region_code"])
        row = rows.get(code)
        if row is None:
            name = str(rec["region_name"]) if isinstance(rec.get("region_name"), str) else code
            row = rows[code] = {"code": code, "name": name, "name_md": name_markdown(name, href(code)),
                                "level": level_of(code)}
            for ind_id in indicator_ids:
                row[ind_id] = None
        ind_id = str(rec["indicator_id"])
        if ind_id in indicator_ids:
            row[ind_id] = _value(CATALOGUE[ind_id], rec["value"])
    return list(rows.values())


def value_formatter(ind: Indicator) -> dict[str, str]:
    """Thousands separators and the indicator's decimals; missing → '—'."""
    return {"function": f"params.value == null ? '—' : d3.format(',.{max(ind.decimals, 0)}f')(params.value)"}


def column_defs(indicator_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Columns: code, name (link), then one numeric column per indicator."""
    cols: list[dict[str, Any]] = [
        {"field": "code", "headerName": "区划代码", "width": 150, "pinned": "left", "filter": "agTextColumnFilter",
         "cellClass": "region-code-cell"},
        {"field": "name_md", "headerName": "区域", "minWidth": 170, "flex": 1, "pinned": "left", "wrapText": True,
         "autoHeight": True,  # a long village or grid name wraps rather than ending in "…"
         "cellRenderer": "markdown", "cellClass": "region-name-cell", "filter": "agTextColumnFilter",
         "filterValueGetter": {"function": "params.data.name"},
         "comparator": {"function": "(a, b, na, nb) => na.data.name.localeCompare(nb.data.name, 'zh-CN')"},
         "tooltipField": "name"},
        {"field": "name", "headerName": "区域名称", "hide": True},
    ]
    for ind_id in indicator_ids:
        ind = CATALOGUE[ind_id]
        cols.append({"field": ind_id, "headerName": ind.name_zh, "headerTooltip": f"{ind.definition_zh}（{ind.unit}）",
                     "type": "numericColumn", "filter": "agNumberColumnFilter", "minWidth": 116, "flex": 1,
                     "valueFormatter": value_formatter(ind), "cellClass": "region-value-cell"})
    return cols


def csv_params(file_name: str, indicator_ids: Sequence[str]) -> dict[str, Any]:
    return {"fileName": file_name, "columnKeys": [*EXPORT_FIXED, *indicator_ids], **CSV_SAFE}


def create_region_grid(grid_id: str, indicator_ids: Sequence[str]) -> dag.AgGrid:
    """A sortable, filterable dark grid of child regions with CSV export (rows come from a callback)."""
    return dag.AgGrid(
        id=grid_id, columnDefs=column_defs(indicator_ids), rowData=[], getRowId="params.data.code",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, "floatingFilter": False, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "tooltipShowDelay": 300,
                         "enableCellTextSelection": True,
                         "localeText": {"noRowsToShow": "没有下级区域", "loadingOoo": "加载中…"}},
        csvExportParams=csv_params("regions.csv", indicator_ids),
        className="region-grid",
        style={"height": "100%", "width": "100%"},
    )


__all__ = ["DEFAULT_INDICATORS", "build_rows", "column_defs", "create_region_grid", "csv_params", "code_from_slug",
           "indicator_options", "level_of", "name_markdown", "page_query", "parse_indicators", "region_href", "slug"]
