"""推送时效 views: the push-timeliness table (per town or per data source) and its
section, shared by /tasks (per town) and /quality (per source, lateness attributed to
the source that delivered late). Rows come from ``queries.push.push_timeliness``."""
from __future__ import annotations

from typing import Any, Mapping

import dash_ag_grid as dag
import pandas as pd
from dash import html

from components.format import finite_or_none
from components.tables import DARK_THEME
from components.task_views import LOCALE

_DEC = {"valueFormatter": {"function": "params.value == null ? '—' : params.value.toFixed(1)"}}
_NUM = {"type": "numericColumn", "filter": "agNumberColumnFilter", "minWidth": 90, "flex": 1}


def push_column_defs(unit_header: str) -> list[dict[str, Any]]:
    return [
        {"field": "name", "headerName": unit_header, "minWidth": 150, "flex": 2, "filter": "agTextColumnFilter",
         "tooltipField": "unit"},
        {"field": "pushed", "headerName": "推送件数", **_NUM},
        {"field": "ontime_rate", "headerName": "推送及时率(%)", **_NUM, **_DEC,
         "cellClassRules": {"tasks-down": "params.value != null && params.value < 95"}},
        {"field": "late", "headerName": "推送超时(件)", **_NUM,
         "cellClassRules": {"tasks-down": "params.value > 0"}},
        {"field": "late_median_hours", "headerName": "超时中位时长(小时)", **_NUM, **_DEC},
        {"field": "late_max_hours", "headerName": "最长超时(小时)", **_NUM, **_DEC},
    ]


def create_push_grid(grid_id: str, unit_header: str, rows: list[dict[str, Any]] | None = None) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=push_column_defs(unit_header), rowData=rows or [], getRowId="params.data.unit",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, "wrapHeaderText": True,
                       "autoHeaderHeight": True},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "localeText": LOCALE},
        className="tasks-eff-grid", style={"height": "100%", "width": "100%"},
    )


def create_push_section(prefix: str, unit_header: str, title: str = "推送时效",
                        rows: list[dict[str, Any]] | None = None, note: str = "") -> html.Section:
    """A panel: title, period and limit note (``{prefix}-push-note``), the table
    (``{prefix}-push-grid``), empty or filled with ``rows`` and ``note``."""
    return html.Section(className="panel tasks-eff-panel push-panel", children=[
        html.Div(className="tasks-panel-head", children=[
            html.H2(title), html.Span(note, id=f"{prefix}-push-note", className="tasks-table-note")]),
        html.Div(create_push_grid(f"{prefix}-push-grid", unit_header, rows), className="tasks-eff-box push-box"),
    ])


def build_push_rows(df: pd.DataFrame, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows, latest first: most late pushes first, then the lowest on-time rate."""
    rows = [{"unit": str(r.unit), "name": names.get(str(r.unit), str(r.unit)), "pushed": int(r.pushed),
             "timely": int(r.timely), "late": int(r.late), "ontime_rate": _round(r.ontime_rate),
             "late_median_hours": _round(r.late_median_hours), "late_max_hours": _round(r.late_max_hours)}
            for r in df.itertuples(index=False)]
    rows.sort(key=lambda d: (-d["late"], d["ontime_rate"] if d["ontime_rate"] is not None else 101, d["unit"]))
    return rows


def push_note(total: pd.DataFrame, start: Any, end: Any, limit_minutes: int) -> str:
    """统计期间、推送时限 and the region's own rate and late count."""
    limit = f"{limit_minutes // 60}小时" if limit_minutes % 60 == 0 else f"{limit_minutes}分钟"
    head = f"统计期间 {start} 至 {end}，推送时限 {limit}"
    if total.empty or int(total["pushed"].iloc[0]) == 0:
        return f"{head}；期内无推送任务"
    r = total.iloc[0]
    return f"{head}；推送 {int(r['pushed']):,} 件，及时率 {float(r['ontime_rate']):.1f}%，超时 {int(r['late']):,} 件"


def _round(x: Any) -> float | None:
    v = finite_or_none(x)
    return None if v is None else round(v, 1)
