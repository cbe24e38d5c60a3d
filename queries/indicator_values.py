"""Computing indicators: one SQL per source table for any set of indicators.

For a region (or each of its children) and a period, every measure on the same
source is an aggregate column of one ``GROUP BY`` query; ratios are divided
here. Comparisons (环比, 同比) ask for the shifted periods too: a flow source answers all
periods in one query, and so does a stock rollup (queries.indicator_plan); other stock
sources run once per period end. Every query of a computation runs side by side.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from queries.indicator_plan import (PERIOD_COL, TIME_COL, period_params, period_sql, pieces, plan, plan_risk,
                                    stock_periods_params, stock_periods_sql)
from queries.risk_snapshots import usable
from store.rollups import level_for, rollups_enabled
from indicators.model import Indicator, Measure
from indicators.periods import Period, previous_period, year_ago
from store.engine import Engine
from store.executor import run
from store.filters import Filter
from store.parallel import run_all
from queries.discipline import discipline_params
from queries.regions import region_node
from queries.risk_score import risk_params
from domain.errors import ConfigurationProblem
from domain.holiday_file import HolidayFileError
from settings import ConfigError, Settings
from supervision.discipline import InspectionRules
from supervision.risk import RiskRules
from supervision.rules import TaskRules, bucket_bounds

#: What a screen says when an operator's setting keeps task indicators from being computed.
TASK_RULES_MESSAGE = "任务督办规则配置不正确，任务类指标暂无法计算，请联系系统管理员"
CALENDAR_MESSAGE = "节假日安排文件有误，任务类指标暂无法计算，请联系系统管理员"
RISK_RULES_MESSAGE = "风险评分规则配置不正确，风险类指标暂无法计算，请联系系统管理员"
INSPECT_RULES_MESSAGE = "涉企检查规则配置不正确（检查时限、年度上限），相关指标暂无法计算，请联系系统管理员"


def _task_rules() -> TaskRules:
    try:
        return TaskRules.from_env()
    except ConfigError as exc:
        raise ConfigurationProblem(f"task rules: {exc}", user_message=TASK_RULES_MESSAGE) from None


def _bucket_params(asof: dt.date) -> dict[str, object]:
    rules = _task_rules()
    try:
        return bucket_bounds(asof, rules).params()
    except HolidayFileError as exc:
        raise ConfigurationProblem(f"holiday file: {exc}", user_message=CALENDAR_MESSAGE) from None


def _discipline_params() -> dict[str, int]:
    try:
        return discipline_params(InspectionRules.from_env())
    except ConfigError as exc:
        raise ConfigurationProblem(f"inspection rules: {exc}", user_message=INSPECT_RULES_MESSAGE) from None


def _risk_rules() -> RiskRules:
    try:
        return RiskRules.from_env()
    except ConfigError as exc:
        raise ConfigurationProblem(f"risk rules: {exc}", user_message=RISK_RULES_MESSAGE) from None

VALUE_COLUMNS = ["indicator_id", "region_code", "region_name", "numerator", "denominator", "value", "grade"]


def _measures(indicators: Iterable[Indicator]) -> dict[str, list[Measure]]:
    by_source: dict[str, list[Measure]] = {}
    for ind in indicators:
        for m in (ind.numerator, ind.denominator):
            if m is not None and m not in by_source.setdefault(m.source, []):
                by_source[m.source].append(m)
    return by_source


def measure_tables(db: Engine, indicators: Sequence[Indicator], flt: Filter, periods: Sequence[Period],
                   by_child: bool) -> tuple[list[pd.DataFrame], dict[Measure, str]]:
    """One table per period: rows = regions (the region itself, or each child), columns =
    measure aliases."""
    node = region_node(db, flt.region, flt.scope)
    if by_child:
        regions = node.children[["code", "name"]].rename(columns={"code": "region_code",
                                                                   "name": "region_name"})
    else:
        regions = pd.DataFrame({"region_code": [node.code], "region_name": [node.name]})
    regions = regions.reset_index(drop=True)
    aliases: dict[Measure, str] = {}
    if by_child and node.child_length is None:
        return [regions.copy() for _ in periods], aliases
    index = pd.Index(regions["region_code"])
    columns: list[dict[str, np.ndarray]] = [{} for _ in periods]  # per period: alias → values per region

    def add(i: int, part: pd.DataFrame, only: set[str] | None = None) -> None:
        """Add ``part`` (a query's rows) to period ``i``'s columns (``only``: those aliases);
        a period answered in pieces (a whole-day part and a part-day) sums them."""
        part = part.set_index("region_code").reindex(index)  # one row per region (GROUP BY)
        for col in part.columns:
            if only is not None and col not in only:
                continue
            values = np.nan_to_num(part[col].to_numpy(dtype=float))
            columns[i][col] = values + columns[i][col] if col in columns[i] else values
    base = {"like": flt.like, "region": flt.region, "n": node.child_length or 0}
    by_source = _measures(indicators)
    if "task_events" in by_source:  # the push limit of 推送及时率 (JINJIAN_TASK_PUSH_MINUTES)
        base["push_limit"] = _task_rules().push_minutes * 60
    if "ingest_quality" in by_source:  # batches sent without a region scope belong to the jurisdiction root
        base["root"] = Settings.from_env().root_region
    if any(m.source == "inspection_firms" or "%(spare)s" in m.expr for ms in by_source.values() for m in ms):
        base.update(_discipline_params())  # 涉企检查: JINJIAN_INSPECT_WINDOW_DAYS, JINJIAN_INSPECT_MAX_PER_YEAR
    level = level_for(flt.region, node.child_length if by_child else None) if rollups_enabled() else None
    key = "substring(grid_code, 1, %(n)s)" if by_child else "%(region)s"
    group = "GROUP BY region_code" if by_child else ""
    # (periods: [(period index, aliases it answers or None)] by the result's ``_period``, or one
    # period index for a result without it; executor name; SQL; parameters)
    pending: list[tuple[list[tuple[int, set[str] | None]] | int, str, str, dict[str, object]]] = []
    for source, measures in by_source.items():
        for m in measures:
            aliases.setdefault(m, f"m{len(aliases)}")
        if source in PERIOD_COL and (len(periods) > 1 or periods[0].until is not None):
            for qs, parts in pieces(source, measures, level, periods, aliases):
                for q in qs:
                    cols = ", ".join(f"{expr} AS {aliases[m]}" for m, expr in q.exprs)
                    narrow, extra = q.types_filter(source)
                    cut = parts[0][3] is not None
                    pending.append(([(i, only) for i, _piece, only, _until in parts],
                                    f"{q.name}_periods{'_cut' if cut else ''}",
                                    period_sql(q, key, cols, PERIOD_COL[source], len(parts), narrow,
                                               TIME_COL[source] if cut else ""),
                                    {**base, **extra, **period_params(parts)}))
            continue
        for i, period in enumerate(periods):
            # ``until``: the period's last moment (its time of day when cut: like with like).
            params = {**base, "start": period.start, "end": period.end,
                      "until": f"{period.end:%Y-%m-%d} {period.until or dt.time(23, 59, 59):%H:%M:%S}"}
            snapshot = None
            if source == "task_asof":
                params.update(_bucket_params(period.end))
            if source == "entity_risk":
                rules = _risk_rules()
                snapshot = usable(db, flt.region, period.end, rules)
                params.update(risk_params(flt, period.end, rules), **({"sid": snapshot.id} if snapshot else {}))
            for q in plan_risk(measures, level) if snapshot else plan(source, measures, level):
                if len(periods) > 1:  # what a stock rollup answers for every period end in one query
                    span, q = q.split_periods()
                    if span is not None and i == 0:
                        pending.append(([(k, None) for k in range(len(periods))], f"{span.name}_periods",
                                        stock_periods_sql(span, key, aliases, len(periods)),
                                        {**base, **stock_periods_params([p.end for p in periods])}))
                    if q is None:
                        continue
                cols = ", ".join(f"{expr} AS {aliases[m]}" for m, expr in q.exprs)
                narrow, extra = q.types_filter(source)
                sql = (f"SELECT {key} AS region_code, {cols} FROM {q.from_item} "
                       f"WHERE grid_code LIKE %(like)s {q.prefilter} {narrow} {group}")
                pending.append((i, q.name, sql, {**params, **extra}))
    # The queries are independent: side by side (store.parallel).
    answers = run_all({str(k): (lambda p=p: run(db, p[1], p[2], p[3])) for k, p in enumerate(pending)})
    for k, (spread, *_rest) in enumerate(pending):
        if isinstance(spread, int):
            add(spread, answers[str(k)])
            continue
        df = answers[str(k)]
        for n, (i, only) in enumerate(spread):
            add(i, df[df["_period"] == n + 1].drop(columns="_period"), only)
    zero = np.zeros(len(regions))  # a measure no row had (or no query ran for) is 0
    tables = [pd.concat([regions, pd.DataFrame({a: np.nan_to_num(cols.get(a, zero)) for a in aliases.values()},
                                               index=regions.index)], axis=1) for cols in columns]
    return tables, aliases


def compute(db: Engine, indicators: Sequence[Indicator], flt: Filter, period: Period,
            by_child: bool = False) -> pd.DataFrame:
    """Long table: one row per indicator × region with numerator, denominator,
    value (× scale; NaN when the denominator is 0) and warning grade."""
    return compute_periods(db, indicators, flt, [period], by_child)[0]


def compute_periods(db: Engine, indicators: Sequence[Indicator], flt: Filter, periods: Sequence[Period],
                    by_child: bool = False) -> list[pd.DataFrame]:
    """:func:`compute` for each of ``periods`` (flows of one source in one query)."""
    tables, alias = measure_tables(db, indicators, flt, periods, by_child)
    return [_values(indicators, table, alias) for table in tables]


def _values(indicators: Sequence[Indicator], table: pd.DataFrame, alias: dict[Measure, str]) -> pd.DataFrame:
    """One row per indicator × region (indicators in order), built as arrays: this runs for
    every period of every screen, and a frame per indicator cost more than the queries."""
    if not indicators:
        return pd.DataFrame(columns=VALUE_COLUMNS)
    n = len(table)
    out: dict[str, list] = {c: [] for c in VALUE_COLUMNS}
    codes, names = table["region_code"].to_numpy(), table["region_name"].to_numpy()
    for ind in indicators:
        num = table[alias[ind.numerator]].to_numpy(dtype=float) if alias else np.full(n, np.nan)
        if ind.denominator and alias:
            den = table[alias[ind.denominator]].to_numpy(dtype=float)
            value = np.where(den != 0, num / np.where(den != 0, den, 1) * ind.scale, np.nan)
        else:
            den, value = np.full(n, np.nan), num * ind.scale
        out["indicator_id"].extend([ind.id] * n)
        out["region_code"].extend(codes)
        out["region_name"].extend(names)
        out["numerator"].extend(num)
        out["denominator"].extend(den)
        out["value"].extend(value)
        out["grade"].extend(ind.thresholds.grade(v) if ind.thresholds else None for v in value)
    return pd.DataFrame({c: out[c] for c in VALUE_COLUMNS}).astype(
        {"numerator": float, "denominator": float, "value": float})


def _change(cur: float, prev: float) -> float:
    if prev is None or cur is None or math.isnan(prev) or math.isnan(cur) or prev == 0:
        return math.nan
    return (cur - prev) / abs(prev)


def compute_with_comparisons(db: Engine, indicators: Sequence[Indicator], flt: Filter, period: Period,
                             grain: str, by_child: bool = False, now: dt.datetime | None = None) -> pd.DataFrame:
    """:func:`compute` plus ``prev_value``, ``yoy_value``, ``mom`` (环比) and
    ``yoy`` (同比) as relative changes; NaN where not meaningful. A period ending today
    (``now``'s date; default the clock) is compared until the same time of day."""
    comparable = [i for i in indicators if i.comparable]
    if not comparable:
        cur = compute(db, indicators, flt, period, by_child)
        return cur.assign(prev_value=np.nan, yoy_value=np.nan, mom=np.nan, yoy=np.nan)
    cur, prev, ago = compute_periods(db, indicators, flt, [period, previous_period(period, grain, now),
                                                           year_ago(period, now)], by_child)
    return with_comparisons(cur, prev, ago, {i.id for i in comparable})


def with_comparisons(cur: pd.DataFrame, prev: pd.DataFrame, ago: pd.DataFrame,
                     comparable: set[str]) -> pd.DataFrame:
    """``cur`` with ``prev_value``, ``yoy_value``, ``mom`` and ``yoy`` from the frames of the
    previous period and of a year ago (only for the ``comparable`` indicators)."""
    key = ["indicator_id", "region_code"]
    out = cur
    for label, other in (("prev_value", prev), ("yoy_value", ago)):
        other = other[other["indicator_id"].isin(comparable)][key + ["value"]].rename(columns={"value": label})
        out = out.merge(other, on=key, how="left")
    out["mom"] = [_change(c, p) for c, p in zip(out["value"], out["prev_value"])]
    out["yoy"] = [_change(c, p) for c, p in zip(out["value"], out["yoy_value"])]
    return out


def tolerant(fn, inds: list, problems: list[ConfigurationProblem], frames: int = 1) -> list[pd.DataFrame]:
    """``fn(inds)``: ``frames`` frames of compute rows. When an operator's setting breaks some
    of the indicators (task rules, the holiday file), the others are computed one by one and
    the broken ones left out: the screen shows the rest, and says what is wrong."""
    try:
        return fn(inds)
    except ConfigurationProblem as exc:
        problems.append(exc)
    parts = []
    for ind in inds:
        try:
            parts.append(fn([ind]))
        except ConfigurationProblem:
            continue
    empty = pd.DataFrame(columns=["indicator_id", "region_code", "region_name", "value", "mom"])
    return [pd.concat([p[k] for p in parts], ignore_index=True) if parts else empty for k in range(frames)]
