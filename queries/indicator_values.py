"""Computing indicators: one SQL per source table for any set of indicators.

For a region (or each of its children) and a period, every measure on the same
source is an aggregate column of one ``GROUP BY`` query; ratios are divided
here. Comparisons (环比, 同比) ask for the shifted periods too: a flow source answers all
periods in one query, a stock source runs once per period end.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from queries.risk_snapshots import SCORES_FROM, grades_from, rewrite_grades, usable
from store.rollups import family_for, level_for, rewrite, rollups_enabled
from indicators.event_types import event_types
from indicators.model import Indicator, Measure
from indicators.periods import Period, previous_period, year_ago
from store.engine import Engine
from store.executor import run
from store.filters import Filter
from store.parallel import run_all
from queries.quality import INGEST_QUALITY
from queries.discipline import FIRM_FLAGS, discipline_params
from queries.joint import ACTIONS_ASOF as JOINT_ACTIONS_ASOF, CASES as JOINT_CASES
from queries.random_checks import ITEMS_ASOF
from queries.regions import region_node
from queries.risk_score import ENTITY_RISK, risk_params
from queries.tasks import TASK_ASOF
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

_PREFILTER = {"events": "AND event_date >= %(start)s AND event_date <= %(end)s",
              "task_events": "AND event_date >= %(start)s AND event_date <= %(end)s",
              "ingest_quality": "AND toDate(received_at) >= %(start)s AND toDate(received_at) <= %(end)s"}
#: Sources that are not tables: the FROM item each stands for.
_FROM = {"task_asof": TASK_ASOF, "entity_risk": ENTITY_RISK, "ingest_quality": INGEST_QUALITY, "random_items": ITEMS_ASOF,
         "inspection_firms": FIRM_FLAGS, "joint_cases": JOINT_CASES, "joint_actions": JOINT_ACTIONS_ASOF}
VALUE_COLUMNS = ["indicator_id", "region_code", "region_name", "numerator", "denominator", "value", "grade"]


def _measures(indicators: Iterable[Indicator]) -> dict[str, list[Measure]]:
    by_source: dict[str, list[Measure]] = {}
    for ind in indicators:
        for m in (ind.numerator, ind.denominator):
            if m is not None and m not in by_source.setdefault(m.source, []):
                by_source[m.source].append(m)
    return by_source


#: Flow sources: rows dated within a period (the column that dates them). Several periods
#: of one flow source are answered by one query that counts each row once per period
#: containing it (:func:`_period_sql`).
_PERIOD_COL = {"events": "event_date", "task_events": "event_date", "ingest_quality": "toDate(received_at)"}


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
    pending: list[tuple[int, str, str, dict[str, object]]] = []  # (period index, name, SQL, parameters)
    for source, measures in by_source.items():
        for m in measures:
            aliases.setdefault(m, f"m{len(aliases)}")
        if source in _PERIOD_COL and (len(periods) > 1 or periods[0].until is not None):
            for plan, pieces in _pieces(source, measures, level, periods, aliases):
                for q in plan:
                    cols = ", ".join(f"{expr} AS {aliases[m]}" for m, expr in q.exprs)
                    narrow, extra = q.types_filter(source)
                    cut = pieces[0][3] is not None
                    df = run(db, f"{q.name}_periods{'_cut' if cut else ''}",
                             _period_sql(q, key, cols, _PERIOD_COL[source], narrow, _TIME_COL[source] if cut else ""),
                             {**base, **extra, "starts": [p[1].start for p in pieces],
                              "ends": [p[1].end for p in pieces], "untils": [p[3] or "" for p in pieces],
                              "first": min(p[1].start for p in pieces), "last": max(p[1].end for p in pieces)})
                    for k, (i, _piece, only, _until) in enumerate(pieces):
                        add(i, df[df["_period"] == k + 1].drop(columns="_period"), only)
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
            plan = _plan_risk(measures, level) if snapshot else _plan(source, measures, level)
            for q in plan:
                cols = ", ".join(f"{expr} AS {aliases[m]}" for m, expr in q.exprs)
                narrow, extra = q.types_filter(source)
                sql = (f"SELECT {key} AS region_code, {cols} FROM {q.from_item} "
                       f"WHERE grid_code LIKE %(like)s {q.prefilter} {narrow} {group}")
                pending.append((i, q.name, sql, {**params, **extra}))
    # The remaining queries are independent: side by side (store.parallel).
    answers = run_all({str(k): (lambda p=p: run(db, p[1], p[2], p[3])) for k, p in enumerate(pending)})
    for k, (i, *_rest) in enumerate(pending):
        add(i, answers[str(k)])
    tables = []
    for cols in columns:
        table = regions.copy()
        for alias in aliases.values():  # a measure no row had (or no query ran for) is 0
            values = cols.get(alias)
            table[alias] = 0 if values is None else pd.Series(values, index=table.index).fillna(0)
        tables.append(table)
    return tables, aliases


#: The time column of each flow source (a comparison period cut at a time of day).
_TIME_COL = {"events": "event_time", "task_events": "event_time", "ingest_quality": "received_at"}
#: Aggregates whose value over a period is not the sum of its values over the period's parts.
_NOT_ADDITIVE = re.compile(r"\b(uniq\w*|avg\w*|min\w*|max\w*|any\w*|argM\w+|quantile\w*|median\w*)\(")


def _pieces(source: str, measures: list[Measure], level: str | None, periods: Sequence[Period],
            aliases: dict[Measure, str]) -> list[tuple[list["_Query"], list[tuple]]]:
    """How the periods of one flow source are queried: (plan, pieces), each piece
    (period index, days, aliases it answers or None for all, time-of-day bound or None).

    Whole-day periods go together, by rollups where they can. A period cut at a time of
    day (:attr:`Period.until`) is its whole days (rollups) plus its last day until then
    (raw rows) for the measures that add up; the others read raw rows over the whole cut period."""
    whole, part, cut_all = [], [], []
    additive = {aliases[m] for m in measures if not _NOT_ADDITIVE.search(m.expr)}
    for i, p in enumerate(periods):
        if p.until is None:
            whole.append((i, p, None, None))
            continue
        until = f"{p.end:%Y-%m-%d} {p.until:%H:%M:%S}"
        if p.end > p.start:
            whole.append((i, Period(p.start, p.end - dt.timedelta(days=1)), additive, None))
        part.append((i, Period(p.end, p.end), additive, until))
        if len(additive) < len(measures):
            cut_all.append((i, Period(p.start, p.end), None, until))
    raw_plan = _plan(source, measures, None)
    out = [(_plan(source, measures, level), whole)] if whole else []
    if part and additive:
        out.append((_plan(source, [m for m in measures if aliases[m] in additive], None), part))
    if cut_all:
        out.append(([replace(q, exprs=[(m, e) for m, e in q.exprs if aliases[m] not in additive])
                     for q in raw_plan], cut_all))
    return out


def _period_sql(q: "_Query", key: str, cols: str, col: str, narrow: str = "", time_col: str = "") -> str:
    """``q`` over several periods at once (``%(starts)s``/``%(ends)s``): each row counts once
    for every period containing it, under ``_period`` (1-based); with ``time_col``, a row of a
    period's last day counts only up to ``%(untils)s`` (its time that day)."""
    cut = (f"AND ({col} < toDate(arrayElement(array%(ends)s, i)) OR "
           f"{time_col} <= toDateTime(arrayElement(array%(untils)s, i)))") if time_col else ""
    # ClickHouse 18.16 reads a column named only inside the lambda as unknown: named in WHERE too.
    narrow += f" AND toDate({time_col}) >= %(first)s" if time_col else ""
    # An ARRAY JOIN clause, not arrayJoin() in the SELECT list: over a Distributed table 18.16
    # loses the latter's alias ("Not found column arrayJoin(…)"; tests/test_replicas.py).
    return (f"SELECT _period, {key} AS region_code, {cols} FROM ("
            f"SELECT *, _period FROM {q.from_item} "
            f"ARRAY JOIN arrayFilter(i -> {col} >= toDate(arrayElement(array%(starts)s, i)) "
            f"AND {col} <= toDate(arrayElement(array%(ends)s, i)) {cut}, arrayEnumerate(array%(starts)s)) AS _period "
            f"WHERE grid_code LIKE %(like)s AND {col} >= %(first)s AND {col} <= %(last)s {narrow}"
            f") GROUP BY _period, region_code")


@dataclass(frozen=True)
class _Query:
    """One SQL of :func:`measure_tables`: its FROM item, the filter its rows need besides the
    region, and the measures (with the expression each is computed by) it answers."""
    name: str
    from_item: str
    prefilter: str
    exprs: list[tuple[Measure, str]]

    def types_filter(self, source: str) -> tuple[str, dict[str, object]]:
        """A condition narrowing the rows to the event types the measures need (events only),
        with its parameters; empty when they cannot be told."""
        types = event_types(e for _, e in self.exprs) if source == "events" else None
        return ("AND event_type IN %(types)s", {"types": types}) if types else ("", {})


def _plan(source: str, measures: list[Measure], level: str | None) -> list[_Query]:
    """The queries answering ``measures`` of ``source``: the measures a rollup of
    ``level`` can answer exactly read it (store.rollups), the others the raw source
    (``level`` None: raw only)."""
    raw = _Query(f"indicators_{source}", _FROM.get(source, source), _PREFILTER.get(source, ""),
                 [(m, m.expr) for m in measures])
    family = family_for(source) if level else None
    if family is None:
        return [raw]
    rolled = [(m, rewrite(source, m.expr)) for m in measures]
    fast = [(m, e) for m, e in rolled if e is not None]
    slow = [(m, m.expr) for m, e in rolled if e is None]
    out = [replace(raw, exprs=slow)] if slow else []
    if fast:
        name = f"indicators_rollup_{family.name}_{level}"
        out.insert(0, _Query(name, family.stock_from(level), "", fast) if family.stock
                   else _Query(name, family.table(level), raw.prefilter, fast))
    return out


def _plan_risk(measures: list[Measure], level: str | None) -> list[_Query]:
    """Risk measures answered from a risk snapshot (queries.risk_snapshots): counts per grade of
    the level where they can, the snapshot's scored entities otherwise."""
    rolled = [(m, rewrite_grades(m.expr) if level else None) for m in measures]
    fast = [(m, e) for m, e in rolled if e is not None]
    slow = [(m, m.expr) for m, e in rolled if e is None]
    return (([_Query(f"indicators_risk_grades_{level}", grades_from(level), "", fast)] if fast else [])
            + ([_Query("indicators_risk_scores", SCORES_FROM, "", slow)] if slow else []))


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
