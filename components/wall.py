"""Pure factories for the command wall: KPI tiles, ranking, ticker, labels."""
from __future__ import annotations

import math

import pandas as pd
from dash import html

from components.format import format_change, format_cn
from indicators.catalogue import CATALOGUE

LABELS: dict[str, dict[str, str]] = {
    "zh": {"title": "金监 · 智慧监管指挥大屏", "fresh": "数据更新于", "stale": "数据已超过 {m} 分钟未更新",
           "stale_days": "数据已 {d} 天未更新",
           "trend_day": "近 30 天新设立与注销（户/日）", "trend_month": "近 13 个月新设立与注销（户/月）",
           "ranking": "下级区域排名", "ticker": "实时动态", "up": "上一级", "map": "地图（示意）",
           "mom": "环比", "no_data": "暂无数据", "rotate": "轮播",
           "overdue": "逾期任务最多的区域", "buckets": "黄 {y} · 橙 {o} · 红 {r}",
           "push_late": "本月超时 {n} 件", "random_overdue": "逾期未查 {n} 户",
           "joint_overdue": "逾期未反馈 {n} 件"},
    "en": {"title": "Jinjian · Supervision Command Wall", "fresh": "Data as of",
           "stale": "No new data for over {m} minutes",
           "stale_days": "No new data for {d} days", "trend_day": "Registrations and exits, last 30 days",
           "trend_month": "Registrations and exits, last 13 months", "ranking": "Sub-region ranking",
           "ticker": "Live events", "up": "Up", "map": "Map (schematic)", "mom": "MoM", "no_data": "No data",
           "rotate": "Rotation", "overdue": "Most overdue tasks",
           "buckets": "Yellow {y} · Orange {o} · Red {r}", "push_late": "Late this month: {n}",
           "random_overdue": "Overdue: {n}", "joint_overdue": "Feedback overdue: {n}"},
}

#: Headline tiles: (tile id, indicator id, grain, zh label, en label).
WALL_TILES: tuple[tuple[str, str, str, str, str], ...] = (
    ("wall-kpi-stock", "entity_stock", "day", "市场主体总量", "Market entities"),
    ("wall-kpi-enterprise", "enterprise_stock", "day", "企业", "Enterprises"),
    ("wall-kpi-individual", "individual_stock", "day", "个体工商户", "Individual businesses"),
    ("wall-kpi-new-day", "new_registrations", "day", "今日新设立", "New today"),
    ("wall-kpi-new-week", "new_registrations", "week", "本周新设立", "New this week"),
    ("wall-kpi-new-month", "new_registrations", "month", "本月新设立", "New this month"),
    ("wall-kpi-cancel-month", "cancellations", "month", "本月注销", "Cancelled this month"),
    ("wall-kpi-open", "tasks_open", "day", "在办任务", "Open tasks"),
    ("wall-kpi-overdue", "tasks_overdue", "day", "逾期任务", "Overdue tasks"),
    ("wall-kpi-push", "push_ontime_rate", "month", "推送及时率", "Pushed on time"),
    ("wall-kpi-warn", "", "day", "红色/橙色预警主体", "Red / orange risk entities"),
    ("wall-kpi-random", "random_completion", "day", "双随机完成率", "Random inspections done"),
    ("wall-kpi-joint", "joint_cases_open", "day", "联合惩戒在办", "Joint punishment in force"),
)
#: Tiles with a second figure under the value: tile indicator → (its indicator, label key, unit, digits).
_WITH_COUNT = {"random_completion": ("random_overdue", "random_overdue", "%", 1),
               "joint_cases_open": ("joint_feedback_overdue", "joint_overdue", "件", 2)}


def label(lang: str, key: str) -> str:
    return LABELS.get(lang, LABELS["zh"])[key]


def create_kpi(tile_id: str, title: str, value: float | None, unit: str, change: float | None = None,
               change_label: str = "环比", extra: list | None = None, digits: int = 2) -> list:
    """Children of a KPI tile (the tile's outer div stays, so updates do not flicker)."""
    exact = "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.0f}"
    parts = [html.Div(title, className="kpi-title"),
             html.Div([html.Span(format_cn(value, digits), id=f"{tile_id}-value", className="kpi-value",
                                 **{"data-value": exact}),
                       html.Span(unit, className="kpi-unit")])]
    if change is not None and not (isinstance(change, float) and math.isnan(change)):
        cls = "kpi-change up" if change > 0 else "kpi-change down" if change < 0 else "kpi-change"
        parts.append(html.Div(f"{change_label} {format_change(change)}", className=cls))
    if extra:
        parts.extend(extra)
    return parts


def create_ranking(df: pd.DataFrame, unit: str, top: int = 12) -> list:
    """Ranking rows (name, bar, value) of ``df`` with columns region_name, value."""
    df = df.dropna(subset=["value"]).sort_values("value", ascending=False).head(top)
    if df.empty:
        return [html.Div("—", className="rank-empty")]
    vmax = max(float(df["value"].max()), 1e-9)
    rows = []
    for i, r in enumerate(df.itertuples(index=False), start=1):
        width = max(2.0, 100.0 * float(r.value) / vmax)
        rows.append(html.Div(className="rank-row", children=[
            html.Span(str(i), className="rank-no"), html.Span(r.region_name, className="rank-name"),
            html.Div(html.Div(className="rank-bar-fill", style={"width": f"{width:.1f}%"}), className="rank-bar"),
            html.Span(f"{format_cn(r.value)}{unit}", className="rank-value")]))
    return rows


def create_ticker(df: pd.DataFrame, type_names: dict[str, str]) -> list:
    """Ticker items, newest first, from recent_events rows."""
    if df.empty:
        return [html.Div("—", className="ticker-empty")]
    return [html.Div(className=f"ticker-item ev-{r.event_type}", children=[
        html.Span(pd.Timestamp(r.event_time).strftime("%m-%d %H:%M"), className="ticker-time"),
        html.Span(type_names.get(r.event_type, r.event_type), className="ticker-type"),
        html.Span(r.name or r.credit_code, className="ticker-name")]) for r in df.itertuples(index=False)]


def create_batch_alert(alerts: pd.DataFrame, lang: str = "zh", total: int | None = None) -> tuple[list, str]:
    """Children and class of the traceability alert strip: the newest failed batch
    handled in the region (the first row), with its fan-out, and how many others of the
    ``total`` (default: the rows) there are (hidden when none)."""
    if alerts.empty:
        return [], "wall-batch-alert hidden"
    top = alerts.iloc[0]
    more = (len(alerts) if total is None else total) - 1
    if lang == "en":
        text = (f"Traceability alert: batch {top['batch_no']} failed sampling "
                f"({pd.Timestamp(top['first_fail']):%m-%d}); {int(top['entities'])} entities in "
                f"{int(top['towns'])} towns handled it" + (f"; {more} more batches" if more else ""))
    else:
        text = (f"追溯预警：批次 {top['batch_no']} 抽检不合格（{pd.Timestamp(top['first_fail']):%m-%d}），"
                f"涉及 {int(top['entities'])} 户、{int(top['towns'])} 个镇街" + (f"；另有 {more} 个批次" if more else ""))
    return [html.Span(text, id="wall-batch-alert-text")], "wall-batch-alert"


def create_tiles(headlines: dict[tuple[str, str], tuple[float, float]], lang: str) -> list[list]:
    """The wall's tiles from ``queries.overview.WallData.headlines`` ((indicator, grain) →
    (value, 环比); NaN where a setting is broken: the tile shows —)."""
    out = []
    for tile_id, ind_id, grain, zh, en in WALL_TILES:
        title = zh if lang == "zh" else en
        if not ind_id:  # entities graded red / orange by the risk score (supervision.risk)
            red, orange = (_count(headlines[(i, "day")][0]) for i in ("risk_red", "risk_orange"))
            known = red is not None and orange is not None
            split = [html.Div([html.Span(f"红 {red}", className="warn-red"),
                               html.Span(f"橙 {orange}", className="warn-orange")], className="kpi-change")]
            out.append(create_kpi(tile_id, title, red + orange if known else None, "户", extra=split if known else None))
            continue
        value, mom = headlines[(ind_id, grain)]
        change = mom if CATALOGUE[ind_id].kind == "flow" else None
        extra = None
        if ind_id == "tasks_overdue":  # graded by working days overdue (supervision.rules)
            y, o, r = (_count(headlines[(i, "day")][0])
                       for i in ("overdue_mild", "overdue_moderate", "overdue_severe"))
            extra = [html.Div(label(lang, "buckets").format(y=y, o=o, r=r), className="kpi-change",
                              id="wall-kpi-overdue-buckets")] if None not in (y, o, r) else None
        if ind_id == "push_ontime_rate":  # this month's pushes; late ones counted under the rate
            late = _count(headlines[("push_late", "month")][0])
            out.append(create_kpi(tile_id, title, value, "%", None, extra=[html.Div(
                label(lang, "push_late").format(n=late), className="kpi-change" + (" up" if late else ""),
                id="wall-kpi-push-late")] if late is not None else None, digits=1))
            continue
        if ind_id in _WITH_COUNT:  # 双随机 done / 联合惩戒 in force, with the overdue ones under it
            other, key, unit, digits = _WITH_COUNT[ind_id]
            overdue = _count(headlines[(other, "day")][0])
            out.append(create_kpi(tile_id, title, value, unit, None, extra=[html.Div(
                label(lang, key).format(n=overdue), className="kpi-change" + (" up" if overdue else ""),
                id=f"{tile_id}-overdue")] if overdue is not None else None, digits=digits))
            continue
        out.append(create_kpi(tile_id, title, value, CATALOGUE[ind_id].unit, change, label(lang, "mom"), extra))
    return out


def _count(value: float) -> int | None:
    """A whole count, or None where it could not be computed (NaN: a broken setting)."""
    return None if value != value else int(value)
