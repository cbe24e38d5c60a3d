"""How the measures of :mod:`queries.indicator_values` become SQL: which table answers each
(a rollup where it can, the raw source otherwise) and how several periods are asked in one
query — a flow counts each row once per period containing it, a stock reads its total once
and the changes after each period's end once (:func:`stock_periods_sql`)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable, Sequence

from indicators.event_types import event_types
from indicators.model import Measure
from indicators.periods import Period
from queries.discipline import FIRM_FLAGS
from queries.joint import ACTIONS_ASOF as JOINT_ACTIONS_ASOF, CASES as JOINT_CASES
from queries.quality import INGEST_QUALITY
from queries.random_checks import ITEMS_ASOF
from queries.risk_score import ENTITY_RISK
from queries.risk_snapshots import SCORES_FROM, grades_from, rewrite_grades
from queries.tasks import TASK_ASOF
from store.rollups import family_for, rewrite
from store.sql import typed_array

_PREFILTER = {"events": "AND event_date >= %(start)s AND event_date <= %(end)s",
              "task_events": "AND event_date >= %(start)s AND event_date <= %(end)s",
              "ingest_quality": "AND toDate(received_at) >= %(start)s AND toDate(received_at) <= %(end)s"}
#: Sources that are not tables: the FROM item each stands for.
_FROM = {"task_asof": TASK_ASOF, "entity_risk": ENTITY_RISK, "ingest_quality": INGEST_QUALITY, "random_items": ITEMS_ASOF,
         "inspection_firms": FIRM_FLAGS, "joint_cases": JOINT_CASES, "joint_actions": JOINT_ACTIONS_ASOF}
#: Flow sources: rows dated within a period (the column that dates them). Several periods
#: of one flow source are answered by one query that counts each row once per period
#: containing it (:func:`period_sql`).
PERIOD_COL = {"events": "event_date", "task_events": "event_date", "ingest_quality": "toDate(received_at)"}
#: The time column of each flow source (a comparison period cut at a time of day).
TIME_COL = {"events": "event_time", "task_events": "event_time", "ingest_quality": "received_at"}
#: Aggregates whose value over a period is not the sum of its values over the period's parts.
_NOT_ADDITIVE = re.compile(r"\b(uniq\w*|avg\w*|min\w*|max\w*|any\w*|argM\w+|quantile\w*|median\w*)\(")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _period_end(n: int) -> str:
    """A period's end inside a query over ``n`` periods (``_period``: 1-based, ``%(end_k)s``)."""
    return f"arrayElement({typed_array('end', n)}, _period)"


@dataclass(frozen=True)
class Query:
    """One SQL of an indicator computation: its FROM item, the filter its rows need besides
    the region, and the measures (with the expression each is computed by) it answers;
    ``periods_from``: for a stock rollup, the FROM item answering n period ends at once."""
    name: str
    from_item: str
    prefilter: str
    exprs: list[tuple[Measure, str]]
    periods_from: Callable[[int], str] | None = None

    def types_filter(self, source: str) -> tuple[str, dict[str, object]]:
        """A condition narrowing the rows to the event types the measures need (events only),
        with its parameters; empty when they cannot be told."""
        types = event_types(e for _, e in self.exprs) if source == "events" else None
        return ("AND event_type IN %(types)s", {"types": types}) if types else ("", {})

    def split_periods(self) -> tuple["Query | None", "Query | None"]:
        """(the measures one query can answer for several period ends at once — a stock
        rollup's whose expressions depend on the period only through its end —, the others,
        asked once per period); None for an empty part."""
        if self.periods_from is None:
            return None, self
        span = [(m, e) for m, e in self.exprs if set(_PLACEHOLDER.findall(e)) <= {"end"}]
        rest = [(m, e) for m, e in self.exprs if set(_PLACEHOLDER.findall(e)) - {"end"}]
        return (replace(self, exprs=span) if span else None), (replace(self, exprs=rest) if rest else None)


def plan(source: str, measures: list[Measure], level: str | None) -> list[Query]:
    """The queries answering ``measures`` of ``source``: the measures a rollup of
    ``level`` can answer exactly read it (store.rollups), the others the raw source
    (``level`` None: raw only)."""
    raw = Query(f"indicators_{source}", _FROM.get(source, source), _PREFILTER.get(source, ""),
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
        out.insert(0, Query(name, family.stock_from(level), "", fast, partial(family.stock_periods_from, level))
                   if family.stock else Query(name, family.table(level), raw.prefilter, fast))
    return out


def plan_risk(measures: list[Measure], level: str | None) -> list[Query]:
    """Risk measures answered from a risk snapshot (queries.risk_snapshots): counts per grade of
    the level where they can, the snapshot's scored entities otherwise."""
    rolled = [(m, rewrite_grades(m.expr) if level else None) for m in measures]
    fast = [(m, e) for m, e in rolled if e is not None]
    slow = [(m, m.expr) for m, e in rolled if e is None]
    return (([Query(f"indicators_risk_grades_{level}", grades_from(level), "", fast)] if fast else [])
            + ([Query("indicators_risk_scores", SCORES_FROM, "", slow)] if slow else []))


def pieces(source: str, measures: list[Measure], level: str | None, periods: Sequence[Period],
           aliases: dict[Measure, str]) -> list[tuple[list[Query], list[tuple]]]:
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
    raw_plan = plan(source, measures, None)
    out = [(plan(source, measures, level), whole)] if whole else []
    if part and additive:
        out.append((plan(source, [m for m in measures if aliases[m] in additive], None), part))
    if cut_all:
        out.append(([replace(q, exprs=[(m, e) for m, e in q.exprs if aliases[m] not in additive])
                     for q in raw_plan], cut_all))
    return out


def period_params(parts: list[tuple]) -> dict[str, object]:
    """The parameters of :func:`period_sql` for ``parts`` (:func:`pieces`' second element)."""
    out: dict[str, object] = {"first": min(p[1].start for p in parts)}
    for k, p in enumerate(parts):
        out[f"start_{k}"], out[f"end_{k}"] = p[1].start, p[1].end
        if p[3]:
            out[f"until_{k}"] = p[3]
    return out


def period_sql(q: Query, key: str, cols: str, col: str, n: int, narrow: str = "", time_col: str = "") -> str:
    """``q`` over ``n`` periods at once (``%(start_k)s``/``%(end_k)s``): each row counts once
    for every period containing it, under ``_period`` (1-based); with ``time_col``, a row of a
    period's last day counts only up to ``%(until_k)s`` (its time that day). Rows are read from
    the periods' days only (``start_k``/``end_k``, which the date-first sorting key narrows: a
    day this year, one last month and one a year ago read three days, not a year)."""
    starts, ends = typed_array("start", n), typed_array("end", n)
    cut = (f"AND ({col} < arrayElement({ends}, i) OR "
           f"{time_col} <= arrayElement({typed_array('until', n, 'toDateTime')}, i))") if time_col else ""
    # ClickHouse 18.16 reads a column named only inside the lambda as unknown: named in WHERE too.
    narrow += f" AND toDate({time_col}) >= %(first)s" if time_col else ""
    days = " OR ".join(f"({col} >= %(start_{k})s AND {col} <= %(end_{k})s)" for k in range(n))
    # An ARRAY JOIN clause, not arrayJoin() in the SELECT list: over a Distributed table 18.16
    # loses the latter's alias ("Not found column arrayJoin(…)"; tests/test_replicas.py).
    return (f"SELECT _period, {key} AS region_code, {cols} FROM ("
            f"SELECT *, _period FROM {q.from_item} "
            f"ARRAY JOIN arrayFilter(i -> {col} >= arrayElement({starts}, i) "
            f"AND {col} <= arrayElement({ends}, i) {cut}, arrayEnumerate({starts})) AS _period "
            f"WHERE grid_code LIKE %(like)s AND ({days}) {narrow}"
            f") GROUP BY _period, region_code")


def stock_periods_sql(q: Query, key: str, aliases: dict[Measure, str], n: int) -> str:
    """A stock rollup query (the first part of :meth:`Query.split_periods`) for every end ``%(end_k)s`` at once,
    under ``_period`` (1-based): the total is read once and the changes after the earliest
    end once (``%(first_end)s``), each change counted for the ends it comes after; ``n`` ends
    (:func:`stock_periods_params`)."""
    cols = ", ".join(f"{e.replace('%(end)s', _period_end(n))} AS {aliases[m]}" for m, e in q.exprs)
    assert q.periods_from is not None
    return (f"SELECT _period, {key} AS region_code, {cols} FROM {q.periods_from(n)} "
            f"WHERE grid_code LIKE %(like)s GROUP BY _period, region_code")


def stock_periods_params(ends: list[dt.date]) -> dict[str, object]:
    """The parameters of :func:`stock_periods_sql` for ``ends``."""
    return {"first_end": min(ends), **{f"end_{k}": e for k, e in enumerate(ends)}}
