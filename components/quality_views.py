"""数据质量 page: pure component factories (no database, no server).

:func:`create_quality_cards` makes the headline tiles from
``queries.quality.quality_totals``; :func:`build_freshness_rows` /
:func:`create_freshness_table` the per-source freshness table (late sources in
red, “逾期未报送”); :func:`build_batch_rows` / :func:`create_batch_grid` the batch
table with a download link for each batch that has a rejection report; and
:func:`create_reasons_figure` the top rejection reasons.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, Mapping, Sequence

import dash_ag_grid as dag
import pandas as pd
import plotly.graph_objects as go
from dash import html

from components.cards import create_stat_card
from components.figures import FONT, create_figure
from components.format import finite_or_none
from components.tables import DARK_THEME, WRAP_HEADERS
from domain.sources import SOURCES
from indicators.catalogue import CATALOGUE
from indicators.model import GRADES

PATH = "/quality"
NONE = "—"
LATE_TEXT = "逾期未报送"
ON_TIME_TEXT = "正常"
DEFAULT_DAYS = 30
MIN_SLOTS = 6  # bar slots of the reasons chart
#: Batch states (``ingest_batches.state``) as shown.
STATE_ZH: dict[str, str] = {"received": "接收中", "staged": "校验完成、待导入", "loaded": "已导入",
                            "failed": "未导入"}
#: Short labels of the rejection reason codes (``quarantine.reason_code``; the long
#: descriptions are in docs/ingest.md).
REASON_ZH: dict[str, str] = {
    "unparsable": "整行无法解析", "missing_column": "缺少必填列", "required": "必填字段为空",
    "too_long": "字段超长", "credit_code": "信用代码不合规", "bad_grid": "网格编码格式错误",
    "unknown_grid": "网格编码不存在", "out_of_scope": "超出报送辖区", "bad_date": "日期错误",
    "future_date": "日期晚于当前", "bad_enum": "取值不在范围内", "bad_number": "数值错误",
    "bad_id": "编号含非法字符", "duplicate_in_batch": "批内重复", "duplicate": "重复报送",
    "unknown_entity": "主体未登记", "bad_state": "主体已注销吊销", "unknown_task": "任务不存在",
    "bad_transition": "环节流转错误",
}
#: Headline tiles: (card id, key of the totals, label, unit).
CARDS: tuple[tuple[str, str, str, str], ...] = (
    ("dq-card-batches", "batches", "报送批次", "批"),
    ("dq-card-in", "rows_in", "接收条数", "条"),
    ("dq-card-loaded", "rows_loaded", "导入条数", "条"),
    ("dq-card-rejected", "rows_rejected", "退回条数", "条"),
    ("dq-card-accuracy", "accept_rate", "数据准确率", "%"),
    ("dq-card-completeness", "completeness_rate", "数据完整率", "%"),
    ("dq-card-timeliness", "timeliness_rate", "报送及时率", "%"),
    ("dq-card-late", "late_sources", "逾期未报送来源", "个"),
)
#: The catalogue indicator behind each rate tile (its thresholds colour the tile).
RATE_INDICATORS: dict[str, str] = {"accept_rate": "data_accuracy_rate", "completeness_rate": "data_completeness_rate",
                                   "timeliness_rate": "data_timeliness_rate"}
#: Batch table columns (field, header) in display order.
BATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("received_at", "接收时间"), ("batch_name", "批次"), ("source_zh", "数据来源"), ("unit", "报送单位"),
    ("region", "报送辖区"), ("state_zh", "状态"), ("rows_in", "接收条数"), ("rows_loaded", "导入条数"),
    ("rows_rejected", "退回条数"), ("message", "说明"), ("rejects_md", "退回记录"),
)
#: Freshness table headers, in order.
FRESH_HEADERS: tuple[str, ...] = ("数据来源", "最近报送", "最新数据时间", "距今", "报送时限", "状态", "本期批次",
                                  "接收", "导入", "退回", "准确率")
LOCALE = {"noRowsToShow": "暂无批次", "filterOoo": "筛选…", "contains": "包含", "notContains": "不包含",
          "equals": "等于", "notEqual": "不等于", "startsWith": "开头是", "endsWith": "结尾是",
          "blank": "为空", "notBlank": "不为空", "andCondition": "且", "orCondition": "或",
          "lessThan": "小于", "greaterThan": "大于", "inRange": "介于"}


# ----------------------------------------------------------------------------- controls
def source_options() -> list[dict[str, str]]:
    return [{"label": s.zh, "value": s.id} for s in SOURCES.values()]


def default_dates(today: dt.date) -> tuple[str, str]:
    """The default period: the last DEFAULT_DAYS days up to ``today``."""
    return (today - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(), today.isoformat()


def _minute(x: Any) -> str:
    if x is None or pd.isna(x) or pd.Timestamp(x).year <= 1970:
        return NONE
    return pd.Timestamp(x).strftime("%Y-%m-%d %H:%M")


def _pct(x: Any, digits: int = 1) -> str:
    f = finite_or_none(x)
    return NONE if f is None else f"{f:.{digits}f}%"


# ----------------------------------------------------------------------------- cards
def rate_grade(key: str, value: Any) -> str | None:
    """The warning grade of a rate tile by its catalogue indicator's thresholds."""
    ind = CATALOGUE.get(RATE_INDICATORS.get(key, ""))
    f = finite_or_none(value)
    return None if ind is None or ind.thresholds is None or f is None else ind.thresholds.grade(f)


def card_note(key: str, totals: Mapping[str, float], late_sources: int) -> str:
    if key == "batches":
        # the three add up to the card's figure: batches = loaded + not loaded + in progress
        return (f"导入 {int(totals['loaded']):,} 批 · 未导入 {int(totals['failed']):,} 批 · "
                f"处理中 {int(totals.get('in_progress', 0)):,} 批")
    if key == "rows_in":
        return "已导入批次所含记录"
    if key == "rows_loaded":
        return f"占接收 {_pct(_share(totals['rows_loaded'], totals['rows_in']))}"
    if key == "rows_rejected":
        return "退回记录已返回报送单位"
    if key == "accept_rate":
        return "导入条数 ÷ 接收条数"
    if key == "completeness_rate":
        return "必填项齐全的记录占比"
    if key == "timeliness_rate":
        return f"{int(totals['timely']):,} / {int(totals['data_batches']):,} 批在24小时内报送"
    return f"共 {len(SOURCES)} 个来源" if late_sources else "各来源均按时报送"


def _share(num: float, den: float) -> float:
    return num / den * 100.0 if den else math.nan


def create_quality_cards(totals: Mapping[str, float] | None, late_sources: int | None = None) -> list[html.Div]:
    """The eight headline tiles (no values until ``totals`` is known). Rate tiles
    carry the class ``dq-grade-<grade>`` of their indicator's warning grade."""
    out = []
    for cid, key, label, unit in CARDS:
        if totals is None:
            out.append(create_stat_card(cid, label, None, unit, ""))
            continue
        late = int(late_sources or 0)
        raw = late if key == "late_sources" else totals[key]
        if key in RATE_INDICATORS:
            f = finite_or_none(raw)
            value: float | int | None = None if f is None else round(f, 1)
        else:
            value = int(raw)
        card = create_stat_card(cid, label, value, unit, card_note(key, totals, late))
        grade = rate_grade(key, raw) if key in RATE_INDICATORS else ("red" if key == "late_sources" and late
                                                                     else None)
        if grade:
            card.className = f"stat-card dq-grade-{grade}"
            card.title = GRADES[grade][0] + ("预警" if grade != "normal" else "")
        out.append(card)
    return out


# ----------------------------------------------------------------------------- freshness
def since_text(hours: Any) -> str:
    """Hours since the newest batch: '25 分钟', '3.5 小时', '2 天 4 小时'; none: '从未报送'."""
    h = finite_or_none(hours)
    if h is None:
        return "从未报送"
    h = max(h, 0.0)
    if h < 1:
        return f"{int(h * 60)} 分钟"
    if h < 48:
        return f"{h:.1f} 小时"
    days = int(h // 24)
    return f"{days} 天 {int(h - days * 24)} 小时"


def build_freshness_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``queries.quality.source_summary`` for the freshness table."""
    rows = []
    for r in summary.itertuples(index=False):
        rows.append({
            "source": str(r.source), "source_zh": str(r.source_zh), "last_received": _minute(r.last_received),
            "last_data_time": _minute(r.last_data_time), "since": since_text(r.hours_since),
            "limit": "按发现报送" if pd.isna(r.late_hours) else f"{float(r.late_hours):g} 小时", "late": bool(r.late), "batches": int(r.batches),
            "failed": int(r.failed), "rows_in": int(r.rows_in), "rows_loaded": int(r.rows_loaded),
            "rows_rejected": int(r.rows_rejected), "accept_rate": _pct(r.accept_rate),
        })
    return rows


def create_freshness_table(rows: Sequence[Mapping[str, Any]] | None, selected: str | None = None) -> html.Table:
    """One row per source; a late source's row has the class ``dq-late`` and the status
    “逾期未报送” in red; ``selected`` (a source) is highlighted."""
    head = html.Thead(html.Tr([html.Th(h) for h in FRESH_HEADERS]))
    body = []
    for r in rows or []:
        status = (html.Span(LATE_TEXT, className="dq-flag dq-flag-late") if r["late"]
                  else html.Span(ON_TIME_TEXT, className="dq-flag dq-flag-ok"))
        cls = "dq-fresh-row" + (" dq-late" if r["late"] else "") + (" dq-selected" if r["source"] == selected else "")
        batches = f"{r['batches']:,}" + (f"（未导入 {r['failed']}）" if r["failed"] else "")
        body.append(html.Tr(className=cls, **{"data-source": r["source"]}, children=[
            html.Td(r["source_zh"], className="dq-fresh-name"), html.Td(r["last_received"]),
            html.Td(r["last_data_time"]), html.Td(r["since"], className="dq-fresh-since"), html.Td(r["limit"]),
            html.Td(status), html.Td(batches, className="dq-num"), html.Td(f"{r['rows_in']:,}", className="dq-num"),
            html.Td(f"{r['rows_loaded']:,}", className="dq-num"),
            html.Td(f"{r['rows_rejected']:,}", className="dq-num"), html.Td(r["accept_rate"], className="dq-num"),
        ]))
    if not body:
        body = [html.Tr(html.Td("加载中…", colSpan=len(FRESH_HEADERS), className="dq-fresh-empty"))]
    return html.Table([head, html.Tbody(body)], className="dq-fresh-table")


def late_note(rows: Sequence[Mapping[str, Any]]) -> str:
    late = [r["source_zh"] for r in rows if r["late"]]
    return f"{LATE_TEXT}：{'、'.join(late)}" if late else "各数据来源均在报送时限内"


# ----------------------------------------------------------------------------- batch table
def unit_text(unit: Any) -> str:
    return str(unit) if unit is not None and str(unit) != "" else NONE


def region_text(code: Any, names: Mapping[str, str]) -> str:
    code = "" if code is None else str(code)
    if code == "":
        return "全辖（未限定）"
    return f"{names[code]}（{code}）" if code in names else code


def batch_name(source_zh: str, unit: Any, received_at: Any) -> str:
    """A batch's display name, what a person calls it: '东莞12315 12月6日 投诉举报数据'. The
    file's own name is the sender's technical detail (``python -m etl batches``, the log)."""
    when = pd.Timestamp(received_at) if received_at is not None and not pd.isna(received_at) else None
    day = f"{when.month}月{when.day}日 " if when is not None and when.year > 1970 else ""
    who = f"{unit} " if unit is not None and str(unit) != "" else ""
    return f"{who}{day}{source_zh}数据"


def build_batch_rows(df: pd.DataFrame, href: Callable[[str], str],
                     region_names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Row dicts of ``queries.quality.batches``; a batch with rejected records gets a
    markdown link to its rejection report (``href(batch_id)``)."""
    names = region_names or {}
    rows = []
    for r in df.itertuples(index=False):
        bid, source, state = str(r.batch_id), str(r.source), str(r.state)
        rejected = int(r.rows_rejected)
        source_zh = SOURCES[source].zh if source in SOURCES else "其他来源"
        rows.append({
            "batch_id": bid, "source": source, "source_zh": source_zh,
            "batch_name": batch_name(source_zh, r.unit, r.received_at),
            "unit": unit_text(r.unit), "region_code": str(r.region_code), "region": region_text(r.region_code, names),
            "state": state, "state_zh": STATE_ZH.get(state, state),
            "received_at": _minute(r.received_at), "rows_in": int(r.rows_in), "rows_loaded": int(r.rows_loaded),
            "rows_rejected": rejected, "message": str(r.message or ""),
            "rejects_md": f"[下载退回记录]({href(bid)})" if rejected > 0 else "",
            "rejects_href": href(bid) if rejected > 0 else "",
        })
    return rows


def batch_column_defs() -> list[dict[str, Any]]:
    widths = {"received_at": 150, "batch_name": 200, "source_zh": 110, "unit": 140, "region": 160, "state_zh": 130,
              "rows_in": 100, "rows_loaded": 100, "rows_rejected": 100, "message": 220, "rejects_md": 140}
    num = {"type": "numericColumn", "filter": "agNumberColumnFilter",
           "valueFormatter": {"function": "d3.format(',')(params.value)"}}
    cols: list[dict[str, Any]] = []
    for field, header in BATCH_COLUMNS:
        col: dict[str, Any] = {"field": field, "headerName": header, "minWidth": widths[field], "tooltipField": field,
                               "filter": "agTextColumnFilter"}
        if field in ("rows_in", "rows_loaded", "rows_rejected"):
            col.update(num)
        if field == "rows_rejected":
            col["cellClassRules"] = {"dq-rejected-cell": "params.value > 0"}
        if field == "state_zh":
            col["cellClassRules"] = {f"dq-state-{s}": f"params.data.state == '{s}'" for s in STATE_ZH}
        if field == "rejects_md":
            col.update(cellRenderer="markdown", sortable=False, filter=False, tooltipField=None,
                       cellClass="dq-link-cell")
        if field in ("message", "batch_name"):  # long texts wrap rather than end in "…"
            col.update(flex=1, wrapText=True, autoHeight=True)
        if field == "received_at":
            col["sort"] = "desc"
        cols.append(col)
    return cols


def create_batch_grid(grid_id: str) -> dag.AgGrid:
    """The sortable, filterable batch table."""
    return dag.AgGrid(
        id=grid_id, columnDefs=batch_column_defs(), rowData=[], getRowId="params.data.batch_id",
        defaultColDef={"sortable": True, "resizable": True, "filter": True, **WRAP_HEADERS},
        dashGridOptions={"animateRows": False, "theme": DARK_THEME, "localeText": LOCALE, "tooltipShowDelay": 400,
                         "enableCellTextSelection": True},
        className="dq-grid", style={"height": "100%", "width": "100%"},
    )


def list_note(shown: int, total: int) -> str:
    if total > shown:
        return f"共 {total:,} 批，显示最近 {shown:,} 批"
    return f"共 {total:,} 批"


# ----------------------------------------------------------------------------- top reasons
def reason_label(code: str, field: str) -> str:
    label = REASON_ZH.get(code, code)
    return f"{label} · {field}" if field else label


def create_reasons_figure(df: pd.DataFrame | None) -> go.Figure:
    """Rejected records per reason (and field), most frequent on top; the bar text is
    the share of all rejected records of the period."""
    rows = df if df is not None else pd.DataFrame(columns=["reason_code", "field", "reason", "records", "share"])
    bars: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if len(rows):
        rows = rows.iloc[::-1]  # plotly draws the first category at the bottom
        labels = [reason_label(str(c), str(f)) for c, f in zip(rows["reason_code"], rows["field"])]
        bars.append({
            "type": "bar", "y": labels, "x": [int(v) for v in rows["records"]], "orientation": "h",
            "text": [_pct(s) for s in rows["share"]], "textposition": "outside", "cliponaxis": False,
            "customdata": [[str(c), str(r)] for c, r in zip(rows["reason_code"], rows["reason"])],
            "marker": {"color": "#ff5b5b", "line": {"color": "#06122b", "width": 1}},
            "hovertemplate": "%{y}<br>%{x} 条（%{text}）<br>示例：%{customdata[1]}<extra>%{customdata[0]}</extra>"})
    else:
        notes.append({"text": "本期没有退回记录", "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper",
                      "yref": "paper", "font": {"size": 16, "color": "#7fa3c8"}})
    n = len(rows)
    peak = int(rows["records"].max()) if n else 0
    fig = create_figure(bars, {
        "showlegend": False, "bargap": 0.35, "annotations": notes,
        "font": {"size": 13}, "margin": {"l": 8, "r": 48, "t": 8, "b": 28},
        "xaxis": {"rangemode": "tozero", "title": {"text": "退回记录（条）", "font": {"size": 12}},
                  "visible": bool(n), **({"dtick": 1} if peak <= 5 else {})},
        # At least MIN_SLOTS bar slots, filled from the top, so a few reasons keep a bar's usual thickness.
        "yaxis": {"automargin": True, "visible": bool(n), "range": [n - 0.5 - max(n, MIN_SLOTS), n - 0.5]},
        "hoverlabel": {"font": {"family": FONT}},
    })
    return fig


def updated_text(now: dt.datetime) -> str:
    return f"更新于 {now:%H:%M:%S} · 每30秒自动刷新"
