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
crash) are not seen by a materialized view; :func:`reconcile` then brings the town
table of the towns involved back to the raw rows by inserting the difference, which
the views carry to the coarser levels and totals. Run twice, the second run inserts
nothing.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Iterable

from queries.engine import Engine
from queries.executor import execute, run
from settings import _SPECS, parse_flag

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

    def tables(self) -> list[str]:
        """Every table of the family, finest level first, each level before its total."""
        return [t for level in LEVELS for t in (self.table(level), *((self.total(level),) if self.stock else ()))]

    def key(self, with_date: bool = True) -> tuple[str, ...]:
        """The columns that tell the rows of a day table apart, or of a total (``with_date`` False)."""
        return ((self.date_col,) if with_date else ()) + ("grid_code",) + self.dims

    def columns(self, with_date: bool = True) -> tuple[str, ...]:
        """In the order :meth:`select_sql` produces them."""
        return self.key(with_date) + self.sums

    def select_sql(self, level: str, src: str | None = None, where: str = "1", with_date: bool = True) -> str:
        """The rows of the ``level`` table (or total) computed from the raw table."""
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
        changes dated after the end."""
        renamed = dict(self.renames)
        dims = ", ".join(f"{c} AS {renamed[c]}" if c in renamed else c for c in self.dims)
        plus = ", ".join(self.sums)
        minus = ", ".join(f"-{s} AS {s}" for s in self.sums)
        return (f"(SELECT grid_code, {dims}, {plus} FROM {self.total(level)} WHERE grid_code LIKE %(like)s "
                f"UNION ALL SELECT grid_code, {dims}, {minus} FROM {self.table(level)} "
                f"WHERE grid_code LIKE %(like)s AND {self.date_col} > %(end)s)")


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

_END_DAY = ("if(status != 'active' AND isNotNull(status_date), "
            "greatest(assumeNotNull(status_date), reg_date), reg_date)")
_ENTITY_SIGN = "if(status != 'active' AND isNotNull(status_date), -1, 0)"

FAMILIES: dict[str, Family] = {f.name: f for f in (
    # Flows read a date range of one or a few event types: sorted by type, then date.
    Family("events", "events", "events", "event_date", "event_date",
           ("event_type", "entity_type", "detail", "result"), ("n", "amount"),
           ("toInt64(count())", "sum(amount)"), "FROM {src} WHERE {where}",
           order=("event_type", "event_date", "grid_code", "entity_type", "detail", "result")),
    Family("entities", "entities", "entities", "day", "day",
           ("entity_type", "industry", "credit_grade", "abnormal", "dishonest"), ("d", "capital"),
           ("toInt64(sum(sign))", "sum(capital * sign)"),
           f"FROM {{src}} ARRAY JOIN [reg_date, {_END_DAY}] AS day, [1, {_ENTITY_SIGN}] AS sign "
           "WHERE sign != 0 AND {where}", stock=True, region_first=_SMALL_REGIONS),
    Family("tasks", "task_events", "task_asof", "day", "event_date",
           ("task_type", "state", "deadline"), ("d",), ("toInt64(sum(sign))",),
           "FROM {src} ARRAY JOIN [toString(status), toString(from_status)] AS state, "
           f"[if(status = 'closed', {NO_DEADLINE}, due_date), if(from_status = 'closed', {NO_DEADLINE}, stage_due)]"
           " AS deadline, [1, if(from_status = 'none', 0, -1)] AS sign WHERE sign != 0 AND {where}",
           stock=True, renames=(("state", "status"), ("deadline", "due_date")), region_first=_SMALL_REGIONS),
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

def _existing(db: Engine) -> dict[str, tuple[str, str]]:
    """Rollup tables and views in the database: name → (engine, sorting key)."""
    df = run(db, "rollup_tables", "SELECT name, engine, sorting_key FROM system.tables WHERE database = %(db)s "
             "AND (name LIKE 'rollup%%' OR name LIKE 'mv_rollup%%')", {"db": db.database})
    return {n: (e, k) for n, e, k in zip(df["name"], df["engine"], df["sorting_key"])}


def _current(db: Engine, family: Family, have: dict[str, tuple[str, str]], sfx: str) -> bool:
    """Whether every table and view of ``family`` exists as this version declares it."""
    for table in family.tables():
        with_date = not table.endswith("_total")
        key = ",".join(family.sorting_key(with_date, _level(family, table)))
        if table + sfx not in have or have[table + sfx][1].replace(" ", "") != key:
            return False
        if _columns(db, table + sfx) != set(family.columns(with_date)):
            return False
    return all(v in have for v, _, _ in _views(family, sfx))


def _columns(db: Engine, table: str) -> set[str]:
    df = run(db, "rollup_columns", "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
             {"db": db.database, "t": table})
    return set(df["name"])


def _views(family: Family, sfx: str) -> list[tuple[str, str, str]]:
    """(view, target table, SELECT over the raw table) of the family: one per table, each
    fed by the raw table itself (ClickHouse 18.16 does not pass a view's rows on to the
    views of its target table)."""
    src = family.source + sfx
    out = []
    for level in LEVELS:
        out.append((f"mv_{family.table(level)}{sfx}", family.table(level) + sfx, family.select_sql(level, src)))
        if family.stock:
            out.append((f"mv_{family.total(level)}{sfx}", family.total(level) + sfx,
                        family.select_sql(level, src, with_date=False)))
    return out


def _level(family: Family, table: str) -> str:
    return table.removeprefix(f"rollup_{family.name}_").removesuffix("_total")


def _ddl(family: Family, table: str, sfx: str) -> str:
    total = table.endswith("_total")
    level = _level(family, table)
    partition = f"PARTITION BY toYYYYMM({family.date_col}) " if family.name == "events" else ""
    return (f"CREATE TABLE {table}{sfx} ENGINE = SummingMergeTree {'' if total else partition}"
            f"ORDER BY ({', '.join(family.sorting_key(not total, level))}) "
            f"AS {family.select_sql(level, family.source + sfx, '0', with_date=not total)}")


def create_rollups(db: Engine, local_suffix: str = "") -> list[str]:
    """Create the rollup tables and their views where missing or out of date, and fill a
    newly created family from the rows its raw table already holds (run it while no load
    is running). Rollup tables or views this version does not declare are dropped.
    ``local_suffix`` ('_local' on a cluster shard) names the tables the views read and
    write. Returns the families built."""
    have = _existing(db)
    sfx = local_suffix
    wanted = {t + sfx for t in rollup_tables()} | {v for f in FAMILIES.values() for v, _, _ in _views(f, sfx)}
    retired = [n for n in have if n not in wanted and n.endswith(sfx) and not n.startswith(".inner")]
    for name in sorted(retired, key=lambda n: have[n][0] != "MaterializedView"):  # views before their targets
        execute(db, "drop_retired_rollup", f"DROP TABLE IF EXISTS {name}")
    built = []
    for family in FAMILIES.values():
        if _current(db, family, have, sfx):
            continue
        drop_family(db, family, sfx)
        try:
            _build(db, family, sfx)
        except BaseException:  # half-filled tables would look current to the next init
            drop_family(db, family, sfx)
            raise
        built.append(family.name)
        logger.info("rollups of %s built from %s%s", family.name, family.source, sfx)
    return built


def _build(db: Engine, family: Family, sfx: str) -> None:
    for table in family.tables():
        execute(db, f"create_{table}", _ddl(family, table, sfx))
    for view, target, select in _views(family, sfx):
        execute(db, f"create_{view}", f"CREATE MATERIALIZED VIEW {view} TO {target} AS {select}")
    for table in family.tables():
        total = table.endswith("_total")
        execute(db, f"backfill_{table}", f"INSERT INTO {table}{sfx} ({', '.join(family.columns(not total))}) "
                f"{family.select_sql(_level(family, table), family.source + sfx, with_date=not total)} {SPILL}",
                bulk=True)


def drop_family(db: Engine, family: Family, local_suffix: str = "") -> None:
    for view, _, _ in _views(family, local_suffix):
        execute(db, "drop_rollup_view", f"DROP TABLE IF EXISTS {view}")
    for table in family.tables():
        execute(db, "drop_rollup", f"DROP TABLE IF EXISTS {table}{local_suffix}")


def drop_rollups(db: Engine, local_suffix: str = "") -> None:
    for family in FAMILIES.values():
        drop_family(db, family, local_suffix)


# -- keeping them exact --------------------------------------------------------------

def _diff_sql(family: Family, level: str, raw_where: str, rollup_where: str, with_date: bool = True) -> str:
    """Rows to add to the ``level`` table (or total) so that it equals the raw rows: the
    keys that differ, with raw − rollup."""
    key = ", ".join(family.key(with_date))
    table = family.table(level) if with_date else family.total(level)
    return (f"SELECT {key}, " + ", ".join(f"sum({s}) AS {s}" for s in family.sums) + " FROM ("
            f"{family.select_sql(level, where=raw_where, with_date=with_date)} UNION ALL "
            f"SELECT {key}, " + ", ".join(f"-sum({s}) AS {s}" for s in family.sums)
            + f" FROM {table} WHERE {rollup_where} GROUP BY {key}"
            f") GROUP BY {key} HAVING " + " OR ".join(f"abs({s}) > 0.0001" for s in family.sums))


def reconcile(db: Engine, table: str, grids: Iterable[str]) -> int:
    """Make the rollups fed by the raw ``table`` equal its rows within the towns of
    ``grids`` (after deletes, which views do not see): the difference raw − rollup is
    computed once at town level, where the towns involved are apart from the others,
    and added to every level and total. Returns the town rows that differed."""
    n = LEVELS[FINEST]
    towns = sorted({g[:n] for g in grids if g})
    changed = 0
    for family in families_of(table):
        for i in range(0, len(towns), 1000):
            diff = run(db, "rollup_reconcile_diff",
                       _diff_sql(family, FINEST, f"substring(grid_code, 1, {n}) IN %(keys)s", "grid_code IN %(keys)s"),
                       {"keys": tuple(towns[i:i + 1000])})
            if diff.empty:
                continue
            changed += len(diff)
            # Coarser levels first: the town table, the one a rerun compares, changes last.
            for level in reversed(LEVELS):
                rekeyed = diff.assign(grid_code=diff["grid_code"].str[:LEVELS[level]])
                for with_date in (False, True) if family.stock else (True,):
                    key = list(family.key(with_date))
                    rows = rekeyed.groupby(key, as_index=False, observed=True)[list(family.sums)].sum()
                    db.insert(family.table(level) if with_date else family.total(level), rows)
    if changed:
        logger.info("rollups of %s reconciled for %d towns: %d rows", table, len(towns), changed)
    return changed


def grids_of(db: Engine, table: str, where: str, params: dict) -> set[str]:
    """Distinct grid codes of the rows of ``table`` matching ``where`` (before they are deleted)."""
    df = run(db, "rollup_grids_of", f"SELECT DISTINCT grid_code FROM {table} WHERE {where}", params)
    return set(df["grid_code"].astype(str))


def verify(db: Engine) -> dict[str, int]:
    """Keys where a rollup table differs from its raw rows, per table (all zero = exact).
    Reads every raw row: for ``python -m etl rollups --check``, not for screens."""
    out = {}
    for family in FAMILIES.values():
        for level in LEVELS:
            for with_date in (True, False) if family.stock else (True,):
                diff = _diff_sql(family, level, "1", "1", with_date)
                table = family.table(level) if with_date else family.total(level)
                out[table] = int(run(db, "rollup_verify", f"SELECT count() AS n FROM ({diff})")["n"].iloc[0])
    return out
