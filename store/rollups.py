"""Rollups: pre-aggregated tables kept up to date on every insert (docs/scale.md).

Screen queries (wall tiles, drill-down rankings, report indicators) count and sum
rows of ``events``, ``entities`` and ``task_events`` by region and date. A rollup
holds those counts already grouped by **day × region × the dimensions the
indicators filter on**, so a screen query reads thousands of rows instead of
millions.

Three families (:data:`FAMILIES`), each at three region levels (:data:`LEVELS`:
city, county and town prefixes of the grid code, kept in the column ``grid_code``
so that ``LIKE`` and ``substring`` work unchanged):

- ``rollup_events_<level>``: events per ``event_date`` × region × event type,
  entity type, detail and result, with ``n`` (count) and ``amount`` (sum). Answers
  flows (events dated within a period).
- ``rollup_entities_<level>``: the **change in the number of living entities** per
  ``day`` × region × entity type, industry, credit grade and list flags: ``d`` = +1 on
  the registration date and −1 on the date of cancellation or revocation (never
  before registration), ``capital`` the same for registered capital.
- ``rollup_tasks_<level>``: the **change in the number of tasks in each state**
  per ``day`` × region × task type, ``state`` and ``deadline``: every task event adds
  +1 to the state it starts and −1 to the state it ends (``from_status`` with its
  deadline ``stage_due``). Deadlines of closed tasks are not kept.

The two stock families also have ``<table>_total`` without the day: the figure at the
end of any day is the total minus the changes dated after it (:meth:`Family.stock_from`),
so a stock today reads a few hundred rows, and one a year ago the last year's changes.
This equals the catalogue's raw definitions exactly (``ALIVE``; ``TASK_ASOF``: a task's
state at a day's end is its last event on or before that day).

Maintenance: a materialized view feeds the town table from every insert into the raw
table (demo load, ingestion batch, or a cluster shard's local table); further views
cascade each insert into a level's table to the next coarser level and to its total.
Each table is a ``SummingMergeTree``; queries always ``sum()`` with ``GROUP BY``, so
rows not yet merged, or held on different shards, add up to the right answer.

Rows that ingestion deletes (a replaced entity version, a batch undone after a
crash) are not seen by a materialized view; :func:`store.rollup_tables.reconcile` then brings the town
table of the towns involved back to the raw rows by inserting the difference, which
the views carry to the coarser levels and totals. Run twice, the second run inserts
nothing.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from settings import _SPECS, parse_flag
from store.sql import typed_array

logger = logging.getLogger(__name__)

#: Region levels of the rollups, finest first: name → length of the region code kept.
LEVELS: dict[str, int] = {"town": 9, "county": 6, "city": 4}
FINEST = "town"
#: The deadline kept for closed tasks (no measure reads it).
NO_DEADLINE = "toDate('1970-01-01')"


@dataclass(frozen=True)
class Family:
    name: str                   # rollup_<name>_<level>
    source: str                 # the raw table its views read
    measure_source: str         # the catalogue's Measure.source it answers
    date_col: str               # the rollup's date column
    date_expr: str              # ... computed from the raw row
    dims: tuple[str, ...]       # dimensions kept besides date and region
    sums: tuple[str, ...]       # summed columns
    sum_exprs: tuple[str, ...]  # ... computed from the raw rows
    body: str                   # FROM … WHERE over the raw table: {src} = table, {where} = filter
    stock: bool = False         # has _total tables; answers "as of the end of a day"
    renames: tuple[tuple[str, str], ...] = ()  # (rollup column, raw column) as measures name them
    order: tuple[str, ...] = () # sorting key of the day tables, if not date, region, dims
    region_first: tuple[str, ...] = ()  # levels whose day tables are sorted by region, then date
    month_levels: tuple[str, ...] = ()  # levels that also keep the changes per month (``…_month``)

    def sorting_key(self, with_date: bool = True, level: str = "city") -> tuple[str, ...]:
        if not with_date:
            return self.key(False)
        if level in self.region_first:
            return ("grid_code", self.date_col, *self.dims)
        return self.order or self.key()

    def table(self, level: str) -> str:
        return f"rollup_{self.name}_{level}"

    def total(self, level: str) -> str:
        return f"rollup_{self.name}_{level}_total"

    def month_table(self, level: str) -> str:
        return f"rollup_{self.name}_{level}_month"

    def tables(self) -> list[str]:
        """Every table of the family, finest level first, each level before its total and month table."""
        return [t for level in LEVELS for t in (self.table(level), *((self.total(level),) if self.stock else ()),
                                                 *((self.month_table(level),) if level in self.month_levels else ()))]

    def kind_of(self, table: str) -> tuple[str, str]:
        """(level, 'day' | 'total' | 'month') of one of :meth:`tables`."""
        rest = table.removeprefix(f"rollup_{self.name}_")
        for kind in ("total", "month"):
            if rest.endswith(f"_{kind}"):
                return rest.removesuffix(f"_{kind}"), kind
        return rest, "day"

    def key(self, with_date: bool = True) -> tuple[str, ...]:
        """The columns that tell the rows of a day table apart, or of a total (``with_date`` False)."""
        return ((self.date_col,) if with_date else ()) + ("grid_code",) + self.dims

    def columns(self, with_date: bool = True) -> tuple[str, ...]:
        """In the order :meth:`select_sql` produces them."""
        return self.key(with_date) + self.sums

    def select_sql(self, level: str, src: str | None = None, where: str = "1", with_date: bool = True,
                   month: bool = False) -> str:
        """The rows of the ``level`` table (or total; ``month``: month table, dated the first of
        the month) computed from the raw table."""
        if month:  # an alias never names a column it is computed from (ClickHouse reads the alias there too)
            assert self.date_expr != self.date_col, self.name
            date = [f"toStartOfMonth({self.date_expr}) AS {self.date_col}"]
        else:
            date = [self.date_expr if self.date_expr == self.date_col else f"{self.date_expr} AS {self.date_col}"]
        head = (date if with_date else []) + [f"substring(grid_code, 1, {LEVELS[level]}) AS grid_code", *self.dims]
        sums = [f"{e} AS {s}" for e, s in zip(self.sum_exprs, self.sums)]
        return (f"SELECT {', '.join(head + sums)} {self.body.format(src=src or self.source, where=where)} "
                f"GROUP BY {', '.join(self.key(with_date))}")

    def measure_columns(self) -> set[str]:
        renamed = dict(self.renames)
        return {renamed.get(c, c) for c in ("grid_code",) + self.dims + self.sums}

    def stock_from(self, level: str) -> str:
        """A FROM item: the family's columns (under the names measures use) with the
        stock at the end of ``%(end)s`` as the sum of its rows: the total minus the
        changes dated after the end — from the day table within the end's month and from
        the month table after it, where the level has one (a year-ago stock reads a month
        of days and twelve months, not 365 days)."""
        cols, plus, minus = self._stock_columns()
        if level not in self.month_levels:
            return (f"(SELECT {cols}, {plus} FROM {self.total(level)} WHERE grid_code LIKE %(like)s "
                    f"UNION ALL SELECT {cols}, {minus} FROM {self.table(level)} "
                    f"WHERE grid_code LIKE %(like)s AND {self.date_col} > %(end)s)")
        month = "toStartOfMonth(toDate(%(end)s))"
        return (f"(SELECT {cols}, {plus} FROM {self.total(level)} WHERE grid_code LIKE %(like)s "
                f"UNION ALL SELECT {cols}, {minus} FROM {self.table(level)} WHERE grid_code LIKE %(like)s "
                f"AND {self.date_col} > %(end)s AND {self.date_col} < addMonths({month}, 1) "
                f"UNION ALL SELECT {cols}, {minus} FROM {self.month_table(level)} WHERE grid_code LIKE %(like)s "
                f"AND {self.date_col} > {month})")

    def stock_periods_from(self, level: str, n: int) -> str:
        """:meth:`stock_from` for the ``n`` ends ``%(end_k)s`` (k from 0)
        at once, under ``_period`` (1-based): the total once per end, each change after the
        earliest end (``%(first_end)s``) once per end it comes after. (ARRAY JOIN clauses, not
        arrayJoin(): see queries.indicator_plan.period_sql; the lambda's column is named in
        WHERE too.)"""
        cols, plus, minus = self._stock_columns()
        typed = typed_array("end", n)
        d, ends = self.date_col, f"arrayEnumerate({typed})"
        end = f"arrayElement({typed}, i)"
        total = (f"(SELECT _period, {cols}, {plus} FROM {self.total(level)} "
                 f"ARRAY JOIN {ends} AS _period WHERE grid_code LIKE %(like)s ")
        if level not in self.month_levels:
            return (total + f"UNION ALL SELECT _period, {cols}, {minus} FROM {self.table(level)} "
                    f"ARRAY JOIN arrayFilter(i -> {d} > {end}, {ends}) AS _period "
                    f"WHERE grid_code LIKE %(like)s AND {d} > %(first_end)s)")
        # Days within each end's month (only those are read), then the months after it.
        days = " OR ".join(f"({d} > %(end_{k})s AND {d} < addMonths(toStartOfMonth(toDate(%(end_{k})s)), 1))"
                           for k in range(n))
        return (total + f"UNION ALL SELECT _period, {cols}, {minus} FROM {self.table(level)} "
                f"ARRAY JOIN arrayFilter(i -> {d} > {end} AND {d} < addMonths(toStartOfMonth({end}), 1), {ends}) "
                f"AS _period WHERE grid_code LIKE %(like)s AND ({days}) "
                f"UNION ALL SELECT _period, {cols}, {minus} FROM {self.month_table(level)} "
                f"ARRAY JOIN arrayFilter(i -> {d} > toStartOfMonth({end}), {ends}) AS _period "
                f"WHERE grid_code LIKE %(like)s AND {d} > toStartOfMonth(toDate(%(first_end)s)))")

    def _stock_columns(self) -> tuple[str, str, str]:
        """(grid_code and the dimensions under the names measures use, the sums, the sums negated)."""
        renamed = dict(self.renames)
        dims = ", ".join(f"{c} AS {renamed[c]}" if c in renamed else c for c in self.dims)
        return (f"grid_code, {dims}", ", ".join(self.sums), ", ".join(f"-{s} AS {s}" for s in self.sums))


#: Bulk work in the background (a backfill of 100 million rows; a risk snapshot, which
#: groups every task and entity of a large city at 10 million entities): GROUP BYs continue
#: on disk past 1 GB instead of failing at the server's memory limit, and the screens' time
#: limit (JINJIAN_QUERY_TIMEOUT) does not apply.
SPILL = "SETTINGS max_bytes_before_external_group_by = 1000000000, max_execution_time = 0"

#: A stock at a past day reads the changes since then. A county or town asks for a sliver
#: of each day, so its day tables are sorted by region first (a year-ago stock of a county
#: reads its own rows, not a granule of every day); a city table is read by a province or
#: a city, most of each day, so date first stays cheaper there.
_SMALL_REGIONS = ("county", "town")

#: A city table is read by a province or a city for most of each day: a stock a year ago
#: would read a year of them. Its changes are also kept per month (``…_city_month``): the
#: days of the end's month, then a row per month after it.
_MONTHS = ("city",)

_END_DAY = ("if(status != 'active' AND isNotNull(status_date), "
            "greatest(assumeNotNull(status_date), reg_date), reg_date)")
_ENTITY_SIGN = "if(status != 'active' AND isNotNull(status_date), -1, 0)"

FAMILIES: dict[str, Family] = {f.name: f for f in (
    # Flows read a date range of one or a few event types: sorted by type, then date.
    Family("events", "events", "events", "event_date", "event_date",
           ("event_type", "entity_type", "detail", "result"), ("n", "amount"),
           ("toInt64(count())", "sum(amount)"), "FROM {src} WHERE {where}",
           order=("event_type", "event_date", "grid_code", "entity_type", "detail", "result")),
    Family("entities", "entities", "entities", "day", "change_day",
           ("entity_type", "industry", "credit_grade", "abnormal", "dishonest"), ("d", "capital"),
           ("toInt64(sum(sign))", "sum(capital * sign)"),
           f"FROM {{src}} ARRAY JOIN [reg_date, {_END_DAY}] AS change_day, [1, {_ENTITY_SIGN}] AS sign "
           "WHERE sign != 0 AND {where}", stock=True, region_first=_SMALL_REGIONS, month_levels=_MONTHS),
    Family("tasks", "task_events", "task_asof", "day", "event_date",
           ("task_type", "state", "deadline"), ("d",), ("toInt64(sum(sign))",),
           "FROM {src} ARRAY JOIN [toString(status), toString(from_status)] AS state, "
           f"[if(status = 'closed', {NO_DEADLINE}, due_date), if(from_status = 'closed', {NO_DEADLINE}, stage_due)]"
           " AS deadline, [1, if(from_status = 'none', 0, -1)] AS sign WHERE sign != 0 AND {where}",
           stock=True, renames=(("state", "status"), ("deadline", "due_date")), region_first=_SMALL_REGIONS,
           month_levels=_MONTHS),
)}


def rollups_enabled() -> bool:
    """JINJIAN_ROLLUPS (read per call, so a benchmark can compare both ways in one process)."""
    return parse_flag(os.environ.get("JINJIAN_ROLLUPS", _SPECS["JINJIAN_ROLLUPS"].default), "JINJIAN_ROLLUPS")


def rollup_tables() -> list[str]:
    return [t for f in FAMILIES.values() for t in f.tables()]


def families_of(table: str) -> list[Family]:
    """The families fed by the raw ``table``."""
    return [f for f in FAMILIES.values() if f.source == table]


def family_for(measure_source: str) -> Family | None:
    return next((f for f in FAMILIES.values() if f.measure_source == measure_source), None)


def level_for(region: str, child_length: int | None = None) -> str | None:
    """The coarsest rollup level that still answers a query on ``region`` (and its
    children), or None when the query is deeper than towns (raw tables are small there)."""
    depth = max(len(region), child_length or 0)
    fit = [lvl for lvl, n in LEVELS.items() if n >= depth]
    return min(fit, key=lambda lvl: LEVELS[lvl]) if fit else None


# -- rewriting indicator measures ------------------------------------------------------

_ALIVE = (r"reg_date <= %\(end\)s AND \(status = 'active' OR "
          r"ifNull\(status_date, toDate\('2100-01-01'\)\) > %\(end\)s\)")
_ALIVE_COUNT = re.compile(r"countIf\(" + _ALIVE)
_ALIVE_CAPITAL = re.compile(r"sumIf\(capital, " + _ALIVE)
#: Functions a rewritten measure may call: sums (additive over rollup rows) and scalar helpers.
_SAFE_FUNCTIONS = {"sum", "sumIf", "toDate", "ifNull", "if", "multiIf", "greatest", "least",
                   "IN", "AND", "OR", "NOT"}
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE"}


def rewrite(measure_source: str, expr: str) -> str | None:
    """``expr`` (an aggregate over the raw ``measure_source``) as the same aggregate over
    its family's rollup rows, or None when the rollup cannot answer it (a column it
    does not keep, a distinct count, a non-additive function)."""
    family = family_for(measure_source)
    if family is None:
        return None
    if family.name == "entities":  # only counts and sums of entities alive at the end
        out = _ALIVE_COUNT.sub("sumIf(d, 1", expr)
        capital = _ALIVE_CAPITAL.sub("sumIf(capital, 1", out)
        if "reg_date" in capital or "status" in capital or not additive(capital, family.measure_columns()):
            return None
        # Capital is a float: the total minus later changes leaves rounding dust (1e-9) where the
        # raw sum has none, so such a measure is rounded to millionths (a yuan's hundredths are kept).
        return capital if capital == out else f"round({capital}, 6)"
    out = counts_to_sums(expr, family.sums[0])
    return out if additive(out, family.measure_columns()) else None


def counts_to_sums(expr: str, count: str) -> str:
    """Row counts in ``expr`` as sums of the pre-aggregated count column ``count``."""
    return expr.replace("countIf(", f"sumIf({count}, ").replace("count()", f"sum({count})")


def additive(expr: str, columns: set[str]) -> bool:
    """Whether ``expr`` only sums (sum, sumIf) over ``columns`` with scalar helpers, so
    that it gives the same answer over pre-aggregated rows as over the rows they sum."""
    bare = re.sub(r"%\(\w+\)s", "", re.sub(r"'[^']*'", "''", expr))
    functions = set(re.findall(r"([A-Za-z_]\w*)\s*\(", bare))
    if not functions <= _SAFE_FUNCTIONS or not functions & {"sum", "sumIf"}:
        return False
    return set(re.findall(r"[A-Za-z_]\w*", bare)) - functions - _KEYWORDS <= columns


# -- creation ------------------------------------------------------------------------
