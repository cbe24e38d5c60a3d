"""What a periodic report says in words: figures formatted as the report prints them,
changes as '增长 5.2%' / '上升 0.3 个百分点', and the written summary of a
:class:`reports.data.ReportData`.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from indicators.catalogue import CATALOGUE
from indicators.model import Indicator

if TYPE_CHECKING:
    from reports.data import ReportData


def fmt_value(ind: Indicator, value: float | None) -> str:
    """Exact figures: counts with thousands separators, rates with their decimals."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "—"
    if not ind.is_ratio and ind.decimals == 0:
        return f"{int(round(value)):,}"
    return f"{value:,.{max(ind.decimals, 1)}f}"


def change_words(ratio: float | None) -> str:
    """0.052 → '增长 5.2%'; −0.011 → '下降 1.1%'; 0 → '持平'; NaN → '无可比数据'."""
    if ratio is None or math.isnan(ratio) or math.isinf(ratio):
        return "无可比数据"
    if abs(ratio) < 0.0005:
        return "持平"
    return f"{'增长' if ratio > 0 else '下降'} {abs(ratio) * 100:.1f}%"


def points_words(cur: float, prev: float) -> str:
    """A rate's change in percentage points: '上升 0.3 个百分点'."""
    if any(x is None or math.isnan(x) for x in (cur, prev)):
        return "无可比数据"
    d = cur - prev
    if abs(d) < 0.05:
        return "持平"
    return f"{'上升' if d > 0 else '下降'} {abs(d):.1f} 个百分点"


def compare_text(ind: Indicator, row: pd.Series) -> str:
    """'环比增长 5.2%，同比下降 1.1%' (rates: percentage points)."""
    if ind.unit == "%":
        return (f"环比{points_words(row['value'], row['prev_value'])}，"
                f"同比{points_words(row['value'], row['yoy_value'])}")
    return f"环比{change_words(row['mom'])}，同比{change_words(row['yoy'])}"


def summary_sentences(d: "ReportData") -> list[str]:
    """The written summary: each sentence carries its numbers and comparisons."""
    h = d.headlines.set_index("indicator_id")
    this = d.period.this
    out: list[str] = []

    def v(i: str) -> str:
        text = fmt_value(CATALOGUE[i], h.loc[i, "value"])
        return text + "%" if CATALOGUE[i].unit == "%" and text != "—" else text

    if not d.has_data:
        return [f"{d.period.label}，{d.region_name}没有登记、投诉举报、执法检查或监管任务等业务数据（本期无数据），"
                "本报告各项期内指标均为零，请核实数据报送情况。",
                f"期末存续市场主体 {v('entity_stock')} 户，期末在办逾期任务 {v('tasks_overdue')} 件。"]

    def c(i: str) -> str:
        return compare_text(CATALOGUE[i], h.loc[i])

    out.append(f"{this}新设立市场主体 {v('new_registrations')} 户，{c('new_registrations')}；其中企业 "
               f"{v('new_enterprises')} 户、个体工商户 {v('new_individuals')} 户。")
    out.append(f"{this}注销 {v('cancellations')} 户、吊销 {v('revocations')} 户，净增 {v('net_growth')} 户；"
               f"期末存续市场主体 {v('entity_stock')} 户，较上期末{change_words(h.loc['entity_stock', 'mom'])}。")
    out.append(f"{this}受理投诉举报 {v('complaints')} 件，{c('complaints')}；办理行政处罚案件 {v('penalties')} 件，"
               f"检查 {v('inspections')} 户次，抽检合格率 {v('sampling_pass_rate')}。")
    out.append(f"{this}推送监管任务 {v('tasks_created')} 件，办结 {v('tasks_closed')} 件，按期办结率 "
               f"{v('ontime_rate')}；期末逾期任务 {v('tasks_overdue')} 件，{c('tasks_overdue')}，其中红色（升级督办）"
               f"{v('overdue_severe')} 件。")
    risk = (f"期末红色预警主体 {v('risk_red')} 户、橙色 {v('risk_orange')} 户，高风险主体占比 "
            f"{v('high_risk_share')}")
    if len(d.alerts):
        risk += f"；{this}发现 {len(d.alerts)} 个抽检不合格产品批次涉及辖区 {int(d.alerts['辖区涉及主体'].sum()):,} 户主体，已触发追溯联动预警"
    out.append(risk + "。")
    if len(d.ranking) and d.ranking["value"].iloc[0] > 0:
        top = d.ranking.iloc[0]
        out.append(f"分{d.child_level}看，{this}新设立市场主体最多的是{top['region_name']}（{int(top['value']):,} 户）。")
    if len(d.ranking_overdue) and d.ranking_overdue["value"].iloc[0] > 0:
        top = d.ranking_overdue.iloc[0]
        out.append(f"期末逾期任务最多的是{top['region_name']}（{int(top['value']):,} 件），请重点督办。")
    late = [n for n in d.quality_notes if "尚未报送" in n or "缺报" in n or "没有收到" in n]
    if late:
        out.append(f"数据质量提示：{len(late)} 个数据源本期迟报或不完整，相关指标可能偏低（详见数据质量说明）。")
    return out
