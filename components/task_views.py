"""任务督办 page: pure component factories (no database, no server).

:func:`ageing_summary` turns the ``queries.tasks.ageing`` frame into card numbers (the
chart is components/ageing_chart.py), :func:`build_task_rows` / :func:`create_task_grid`
make the task table, :func:`create_timeline` a task's history and
:func:`build_efficiency_rows` the ranked 效能监察 tables.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import dash_ag_grid as dag
import pandas as pd
from dash import html

from components.cards import create_stat_card
from components.format import finite_or_none
from components.tables import CSV_SAFE, DARK_THEME, WRAP_HEADERS
from indicators.model import GRADES
from supervision.rules import BUCKET_GRADE, BUCKETS, STATUS_ZH, TASK_TYPE_ZH

PATH = "/tasks"
NONE = "—"
#: Colour of each warning bucket (the four-colour grades; on track = the normal green).
BUCKET_COLOURS: dict[str, str] = {b: GRADES[BUCKET_GRADE[b] or "normal"][1] for b in BUCKETS}
BUCKET_RANK: dict[str, int] = {b: i for i, b in enumerate(BUCKETS)}
#: Task types are told apart by a fill pattern (the colour belongs to the bucket).
TYPE_PATTERNS: dict[str, str] = {"verify_registration": "", "verify_change": "/", "clue": "x", "disclosure": "."}
ACTOR_KIND_ZH: dict[str, str] = {"system": "系统", "grid_worker": "网格员", "village": "村居",
                                 "town_office": "镇街", "department": "部门"}
#: Change kinds (events.detail of a change) that verify_change tasks carry as their detail.
CHANGE_KIND_ZH: dict[str, str] = {"address": "住所变更", "scope": "经营范围变更", "legal_rep": "法定代表人变更",
                                  "name": "名称变更", "capital": "注册资本变更"}
STATUS_FILTER_ZH: dict[str, str] = {"open": "在办（未办结）", "closed": "办结",
                                    **{s: f"环节：{zh}" for s, zh in STATUS_ZH.items() if s != "closed"}}
#: (card id, summary key, label; None = the bucket's label).
SUMMARY_CARDS: tuple[tuple[str, str, str | None], ...] = (
    ("tasks-card-open", "open", "在办任务"), ("tasks-card-soon", "due_soon", "即将到期"),
    ("tasks-card-overdue", "overdue", "逾期任务"), ("tasks-card-mild", "overdue_mild", None),
    ("tasks-card-moderate", "overdue_moderate", None), ("tasks-card-severe", "overdue_severe", None),
)
#: Task table columns (field, header) in display and export order.
TASK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("task_id", "任务编号"), ("type_zh", "类型"), ("status_zh", "当前环节"), ("bucket_label", "预警"),
    ("due_date", "期限"), ("created_at", "推送时间"), ("grid", "网格"), ("dept", "责任部门"),
    ("credit_code", "统一社会信用代码"), ("detail", "事项"),
)
LOCALE = {"noRowsToShow": "暂无数据", "filterOoo": "筛选…", "contains": "包含", "notContains": "不包含",
          "equals": "等于", "notEqual": "不等于", "startsWith": "开头是", "endsWith": "结尾是",
          "blank": "为空", "notBlank": "不为空", "andCondition": "且", "orCondition": "或",
          "lessThan": "小于", "greaterThan": "大于", "inRange": "介于"}


# ----------------------------------------------------------------------------- controls and links
def _options(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"label": label, "value": value} for value, label in mapping.items()]


def type_options() -> list[dict[str, str]]:
    return _options(TASK_TYPE_ZH)


def status_options() -> list[dict[str, str]]:
    return _options(STATUS_FILTER_ZH)


def bucket_options(labels: Mapping[str, str]) -> list[dict[str, str]]:
    return _options({b: labels[b] for b in BUCKETS})


def dept_options(depts: pd.DataFrame, search: str | None = None, current: str | None = None,
                 limit: int = 50) -> list[dict[str, Any]]:
    """Departments (dept_id, name) as dropdown options, in the frame's order: those whose
    name or code contains ``search`` (all without it), at most ``limit`` of them, with the
    ``current`` choice always among them; a disabled last line says how many more match
    (a province has thousands: they are found by typing, not sent at once)."""
    hit = depts
    if search:
        hit = depts[depts["name"].astype(str).str.contains(search, regex=False)
                    | depts["dept_id"].astype(str).str.contains(search, regex=False)]
    shown = hit.head(limit)
    if current and current not in set(shown["dept_id"].astype(str)):
        shown = pd.concat([depts[depts["dept_id"].astype(str) == current], shown])
    out: list[dict[str, Any]] = [{"label": f"{r.name}（{r.dept_id}）", "value": str(r.dept_id)}
                                 for r in shown.itertuples()]
    if len(hit) > limit:
        out.append({"label": f"另有 {len(hit) - limit:,} 个部门，请输入名称搜索", "value": "__more__", "disabled": True})
    return out


def page_query(region: str, date: str | None, **filters: str | None) -> dict[str, str]:
    """The URL query of the page (empty filters left out)."""
    q = {"region": region}
    if date:
        q["date"] = date
    q.update({k: v for k, v in filters.items() if v})
    return q


def page_href(query: Mapping[str, str], prefix: str = PATH) -> str:
    return prefix + "?" + urlencode(dict(query))


def export_name(region: str, day: str, ext: str) -> str:
    return f"任务督办_{region or '全国'}_{day}.{ext}"


def workday_notice(years: Sequence[int]) -> str:
    """The notice shown when working days fall back to Monday–Friday ('' when none does)."""
    if not years:
        return ""
    return (f"注意：{'、'.join(str(y) for y in years)}年法定节假日安排未配置，工作日按周一至周五计算"
            "（请系统管理员补充节假日安排）")


# ----------------------------------------------------------------------------- ageing chart and cards
def short_label(bucket: str, label: str) -> str:
    """An axis label: '即将到期', '逾期1–5', '逾期超过10' (the full label is in the hover)."""
    if bucket == "due_soon":
        return "即将到期"
    return label.split("（")[0].replace("个工作日", "")


def ageing_summary(df: pd.DataFrame) -> dict[str, int]:
    """Open tasks in total, per bucket and overdue in total, from the ageing frame."""
    per = df.groupby("bucket")["tasks"].sum()
    out = {b: int(per.get(b, 0)) for b in BUCKETS}
    out["overdue"] = sum(out[b] for b in BUCKETS if b.startswith("overdue"))
    out["open"] = int(df["tasks"].sum())
    return out


def card_label(key: str, label: str | None, labels: Mapping[str, str]) -> str:
    return label if label is not None else labels[key].split("（")[0]


def create_summary_cards(summary: Mapping[str, int] | None, labels: Mapping[str, str]) -> list[html.Div]:
    """The six headline cards (no values until ``summary`` is known)."""
    out = []
    for cid, key, label in SUMMARY_CARDS:
        value = None if summary is None else int(summary[key])
        out.append(create_stat_card(cid, card_label(key, label, labels), value, "件",
                                    card_note(key, summary, labels)))
    return out


def card_note(key: str, summary: Mapping[str, int] | None, labels: Mapping[str, str]) -> str:
    grade = BUCKET_GRADE.get(key)
    prefix = f"{GRADES[grade][0]}预警" if grade else ""
    if key == "due_soon":
        prefix = labels["due_soon"].split("（")[0]
    if summary is None:
        return prefix
    if key == "open":
        return f"其中正常 {summary['normal']:,} 件"
    share = f"占在办 {summary[key] / summary['open'] * 100:.1f}%" if summary["open"] else "占在办 —"
    return f"{prefix} · {share}" if prefix else share


# ----------------------------------------------------------------------------- task table
def _day(x: Any) -> str:
    return NONE if x is None or pd.isna(x) else pd.Timestamp(x).strftime("%Y-%m-%d")


def _minute(x: Any) -> str:
    return NONE if x is None or pd.isna(x) else pd.Timestamp(x).strftime("%Y-%m-%d %H:%M")


def _detail(task_type: str, detail: Any) -> str:
    if detail is None or pd.isna(detail):
        return ""
    text = str(detail)
    return CHANGE_KIND_ZH.get(text, text) if task_type == "verify_change" else text


def build_task_rows(df: pd.DataFrame, labels: Mapping[str, str], dept_names: Mapping[str, str],
                    grid_names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Row dicts of ``queries.tasks.task_list`` for the grid (closed tasks have no bucket)."""
    rows = []
    for r in df.itertuples(index=False):
        bucket = str(r.bucket or "")
        grid = str(r.grid_code)
        rows.append({
            "task_id": str(r.task_id), "task_type": str(r.task_type),
            "type_zh": TASK_TYPE_ZH.get(r.task_type, r.task_type),
            "status": str(r.status), "status_zh": STATUS_ZH.get(r.status, r.status), "bucket": bucket,
            "bucket_rank": BUCKET_RANK.get(bucket, -1), "bucket_label": labels.get(bucket, "已办结"),
            "due_date": _day(r.due_date), "created_at": _minute(r.created_at), "grid_code": grid,
            "grid": f"{grid_names[grid]}（{grid}）" if grid in grid_names else grid,
            "dept_id": str(r.dept_id), "dept": dept_names.get(str(r.dept_id), str(r.dept_id)),
            "credit_code": "" if pd.isna(r.credit_code) else str(r.credit_code),
            "detail": _detail(str(r.task_type), r.detail),
        })
    return rows


def task_column_defs() -> list[dict[str, Any]]:
    widths = {"task_id": 130, "type_zh": 130, "status_zh": 120, "bucket_label": 300, "due_date": 115,
              "created_at": 150, "grid": 300, "dept": 280, "credit_code": 240, "detail": 220}
    cols: list[dict[str, Any]] = []
    for field, header in TASK_COLUMNS:
        col: dict[str, Any] = {"field": field, "headerName": header, "minWidth": widths[field],
                               "filter": "agTextColumnFilter", "tooltipField": field}
        if field == "bucket_label":  # sorted by severity, shown and filtered as text, coloured
            col.update(field="bucket_rank", valueFormatter={"function": "params.data.bucket_label"},
                       filterValueGetter={"function": "params.data.bucket_label"}, tooltipField="bucket_label",
                       cellClassRules={f"tasks-bucket-{b}": f"params.data.bucket == '{b}'" for b in BUCKETS})
        if field == "task_id":
            col["pinned"] = "left"
        if field in ("detail", "grid"):
            col["flex"] = 1
        if field in ("grid", "detail"):  # a grid's name and code, free text: a long one wraps, never "…"
            col.update(wrapText=True, autoHeight=True)
        cols.append(col)
    return cols


def csv_params(file_name: str) -> dict[str, Any]:
    return {"fileName": file_name, "columnKeys": [("bucket_rank" if f == "bucket_label" else f)
                                                  for f, _ in TASK_COLUMNS], **CSV_SAFE}


def create_task_grid(grid_id: str) -> dag.AgGrid:
    """The sortable, filterable task table; a click on a row selects it (its timeline)."""
    return dag.AgGrid(
        id=grid_id, columnDefs=task_column_defs(), rowData=[], getRowId="params.data.task_id",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "localeText": LOCALE, "tooltipShowDelay": 400,
                         "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}},
        csvExportParams=csv_params("任务督办.csv"), className="tasks-grid",
        style={"height": "100%", "width": "100%"},
    )


def excel_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The task rows with the table's Chinese headers (for the .xlsx export)."""
    return pd.DataFrame([[r.get(f, "") for f, _ in TASK_COLUMNS] for r in rows], columns=[h for _, h in TASK_COLUMNS])


def list_note(shown: int, total: int) -> str:
    if total > shown:
        return f"共 {total:,} 件，显示前 {shown:,} 件（全部请导出 Excel）"
    return f"共 {total:,} 件"


# ----------------------------------------------------------------------------- timeline
def _late(event_date: Any, stage_due: Any) -> bool:
    if stage_due is None or pd.isna(stage_due) or pd.Timestamp(stage_due).year <= 1970:
        return False
    return pd.Timestamp(event_date).normalize() > pd.Timestamp(stage_due)


def create_timeline(task: Mapping[str, Any] | None, events: pd.DataFrame | None,
                    dept_names: Mapping[str, str] | None = None) -> list[Any]:
    """The history of one task: every transition with time, stages, actor, note
    and deadline; a stage ended after its deadline is marked 超期."""
    if task is None:
        return [html.P("点击任务清单中的一行，查看该任务的办理过程。", className="tasks-timeline-hint")]
    names = dept_names or {}
    head = html.Div(className="tasks-timeline-head", children=[
        html.Span(task.get("task_id", ""), className="tasks-timeline-id"),
        html.Span(task.get("type_zh", ""), className="tasks-timeline-type"),
        html.Span(task.get("bucket_label", ""), className=f"tasks-chip tasks-bucket-{task.get('bucket') or 'closed'}"),
        html.Div(task.get("detail", ""), className="tasks-timeline-detail"),
    ])
    if events is None or events.empty:
        return [head, html.P("该任务不在所选区域内，或暂无办理记录。", className="tasks-timeline-hint")]
    items = []
    for e in events.itertuples(index=False):
        late = _late(e.event_time, e.stage_due)
        start = e.from_status == "none"
        stages = (f"推送 → {STATUS_ZH.get(e.status, e.status)}" if start
                  else f"{STATUS_ZH.get(e.from_status, e.from_status)} → {STATUS_ZH.get(e.status, e.status)}")
        kind = ACTOR_KIND_ZH.get(e.actor_kind, e.actor_kind)
        actor = kind if str(e.actor) in ("", e.actor_kind) else f"{kind} · {names.get(str(e.actor), str(e.actor))}"
        deadline = (f"本环节期限 {_day(e.due_date)}" if e.status != "closed"
                    else f"办结（环节期限 {_day(e.stage_due)}）")
        detail = [html.Span(_minute(e.event_time), className="tasks-ev-time"),
                  html.Span(stages, className="tasks-ev-stage")]
        if late:
            detail.append(html.Span(f"超期（上一环节期限 {_day(e.stage_due)}）", className="tasks-ev-late"))
        items.append(html.Li(className="tasks-ev tasks-ev-late-item" if late else "tasks-ev", children=[
            html.Div(detail, className="tasks-ev-line"),
            html.Div(actor + (f" · 用时 {int(e.stage_wd)} 个工作日" if not start else ""),
                     className="tasks-ev-actor"),
            html.Div(str(e.note or ""), className="tasks-ev-note"),
            html.Div(deadline, className="tasks-ev-due"),
        ]))
    return [head, html.Ol(items, className="tasks-timeline-list")]


# ----------------------------------------------------------------------------- efficiency (效能监察)
def _num(x: Any, digits: int = 1) -> float | None:
    f = finite_or_none(x)
    return None if f is None else round(f, digits)


def build_efficiency_rows(cur: pd.DataFrame, prev: pd.DataFrame, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Ranked rows (best on-time rate first; units without closed tasks last) with
    the on-time rate's 环比 change in percentage points."""
    before = dict(zip(prev["unit"].astype(str), prev["ontime_rate"])) if len(prev) else {}
    rows = []
    for r in cur.itertuples(index=False):
        unit = str(r.unit)
        rate, old = _num(r.ontime_rate), finite_or_none(before.get(unit))
        rows.append({"unit": unit, "name": names.get(unit, unit), "closed": int(r.closed), "ontime": int(r.ontime),
                     "ontime_rate": rate, "avg_workdays": _num(r.avg_workdays),
                     "overdue": int(r.overdue), "open": int(r.open),
                     "mom_pp": None if rate is None or old is None else round(float(r.ontime_rate) - old, 1)})
    rows.sort(key=lambda d: (d["ontime_rate"] is None, -(d["ontime_rate"] or 0), -d["closed"], d["unit"]))
    for i, d in enumerate(rows, start=1):
        d["rank"] = i if d["ontime_rate"] is not None else None
    return rows


_FMT_PP = "params.value == null ? '—' : (params.value > 0 ? '+' : '') + params.value.toFixed(1)"


def efficiency_column_defs(unit_header: str) -> list[dict[str, Any]]:
    num = {"type": "numericColumn", "filter": "agNumberColumnFilter", "minWidth": 96, "flex": 1}
    dec = {"valueFormatter": {"function": "params.value == null ? '—' : params.value.toFixed(1)"}}
    return [
        {"field": "rank", "headerName": "排名", "width": 80, "type": "numericColumn", "filter": False,
         "valueFormatter": {"function": "params.value == null ? '—' : params.value"}},
        {"field": "name", "headerName": unit_header, "minWidth": 170, "flex": 2, "filter": "agTextColumnFilter",
         "tooltipField": "unit"},
        {"field": "closed", "headerName": "办结件数", **num},
        {"field": "ontime_rate", "headerName": "按期办结率(%)", **num, **dec},
        {"field": "avg_workdays", "headerName": "平均办理工作日", **num, **dec},
        {"field": "overdue", "headerName": "逾期件数", **num},
        {"field": "mom_pp", "headerName": "按期率环比(百分点)", **{**num, "minWidth": 130},
         "valueFormatter": {"function": _FMT_PP},
         "cellClassRules": {"tasks-up": "params.value > 0", "tasks-down": "params.value < 0"}},
    ]


def create_efficiency_grid(grid_id: str, unit_header: str, rows: list[dict[str, Any]] | None = None) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=efficiency_column_defs(unit_header), rowData=rows or [], getRowId="params.data.unit",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, "wrapHeaderText": True,
                       "autoHeaderHeight": True},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "localeText": LOCALE, "tooltipShowDelay": 400},
        className="tasks-eff-grid", style={"height": "100%", "width": "100%"},
    )


def period_text(cur: tuple[dt.date, dt.date], prev: tuple[dt.date, dt.date]) -> str:
    return f"统计期间 {cur[0]} 至 {cur[1]}（月初至今），环比 {prev[0]} 至 {prev[1]}"
