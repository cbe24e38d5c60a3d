"""dash-ag-grid tables."""
from __future__ import annotations

import dash_ag_grid as dag

_NUM = {"type": "numericColumn", "filter": "agNumberColumnFilter",
        "valueFormatter": {"function": "d3.format(',')(params.value)"}}


def create_region_table(table_id: str, value_columns: dict[str, str]) -> dag.AgGrid:
    """A sortable, filterable table of child regions with CSV export.

    ``value_columns`` maps field → Chinese header.
    """
    cols = [{"field": "child_code", "headerName": "区划代码", "width": 150},
            {"field": "child_name", "headerName": "区域", "filter": "agTextColumnFilter", "flex": 1}]
    cols += [{"field": f, "headerName": h, **_NUM} for f, h in value_columns.items()]
    return dag.AgGrid(
        id=table_id, columnDefs=cols, rowData=[],
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={"animateRows": False, "localeText": {"noRowsToShow": "暂无数据"}},
        csvExportParams={"fileName": "regions.csv"},
        className="ag-theme-alpine-dark", style={"height": "100%", "width": "100%"},
    )
