"""What a periodic report says: a pure builder from the query layer.

``build_report(db, region, kind, day)`` → :class:`ReportData` (DataFrames and the
summary sentences). No Dash, no browser: the page (``pages/report.py``), the PDF
and the Excel export all render this one object, so their numbers agree.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from indicators.catalogue import CATALOGUE
from queries.indicator_values import compute, compute_with_comparisons
from indicators.model import Indicator
from indicators.periods import period_start
from store.engine import Engine
from queries.entities import registration_flow
from store.executor import run
from store.filters import Filter, RegionScope, default_scope
from queries.regions import region_names, region_node
from queries.random_checks import class_rates, figures as random_figures
from queries.risk import batch_alerts, grade_distribution, top_entities
from queries.tasks import TaskQuery, task_list
from queries.report_periods import ReportPeriod, report_period
from queries.report_quality import source_quality, warned_sources
from queries.report_wording import change_words, compare_text, fmt_value
from supervision.risk import RiskRules
from supervision.rules import STATUS_ZH, TASK_TYPE_ZH, TaskRules, bucket_bounds

logger = logging.getLogger(__name__)

#: The headline indicator table, in order.
HEADLINES: tuple[str, ...] = (
    "entity_stock", "new_registrations", "new_enterprises", "new_individuals", "cancellations", "revocations",
    "net_growth", "complaints", "penalties", "inspections", "random_completion", "random_overdue",
    "random_problem_rate", "sampling_pass_rate", "tasks_created",
    "tasks_closed", "ontime_rate", "tasks_overdue", "overdue_severe", "risk_red", "risk_orange", "high_risk_share",
)
#: Periods in the trend chart per report kind.
TREND_PERIODS: dict[str, int] = {"daily": 30, "weekly": 12, "monthly": 13, "quarterly": 8}
RANKING_ROWS = 15
OVERDUE_ROWS = 150     # overdue tasks listed in the report (all of them on the /tasks page)
RISK_ROWS = 10
PARALLEL = 4           # report queries run side by side
GRADE_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
BUCKET_ZH = {"overdue_mild": "黄色", "overdue_moderate": "橙色", "overdue_severe": "红色·升级督办"}


@dataclass
class ReportData:
    region: str
    region_name: str
    region_path: str               # 广东省 › 东莞市
    period: ReportPeriod
    generated_at: dt.datetime
    headlines: pd.DataFrame        # indicator_id, name, unit, value, prev_value, yoy_value, mom, yoy, grade
    summary: list[str]
    trend: pd.DataFrame            # period, registered, cancelled, revoked, net
    ranking: pd.DataFrame          # region_code, region_name, value (new registrations in the period)
    ranking_overdue: pd.DataFrame  # region_code, region_name, value (overdue tasks at the period end)
    child_level: str               # 镇街 / 区县 …, '' for a leaf
    overdue: pd.DataFrame          # the most overdue open tasks at the period end (Chinese columns)
    overdue_total: int
    risk_grades: pd.DataFrame      # grade, grade_zh, entities
    risk_top: pd.DataFrame         # Chinese columns
    alerts: pd.DataFrame           # failed batches in the period handled in the region (Chinese columns)
    quality: pd.DataFrame          # one row per data source (Chinese columns)
    quality_notes: list[str]
    random: pd.DataFrame           # 双随机: per credit-risk class at the period end (Chinese columns)
    random_note: str
    has_data: bool
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.region_name}市场监管{self.period.title}"

    def value(self, indicator_id: str) -> float:
        row = self.headlines[self.headlines["indicator_id"] == indicator_id]
        return float(row["value"].iloc[0]) if len(row) else math.nan


# ----------------------------------------------------------------------------- builder
def build_report(db: Engine, region: str, kind: str, day: str | dt.date, scope: RegionScope | None = None,
                 today: dt.date | None = None, now: dt.datetime | None = None) -> ReportData:
    """Everything a ``kind`` report for ``region`` and the period containing ``day`` shows.

    Raises :class:`queries.report_periods.ReportError` (bad kind/date, future period) or the
    query layer's errors (RegionNotFound, ScopeViolation, InvalidParameter, …)."""
    scope = scope or default_scope()
    period = report_period(kind, day, today)
    node = region_node(db, region, scope)
    flt = Filter(region=region, scope=scope)
    path = node.path[node.path["code"] != ""]
    region_path = " › ".join(path["name"]) or node.name
    task_rules, risk_rules = TaskRules.from_env(), RiskRules.from_env()

    inds = [CATALOGUE[i] for i in HEADLINES]
    jobs: dict[str, Callable[[], Any]] = {
        f"headlines_{src}": (lambda group=group: compute_with_comparisons(db, group, flt, period.period,
                                                                          period.grain, now=now))
        for src, group in _by_source(inds).items()}
    jobs.update({
        "trend": lambda: registration_flow(db, Filter(region=region, scope=scope, grain=period.grain,
                                                       start=_trend_start(period), end=period.end)),
        "rankings": lambda: _rankings(db, flt, period, node),
        "overdue": lambda: _overdue_tasks(db, flt, period.end, task_rules, OVERDUE_ROWS),
        "risk_grades": lambda: grade_distribution(db, flt, period.end, risk_rules),
        "risk_top": lambda: _risk_top(db, flt, period.end, risk_rules),
        "alerts": lambda: _alerts(db, flt, period),
        "quality": lambda: source_quality(db, flt, period, today),
        "random": lambda: _random(db, flt, period.end),
    })
    out = _parallel(jobs)
    values = pd.concat([v for k, v in out.items() if k.startswith("headlines_")], ignore_index=True)
    meta = pd.DataFrame({"indicator_id": [i.id for i in inds], "name": [i.name_zh for i in inds],
                         "unit": [i.unit for i in inds]})
    headlines = meta.merge(values[["indicator_id", "value", "prev_value", "yoy_value", "mom", "yoy", "grade"]],
                           on="indicator_id", how="left")
    trend, overdue, risk_grades, risk_top, alerts = (out[k] for k in ("trend", "overdue", "risk_grades",
                                                                        "risk_top", "alerts"))
    ranking, ranking_overdue, child_level = out["rankings"]
    risk_grades.insert(1, "grade_zh", risk_grades["grade"].map(GRADE_ZH))
    quality, quality_notes, activity = out["quality"]
    has_data = activity > 0
    data = ReportData(
        region=region, region_name=node.name, region_path=region_path, period=period,
        generated_at=(now or dt.datetime.now()).replace(microsecond=0), headlines=headlines, summary=[],
        trend=trend, ranking=ranking, ranking_overdue=ranking_overdue, child_level=child_level,
        overdue=overdue, overdue_total=int(_num(headlines, "tasks_overdue")), risk_grades=risk_grades,
        risk_top=risk_top, alerts=alerts, quality=quality, quality_notes=quality_notes, random=out["random"][0],
        random_note=out["random"][1], has_data=has_data)
    data.summary = summary_sentences(data)
    if period.end >= (today or dt.date.today()):  # running (a daily report of today too): until now
        data.notes.append(f"本期尚未结束，数据截至 {period.end.isoformat()} {data.generated_at:%H:%M}，与上期同一时段"
                          "（环比）、上年同期同一时段（同比）比较。")
    logger.info("report %s %s %s built: has_data=%s overdue=%d", region, kind, period.key, has_data,
                data.overdue_total)
    return data


_cache: dict[tuple[Any, ...], tuple[float, ReportData]] = {}
_cache_lock = threading.Lock()
CACHE_SECONDS = 120.0
CACHE_MAX = 32


def cached_report(db: Engine, region: str, kind: str, day: str | dt.date, scope: RegionScope | None = None,
                  today: dt.date | None = None) -> ReportData:
    """:func:`build_report`, reused for two minutes: the page, its PDF (the print
    view) and its Excel export then read the database once."""
    scope = scope or default_scope()
    period = report_period(kind, day, today)
    key = (db.identity, region, kind, period.start, period.end, scope.prefix)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    data = build_report(db, region, kind, day, scope, today)
    with _cache_lock:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        _cache[key] = (now, data)
    return data


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _by_source(inds: list[Indicator]) -> dict[str, list[Indicator]]:
    """Indicators grouped by their numerator's source: one query set per group."""
    groups: dict[str, list[Indicator]] = {}
    for ind in inds:
        groups.setdefault(ind.numerator.source, []).append(ind)
    return groups


def _parallel(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent queries side by side (the engines allow parallel queries:
    JINJIAN_CHDB_SESSIONS sessions, one server connection per thread)."""
    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="report-data") as pool:
        futures = {name: pool.submit(fn) for name, fn in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def _num(headlines: pd.DataFrame, ind_id: str) -> float:
    row = headlines[headlines["indicator_id"] == ind_id]
    v = float(row["value"].iloc[0]) if len(row) else 0.0
    return 0.0 if math.isnan(v) else v


def _trend_start(period: ReportPeriod) -> dt.date:
    start = period.start
    for _ in range(TREND_PERIODS[period.kind] - 1):
        start = period_start(start - dt.timedelta(days=1), period.grain)
    return start


def _rankings(db: Engine, flt: Filter, period: ReportPeriod, node) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from queries.regions import LEVEL_NAMES_ZH

    empty = pd.DataFrame({"region_code": pd.Series(dtype=str), "region_name": pd.Series(dtype=str),
                          "value": pd.Series(dtype=float)})
    if node.child_length is None:
        return empty, empty.copy(), ""
    level = LEVEL_NAMES_ZH.get(int(node.children["level"].iloc[0]), "下级区域")
    out = []
    for ind_id in ("new_registrations", "tasks_overdue"):
        df = compute(db, [CATALOGUE[ind_id]], flt, period.period, by_child=True)
        df = df.loc[df["value"] > 0, ["region_code", "region_name", "value"]]  # no ranking of zeros
        df = df.sort_values(["value", "region_code"], ascending=[False, True])
        out.append(df.head(RANKING_ROWS).reset_index(drop=True))
    return out[0], out[1], level


def _dept_names(db: Engine, region: str) -> dict[str, str]:
    from domain.regions import ancestors

    df = run(db, "report_departments", """
        SELECT dept_id, name FROM departments WHERE region_code LIKE %(like)s OR region_code IN %(anc)s""",
             {"like": region + "%", "anc": (ancestors(region) if region else []) or ["-"]})
    return dict(zip(df["dept_id"], df["name"]))


def _overdue_tasks(db: Engine, flt: Filter, asof: dt.date, rules: TaskRules, limit: int) -> pd.DataFrame:
    """The most overdue open tasks at the end of ``asof`` (due before it), oldest deadline first."""
    from domain.workdays import workdays_between

    df, _ = task_list(db, TaskQuery(flt, asof, status="open"), rules, limit=limit)
    df = df[pd.to_datetime(df["due_date"]).dt.date < asof].reset_index(drop=True) if len(df) else df
    cols = ["序号", "任务编号", "任务类型", "办理环节", "办理期限", "逾期工作日", "预警等级", "所在网格", "责任部门", "统一社会信用代码"]
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=str) for c in cols})
    bounds = bucket_bounds(asof, rules)
    due = pd.to_datetime(df["due_date"]).dt.date
    late = np.maximum(workdays_between(np.array(due.tolist(), dtype="datetime64[D]"),
                                       np.datetime64(asof)), 1)
    grids = sorted(set(df["grid_code"].astype(str)))
    names = region_names(db, grids + sorted({g[:9] for g in grids}))
    depts = _dept_names(db, flt.region)
    return pd.DataFrame({
        "序号": range(1, len(df) + 1),
        "任务编号": df["task_id"].astype(str),
        "任务类型": [TASK_TYPE_ZH.get(t, t) for t in df["task_type"]],
        "办理环节": [STATUS_ZH.get(s, s) for s in df["status"]],
        "办理期限": [d.isoformat() for d in due],
        "逾期工作日": late.astype(int),
        "预警等级": [BUCKET_ZH.get(bounds.bucket(d), "") for d in due],
        "所在网格": [" ".join(x for x in (names.get(g[:9], ""), names.get(g, g)) if x) for g in df["grid_code"].astype(str)],
        "责任部门": [depts.get(str(d), str(d)) for d in df["dept_id"]],
        "统一社会信用代码": df["credit_code"].fillna("").astype(str),
    })


def _risk_top(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules) -> pd.DataFrame:
    df = top_entities(db, flt, asof, rules, limit=RISK_ROWS)
    df = df[df["grade"].isin(["red", "orange"])]
    names = region_names(db, sorted({str(g)[:9] for g in df["grid_code"]}))
    return pd.DataFrame({
        "序号": range(1, len(df) + 1), "主体名称": df["name"].astype(str),
        "统一社会信用代码": df["credit_code"].astype(str),
        "镇街": [names.get(str(g)[:9], str(g)[:9]) for g in df["grid_code"]],
        "风险评分": [f"{float(s):.1f}" for s in df["score"]],
        "风险等级": [GRADE_ZH.get(g, g) for g in df["grade"]],
        "投诉": df["complaints"].astype(int), "处罚": df["penalties"].astype(int),
        "不合格批次": df["failed_batches"].astype(int),
    })


def _alerts(db: Engine, flt: Filter, period: ReportPeriod) -> pd.DataFrame:
    df = batch_alerts(db, flt, period.start, period.end)
    return pd.DataFrame({
        "产品批号": df["batch_no"].astype(str),
        "首次抽检不合格": [pd.Timestamp(d).date().isoformat() for d in df["first_fail"]],
        "辖区涉及主体": df["entities"].astype(int), "涉及镇街": df["towns"].astype(int),
    })


def _random(db: Engine, flt: Filter, asof: dt.date) -> tuple[pd.DataFrame, str]:
    """双随机抽查 at the period end: per credit-risk class the firms inspected, the problems found
    and the rate (docs/double_random.md), and a sentence with drawn, done and overdue."""
    figs, rates = random_figures(db, flt.region, asof), class_rates(db, flt.region, asof)
    table = pd.DataFrame({
        "信用风险分类": [f"{c}类" for c in rates["credit_class"]], "已检查（户）": rates["checked"].astype(int),
        "发现问题（户）": rates["problems"].astype(int),
        "问题发现率（%）": ["—" if pd.isna(r) else f"{100 * r:.1f}" for r in rates["rate"]]})
    if not figs["drawn"]:
        return table, "截至期末本区域尚无双随机抽查计划。"
    return table, (f"截至期末，双随机抽查共抽取 {figs['drawn']:,} 户，已检查 {figs['done']:,} 户"
                   f"（完成率 {100 * figs['done'] / figs['drawn']:.1f}%），逾期未检查 {figs['overdue']:,} 户，"
                   f"发现问题 {figs['problems']:,} 户。")


# ----------------------------------------------------------------------------- summary
def summary_sentences(d: ReportData) -> list[str]:
    """The written summary: each sentence carries its numbers and comparisons."""
    h = d.headlines.set_index("indicator_id")
    this = d.period.this
    out: list[str] = []

    def v(i: str) -> str:
        text = fmt_value(CATALOGUE[i], h.loc[i, "value"])
        return text + "%" if CATALOGUE[i].unit == "%" and text != "—" else text

    late = warned_sources(d.quality)
    quality = ([f"数据质量提示：{'、'.join(late)}{'等 ' + str(len(late)) + ' 个数据源' if len(late) > 2 else ''}"
                "本期迟报或不完整，相关指标可能偏低（详见数据质量说明）。"] if late else [])
    if not d.has_data:
        return [f"{d.period.label}，{d.region_name}没有登记、投诉举报、执法检查或监管任务等业务数据（本期无数据），"
                "本报告各项期内指标均为零，请核实数据报送情况。",
                f"期末存续市场主体 {v('entity_stock')} 户，期末在办逾期任务 {v('tasks_overdue')} 件。"] + quality

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
    return out + quality
