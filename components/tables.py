"""dash-ag-grid tables."""
from __future__ import annotations

import dash_ag_grid as dag

#: AG Grid's Theming API (v33+), dark command-centre colours, local fonts only.
DARK_THEME = {"function": (
    "themeQuartz.withParams({backgroundColor: '#0b1f45', foregroundColor: '#cfe8ff', "
    "headerBackgroundColor: '#0f2a5c', headerTextColor: '#ffffff', accentColor: '#2ec7ff', "
    "borderColor: 'rgba(46,199,255,0.25)', oddRowBackgroundColor: '#0d244f', "
    "fontFamily: ['Noto Sans CJK SC', 'WenQuanYi Zen Hei', 'sans-serif'], fontSize: 15})")}

#: Every grid's headers wrap onto more lines instead of ending in "…" (AG Grid sizes the header row).
WRAP_HEADERS = {"wrapHeaderText": True, "autoHeaderHeight": True}

#: A browser CSV export passes every cell through ``csvSafeCell`` (assets/dashAgGridFunctions.js):
#: the shown text (value formatters applied), with a leading ' when a spreadsheet would run it
#: as a formula — the same rule as the server's exports (domain/cells.py).
CSV_SAFE = {"processCellCallback": {"function": "csvSafeCell(params)"}}

_NUM = {"type": "numericColumn", "filter": "agNumberColumnFilter",
        "valueFormatter": {"function": "d3.format(',')(params.value)"}}


def create_region_table(table_id: str, value_columns: dict[str, str]) -> dag.AgGrid:
    """A sortable, filterable table of child regions with CSV export.

    ``value_columns`` maps field → Chinese header.
    """
    cols = [{"field": "child_code", "headerName": "区划代码", "width": 130, "pinned": "left"},
            {"field": "child_name", "headerName": "区域", "filter": "agTextColumnFilter", "minWidth": 150,
             "flex": 2, "pinned": "left"}]
    cols += [{"field": f, "headerName": h, "minWidth": 110, "flex": 1, **_NUM} for f, h in value_columns.items()]
    return dag.AgGrid(
        id=table_id, columnDefs=cols, rowData=[],
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME,
                         "localeText": {"noRowsToShow": "暂无数据"}},
        csvExportParams={"fileName": "regions.csv", **CSV_SAFE},
        style={"height": "100%", "width": "100%"},
    )
