"""Periodic report views: pure factories from :class:`queries.report_data.ReportData`.

Charts are drawn here as inline SVG (no plotly.js in the report): they are in
the page as soon as the HTML is, print as vector graphics, and their text stays
selectable in the PDF. Tables are plain HTML tables whose header repeats on
every printed page (``assets/report.css``).
"""
from __future__ import annotations

import math
import re
from html import escape
from typing import Any, Sequence

import pandas as pd
from dash import html
from dash.development.base_component import Component

from indicators.catalogue import CATALOGUE
from indicators.model import GRADES
from components.format import format_change
from queries.report_data import ReportData
from queries.report_wording import fmt_value

FONT = "'Noto Sans CJK SC', 'WenQuanYi Zen Hei', 'Microsoft YaHei', sans-serif"
BLUE, ORANGE, GREY = "#1f5fbf", "#e07b00", "#8a94a6"
PRINT_GRADES = {"red": "#d62728", "orange": "#ff7f0e", "yellow": "#e5b800", "blue": "#1f77b4"}
TREND_UNITS = {"daily": "天", "weekly": "周", "monthly": "个月", "quarterly": "个季度"}
HEADLINE_COLUMNS = ("指标", "单位", "本期", "上期", "环比", "上年同期", "同比", "预警")


# ----------------------------------------------------------------------------- SVG charts
def _nice_step(v: float) -> float:
    """A round tick step ≥ v/4 (1, 2, 2.5, 5 × 10^k; at least 1 for counts)."""
    if v <= 0:
        return 1.0
    raw = v / 4
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= raw:
            return max(m * exp, 1.0)
    return max(10 * exp, 1.0)


def _t(x: float, y: float, text: str, size: int = 11, anchor: str = "start", fill: str = "#333",
       weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="report-svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(title)}" style="font-family:{FONT}">'
            + _t(0, 16, title, 14, weight="bold", fill="#111") + "".join(body) + "</svg>")


def period_tick(ts: Any, kind: str) -> str:
    d = pd.Timestamp(ts).date()
    if kind == "monthly":
        return f"{d.year}-{d.month:02d}"
    if kind == "quarterly":
        return f"{d.year}年{(d.month - 1) // 3 + 1}季度"
    return f"{d.month:02d}-{d.day:02d}"


def line_chart_svg(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], title: str,
                   width: int = 720, height: int = 250) -> str:
    """Lines over ``labels``: series = (name, values, colour). Axis, ticks, legend and
    the last values are SVG text."""
    left, right, top, bottom = 48, 16, 44, 40
    pw, ph = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    step_v = _nice_step(max([float(v) for _, vals, _ in series for v in vals] or [0]))
    vmax = step_v * 4
    x = (lambda i: left + (pw * i / (n - 1) if n > 1 else pw / 2))
    y = (lambda v: top + ph - ph * float(v) / vmax)
    body: list[str] = []
    for k in range(5):
        val = vmax * k / 4
        body.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(val):.1f}" y2="{y(val):.1f}" '
                    f'stroke="#ddd" stroke-width="1"/>')
        body.append(_t(left - 6, y(val) + 4, f"{val:,g}", 10, "end", "#555"))
    step = max(1, math.ceil(n / 12))
    for i, lab in enumerate(labels):
        if i % step == 0 or i == n - 1:
            body.append(_t(x(i), top + ph + 16, lab, 10, "middle", "#555"))
    lx = left
    for name, vals, colour in series:
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body += [f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>' for i, v in enumerate(vals)]
        if len(vals):
            body.append(_t(x(len(vals) - 1) - 4, y(vals[-1]) - 6, f"{float(vals[-1]):,.0f}", 10, "end", colour))
        body.append(f'<rect x="{lx}" y="{height - 14}" width="12" height="4" fill="{colour}"/>')
        body.append(_t(lx + 16, height - 8, name, 11))
        lx += 30 + 13 * len(name)
    return _svg(width, height, title, body)


def short_name(name: str) -> str:
    """A village's usual short name (黄草朗社区居民委员会 → 黄草朗社区, 三中村村民委员会 → 三中村)."""
    for suffix in ("居民委员会", "村民委员会"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


def bar_chart_svg(names: Sequence[str], values: Sequence[float], title: str, unit: str,
                  colours: Sequence[str] | str = BLUE, width: int = 350, empty: str = "无数据") -> str:
    """Horizontal bars, largest first as given; the value is written after each bar."""
    row, top, label_w, value_w = 20, 30, 96, 56
    height = top + row * max(len(names), 1) + 8
    vmax = max([float(v) for v in values] or [0]) or 1.0
    pw = width - label_w - value_w
    body: list[str] = []
    if not names:
        body.append(_t(width / 2, top + 14, empty, 12, "middle", GREY))
    for i, (name, v) in enumerate(zip(names, values)):
        yy = top + i * row
        colour = colours if isinstance(colours, str) else colours[i]
        w = max(pw * float(v) / vmax, 0.5 if v else 0)
        label = short_name(str(name))  # never cut: a long name is set smaller
        body.append(_t(label_w - 6, yy + 13, label, 11 if len(label) <= 8 else max(7, 88 // len(label)), "end"))
        body.append(f'<rect x="{label_w}" y="{yy + 3}" width="{w:.1f}" height="{row - 7}" fill="{colour}"/>')
        body.append(_t(label_w + w + 4, yy + 13, f"{float(v):,.0f} {unit}", 10, "start", "#333"))
    return _svg(width, height, title, body)


def create_chart(cid: str) -> html.Figure:
    """A chart box. Its SVG (``report_charts``' second value) is put in place as
    inline SVG by the page's clientside callback: Dash's HTML components cannot
    hold raw SVG, and an <img> would not keep the text selectable in the PDF."""
    return html.Figure(html.Div(id=f"{cid}-svg", className="report-chart-svg"), id=cid, className="report-chart")


def report_charts(d: ReportData) -> tuple[list[Any], dict[str, str]]:
    """The chart boxes and their SVG by container id."""
    kind = d.period.kind
    labels = [period_tick(p, kind) for p in d.trend["period"]]
    trend = line_chart_svg(labels, [
        ("新设立", [int(v) for v in d.trend["registered"]], BLUE),
        ("注销/吊销", [int(a + b) for a, b in zip(d.trend["cancelled"], d.trend["revoked"])], ORANGE),
    ], f"近 {len(labels)} {TREND_UNITS[kind]}新设立与注销吊销（户）")
    level = d.child_level or "下级区域"
    top = (lambda df: f"，前 {len(df)}" if len(df) else "")  # only sub-regions with any: no ranking of zeros
    ranking = bar_chart_svg(list(d.ranking["region_name"]), list(d.ranking["value"]),
                            f"新设立市场主体排名（{level}{top(d.ranking)}）", "户", empty="本期无新设立")
    overdue = bar_chart_svg(list(d.ranking_overdue["region_name"]), list(d.ranking_overdue["value"]),
                            f"期末逾期任务排名（{level}{top(d.ranking_overdue)}）", "件", ORANGE, empty="期末无逾期任务")
    grades = bar_chart_svg(list(d.risk_grades["grade_zh"]), list(d.risk_grades["entities"]),
                           "期末风险等级分布（主体）", "户", [PRINT_GRADES[g] for g in d.risk_grades["grade"]], 720)
    svgs = {"report-chart-trend-svg": trend, "report-chart-ranking-svg": ranking,
            "report-chart-overdue-svg": overdue, "report-chart-risk-svg": grades}
    return [create_chart("report-chart-trend"),
            html.Div([create_chart("report-chart-ranking"), create_chart("report-chart-overdue")],
                     className="report-chart-pair"),
            create_chart("report-chart-risk")], svgs


# ----------------------------------------------------------------------------- tables
def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def create_table(tid: str, df: pd.DataFrame, numeric: Sequence[str] = (), empty: str = "无",
                 caption: str | None = None, nowrap: Sequence[str] = ()) -> html.Table:
    """A printable table: header repeats on each page, rows never split."""
    def cls(c: str) -> str | None:
        return " ".join(x for x, on in (("num", c in numeric), ("nowrap", c in nowrap)) if on) or None

    head = html.Thead(html.Tr([html.Th(c, className=cls(c)) for c in df.columns]))
    rows = [html.Tr([html.Td(_cell(v), className=cls(c)) for c, v in zip(df.columns, r)])
            for r in df.itertuples(index=False)]
    if not rows:
        rows = [html.Tr(html.Td(empty, colSpan=max(len(df.columns), 1), className="report-empty"))]
    parts = ([html.Caption(caption)] if caption else []) + [head, html.Tbody(rows)]
    return html.Table(parts, id=tid, className="report-table")


def _points(cur: float, prev: float) -> str:
    d = cur - prev
    if math.isnan(d):
        return "—"
    return "持平" if abs(d) < 0.05 else f"{d:+.1f} 个百分点"


def headline_frame(d: ReportData) -> pd.DataFrame:
    """The headline table as shown (text cells) and exported."""
    rows = []
    for r in d.headlines.itertuples(index=False):
        ind = CATALOGUE[r.indicator_id]
        if ind.unit == "%":  # rates: the change in percentage points
            mom, yoy = _points(r.value, r.prev_value), _points(r.value, r.yoy_value)
        else:  # unchanged: 持平, as the summary says
            mom, yoy = (("持平" if abs(c) < 0.0005 else format_change(c)) for c in (r.mom, r.yoy))
        rows.append({"指标": r.name, "单位": r.unit, "本期": fmt_value(ind, r.value),
                     "上期": fmt_value(ind, r.prev_value), "环比": mom,
                     "上年同期": fmt_value(ind, r.yoy_value), "同比": yoy,
                     "预警": GRADES[r.grade][0] if isinstance(r.grade, str) and r.grade in GRADES else "—"})
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


# ----------------------------------------------------------------------------- the document
def _section(sid: str, title: str, children: list[Any]) -> html.Section:
    return html.Section([html.H2(title)] + children, id=sid, className="report-section")


def report_header(d: ReportData) -> html.Header:
    meta = [("区域", f"{d.region_path}（{d.region}）"), ("报告期", f"{d.period.label}　{d.period.range_text}"),
            ("生成时间", d.generated_at.strftime("%Y-%m-%d %H:%M"))]
    return html.Header(className="report-head", children=[
        html.Div("金监 · 智慧监管平台", className="report-org"),
        html.H1(d.title, id="report-title"),
        html.Dl([x for k, v in meta for x in (html.Dt(k), html.Dd(v))], className="report-meta"),
    ])


def overdue_note(d: ReportData) -> str:
    return (f"期末逾期任务共 {d.overdue_total:,} 件" +
            (f"，下表列出逾期时间最长的 {len(d.overdue):,} 件（完整清单见任务督办页面）。"
             if d.overdue_total > len(d.overdue) else "，全部列出如下。"))


def create_report(d: ReportData) -> tuple[list[Any], dict[str, str]]:
    """The whole report document and its charts' SVG by container id."""
    charts, svgs = report_charts(d)
    return [
        report_header(d),
        _section("report-summary", "一、综述", [html.P(s, className="report-sentence") for s in d.summary]
                 + [html.P(n, className="report-note") for n in d.notes]),
        _section("report-headlines", "二、主要指标", [
            create_table("report-table-headlines", headline_frame(d), numeric=("本期", "上期", "环比", "上年同期", "同比")),
            html.P("环比：与上期同一时段比较；同比：与上年同期同一时段比较；比率类指标的变化以百分点表示。",
                   className="report-foot")]),
        _section("report-charts", "三、趋势与排名", charts),
        _section("report-overdue", "四、逾期任务", [
            html.P(overdue_note(d), className="report-foot"),
            create_table("report-table-overdue", d.overdue, numeric=("序号", "逾期工作日"), empty="期末无逾期任务",
                         nowrap=("任务编号", "办理期限", "预警等级", "统一社会信用代码"))]),
        _section("report-risk", "五、风险预警", [
            html.H3("高风险主体（红色、橙色，按评分）"),
            create_table("report-table-risk", d.risk_top, numeric=("序号", "风险评分", "投诉", "处罚", "不合格批次"),
                         empty="期末无红色、橙色预警主体", nowrap=("统一社会信用代码",)),
            html.H3("抽检不合格批次追溯联动"),
            create_table("report-table-alerts", d.alerts, numeric=("辖区涉及主体", "涉及镇街"),
                         empty="本期无涉及辖区的不合格批次")]),
        _section("report-quality", "六、数据质量说明", [html.P(n, className="report-note") for n in d.quality_notes]
                 + [create_table("report-table-quality", d.quality, numeric=("本期记录数",), empty="无数据源")]),
        _section("report-random", "七、双随机抽查", [
            html.P(d.random_note, className="report-note"),
            create_table("report-table-random", d.random, numeric=("已检查（户）", "发现问题（户）", "问题发现率（%）")),
            html.P("问题发现率 = 发现问题户数 ÷ 已检查户数；按信用风险分类比较，检验分类是否预示风险。",
                   className="report-foot")]),
    ], svgs


#: Tables and charts a complete report holds (the ready marker waits for all of them).
N_TABLES = 6
N_CHARTS = 4


def report_tables(d: ReportData) -> dict[str, pd.DataFrame]:
    """The report's tables by sheet name (Excel export). The 概要 sheet carries every
    sentence of the report besides its tables: summary, notes, the overdue and data-quality notes."""
    texts = ([(f"综述 {i + 1}", s) for i, s in enumerate(d.summary)] + [(f"说明 {i + 1}", n) for i, n in enumerate(d.notes)]
             + [("逾期任务", overdue_note(d))] + [(f"数据质量 {i + 1}", n) for i, n in enumerate(d.quality_notes)]
             + [("双随机抽查", d.random_note)])
    summary = pd.DataFrame({"项目": ["标题", "区域", "区划代码", "报告期", "统计期间", "生成时间"] + [k for k, _ in texts],
                            "内容": [d.title, d.region_path, d.region, d.period.label, d.period.range_text,
                                   d.generated_at.strftime("%Y-%m-%d %H:%M")] + [t for _, t in texts]})
    trend = pd.DataFrame({"期间": [pd.Timestamp(p).date().isoformat() for p in d.trend["period"]],
                          "新设立": d.trend["registered"], "注销": d.trend["cancelled"], "吊销": d.trend["revoked"],
                          "净增": d.trend["net"]})
    level = d.child_level or "下级区域"
    rank = pd.DataFrame({level: d.ranking["region_name"], "区划代码": d.ranking["region_code"],
                         "新设立市场主体（户）": d.ranking["value"].astype(int)})
    rank_o = pd.DataFrame({level: d.ranking_overdue["region_name"], "区划代码": d.ranking_overdue["region_code"],
                           "期末逾期任务（件）": d.ranking_overdue["value"].astype(int)})
    grades = pd.DataFrame({"风险等级": d.risk_grades["grade_zh"], "主体数（户）": d.risk_grades["entities"]})
    return {"概要": summary, "主要指标": headline_frame(d), "趋势": trend, "新设立排名": rank, "逾期任务排名": rank_o,
            "逾期任务": d.overdue, "风险等级分布": grades, "高风险主体": d.risk_top, "不合格批次": d.alerts,
            "数据质量": d.quality, "双随机抽查": d.random}


def file_stem(region: str, kind: str, key: str) -> str:
    """report-4419-weekly-2026-W47 (ASCII: safe in any file system and header)."""
    return f"report-{region or 'all'}-{kind}-{key}"


# ----------------------------------------------------------------------------- static HTML (print route)
_KEBAB = re.compile(r"([A-Z])")
_ATTRS = {"className": "class", "colSpan": "colspan", "rowSpan": "rowspan", "htmlFor": "for"}


def _css(style: dict[str, Any]) -> str:
    return ";".join(_KEBAB.sub(lambda m: "-" + m.group(1).lower(), k) + f":{v}" for k, v in style.items())


def to_html(node: Any, raw: dict[str, str] | None = None) -> str:
    """Dash ``html.*`` components as an HTML string (the report's print route
    serves the very tree the Dash page shows). ``raw``: inner HTML by element id
    (the charts' SVG)."""
    if node is None:
        return ""
    if isinstance(node, (list, tuple)):
        return "".join(to_html(n, raw) for n in node)
    if not isinstance(node, Component):
        return escape(str(node))
    spec = node.to_plotly_json()
    if spec["namespace"] != "dash_html_components":
        raise ValueError(f"cannot render {spec['namespace']}.{spec['type']} as static HTML")
    tag = spec["type"].lower()
    props = spec["props"]
    attrs = []
    for key, value in props.items():
        if key == "children" or value is None:
            continue
        name = _ATTRS.get(key, key)
        text = _css(value) if key == "style" else str(value)
        attrs.append(f' {name}="{escape(text, quote=True)}"')
    inner = (raw or {}).get(props.get("id", ""), None)
    if inner is None:
        inner = to_html(props.get("children"), raw)
    return f"<{tag}{''.join(attrs)}>{inner}</{tag}>"
