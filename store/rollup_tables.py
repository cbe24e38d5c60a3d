"""Rollup tables' upkeep (the definitions are in :mod:`store.rollups`): creating each
family's tables and materialized views, back-filling them from the raw rows, dropping
them, reconciling the town tables after ingestion deletes raw rows, and verifying them
against the raw rows (``python -m etl rollups --check``).
"""
from __future__ import annotations

import logging
from typing import Iterable

import pandas as pd

from store.rollups import FAMILIES, FINEST, LEVELS, SPILL, Family, families_of, rollup_tables
from store.engine import Engine
from store.executor import run
from store.replication import ddl_for
from store.sql import execute

logger = logging.getLogger(__name__)


def _existing(db: Engine) -> dict[str, tuple[str, str]]:
    """Rollup tables and views in the database: name → (engine, sorting key)."""
    df = run(db, "rollup_tables", "SELECT name, engine, sorting_key FROM system.tables WHERE database = %(db)s "
             "AND (name LIKE 'rollup%%' OR name LIKE 'mv_rollup%%')", {"db": db.database})
    return {n: (e, k) for n, e, k in zip(df["name"], df["engine"], df["sorting_key"])}


def _current(db: Engine, family: Family, have: dict[str, tuple[str, str]], sfx: str) -> bool:
    """Whether every table and view of ``family`` exists as this version declares it."""
    for table in family.tables():
        level, kind = family.kind_of(table)
        with_date = kind != "total"
        key = ",".join(family.sorting_key(with_date, level))
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
    for table in family.tables():
        out.append((f"mv_{table}{sfx}", table + sfx, _select(family, table, src)))
    return out


def _select(family: Family, table: str, src: str, where: str = "1") -> str:
    """The rows of ``table`` (day, total or month table of ``family``) computed from ``src``."""
    level, kind = family.kind_of(table)
    return family.select_sql(level, src, where, with_date=kind != "total", month=kind == "month")


def _ddl(family: Family, table: str, sfx: str) -> str:
    level, kind = family.kind_of(table)
    total = kind == "total"
    partition = f"PARTITION BY toYYYYMM({family.date_col}) " if family.name == "events" else ""
    return (f"CREATE TABLE {table}{sfx} ENGINE = SummingMergeTree {'' if total else partition}"
            f"ORDER BY ({', '.join(family.sorting_key(not total, level))}) "
            f"AS {_select(family, table, family.source + sfx, '0')}")


def create_rollups(db: Engine, local_suffix: str = "", fill: bool = True) -> list[str]:
    """Create the rollup tables and their views where missing or out of date, and fill a
    newly created family from the rows its raw table already holds (run it while no load
    is running). Rollup tables or views this version does not declare are dropped.
    ``local_suffix`` ('_local' on a cluster shard) names the tables the views read and
    write; ``fill=False`` (a shard's second replica) creates them empty: a Replicated
    table copies the first replica's rows. Returns the families built."""
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
            _build(db, family, sfx, fill)
        except BaseException:  # half-filled tables would look current to the next init
            drop_family(db, family, sfx)
            raise
        built.append(family.name)
        logger.info("rollups of %s built from %s%s", family.name, family.source, sfx)
    return built


def stale_families(db: Engine, local_suffix: str = "") -> list[Family]:
    """The families whose tables or views are missing or out of date on ``db``."""
    have = _existing(db)
    return [f for f in FAMILIES.values() if not _current(db, f, have, local_suffix)]


def drop_stale_families(replicas: list[Engine], local_suffix: str) -> None:
    """Drop, on every replica of a shard, each family stale on any of them: the replicas of a
    Replicated table share its structure in ZooKeeper, so none may be rebuilt while another
    still holds the old one."""
    stale = {f.name: f for r in replicas for f in stale_families(r, local_suffix)}
    for replica in replicas:
        for family in stale.values():
            drop_family(replica, family, local_suffix)


def _build(db: Engine, family: Family, sfx: str, fill: bool = True) -> None:
    for table in family.tables():
        execute(db, f"create_{table}", ddl_for(db, _ddl(family, table, sfx)))
    for view, target, select in _views(family, sfx):
        execute(db, f"create_{view}", f"CREATE MATERIALIZED VIEW {view} TO {target} AS {select}")
    for table in family.tables() if fill else ():
        total = family.kind_of(table)[1] == "total"
        execute(db, f"backfill_{table}", f"INSERT INTO {table}{sfx} ({', '.join(family.columns(not total))}) "
                f"{_select(family, table, family.source + sfx)} {SPILL}", bulk=True)


def drop_family(db: Engine, family: Family, local_suffix: str = "") -> None:
    for view, _, _ in _views(family, local_suffix):
        execute(db, "drop_rollup_view", f"DROP TABLE IF EXISTS {view}")
    for table in family.tables():
        execute(db, "drop_rollup", f"DROP TABLE IF EXISTS {table}{local_suffix}")


def drop_rollups(db: Engine, local_suffix: str = "") -> None:
    for family in FAMILIES.values():
        drop_family(db, family, local_suffix)


# -- keeping them exact --------------------------------------------------------------

def _diff_sql(family: Family, table: str, raw_where: str, rollup_where: str) -> str:
    """Rows to add to ``table`` (a day, total or month table) so that it equals the raw rows:
    the keys that differ, with raw − rollup."""
    key = ", ".join(family.key(family.kind_of(table)[1] != "total"))
    return (f"SELECT {key}, " + ", ".join(f"sum({s}) AS {s}" for s in family.sums) + " FROM ("
            f"{_select(family, table, family.source, raw_where)} UNION ALL "
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
                       _diff_sql(family, family.table(FINEST), f"substring(grid_code, 1, {n}) IN %(keys)s",
                                 "grid_code IN %(keys)s"), {"keys": tuple(towns[i:i + 1000])})
            if diff.empty:
                continue
            changed += len(diff)
            # Coarser levels first: the town table, the one a rerun compares, changes last.
            for table in reversed(family.tables()):
                level, kind = family.kind_of(table)
                rekeyed = diff.assign(grid_code=diff["grid_code"].str[:LEVELS[level]])
                if kind == "month":
                    rekeyed[family.date_col] = _month_starts(rekeyed[family.date_col])
                key = list(family.key(kind != "total"))
                db.insert(table, rekeyed.groupby(key, as_index=False, observed=True)[list(family.sums)].sum())
    if changed:
        logger.info("rollups of %s reconciled for %d towns: %d rows", table, len(towns), changed)
    return changed


def _month_starts(days: pd.Series) -> pd.Series:
    """Each day's first of the month, in the column's own type (dates or datetimes)."""
    starts = pd.to_datetime(days).dt.to_period("M").dt.start_time
    return starts.dt.date if days.dtype == object else starts.astype(days.dtype)


def grids_of(db: Engine, table: str, where: str, params: dict) -> set[str]:
    """Distinct grid codes of the rows of ``table`` matching ``where`` (before they are deleted)."""
    df = run(db, "rollup_grids_of", f"SELECT DISTINCT grid_code FROM {table} WHERE {where}", params)
    return set(df["grid_code"].astype(str))


#: Rollup rows compared by one query of the check: bounds its memory at any scale (the
#: keys of one chunk of regions and months), where comparing a whole table at once hit the
#: server's per-query memory limit at 1 M entities (Code 241).
VERIFY_CHUNK_ROWS = 1_000_000
#: Units (region, or region and month) per query: the bound list stays under the server's
#: 256 KB query-size limit.
VERIFY_MAX_UNITS = 4000


def _raw_units(db: Engine, family: Family) -> pd.DataFrame:
    """Every (town code, yyyymm) of the family's raw rows: read once per family, each
    level's units derived from them by prefix."""
    n = LEVELS[FINEST]
    df = run(db, "rollup_verify_codes", f"SELECT DISTINCT substring(grid_code, 1, {n}) AS code, "
             f"toYYYYMM({family.date_expr}) AS m {family.body.format(src=family.source, where='1')}")
    return df.astype({"code": str, "m": int})


def _verify_chunks(db: Engine, family: Family, table: str,
                   chunk_rows: int, raw_units: pd.DataFrame | None = None) -> list[tuple[tuple, ...]]:
    """The units of the comparison — ``(code,)`` of the table's level for a total, ``(code,
    yyyymm)`` for a day or month table — found in the raw rows or in the rollup table, packed in
    chunks of about ``chunk_rows`` rollup rows (a unit with more is a chunk of its own)."""
    level, kind = family.kind_of(table)
    n, with_date = LEVELS[level], kind != "total"
    month = f", toYYYYMM({family.date_col}) AS m" if with_date else ""
    sizes = run(db, "rollup_verify_sizes", f"SELECT grid_code AS code{month}, count() AS n FROM {table} "
                f"GROUP BY code{', m' if with_date else ''}")
    raw = _raw_units(db, family) if raw_units is None else raw_units
    raw = raw.assign(code=raw["code"].str[:n]).drop_duplicates(["code", "m"] if with_date else ["code"])
    unit = (lambda df: zip(df["code"].astype(str), df["m"].astype(int))) if with_date else (
        lambda df: ((c,) for c in df["code"].astype(str)))
    rows = {u: int(k) for u, k in zip(unit(sizes), sizes["n"])}
    for u in unit(raw):
        rows.setdefault(tuple(u), 1)
    chunks: list[tuple[tuple, ...]] = []
    current: list[tuple] = []
    total = 0
    # Month first: a chunk of a day table covers a few months, which the raw tables' sorting
    # keys and partitions narrow down (and a range on the date is added to its query).
    for u in sorted(rows, key=lambda u: (u[1], u[0]) if with_date else u):
        if current and (total + rows[u] > chunk_rows or len(current) >= VERIFY_MAX_UNITS):
            chunks.append(tuple(current))
            current, total = [], 0
        current.append(tuple(u))
        total += rows[u]
    return chunks + ([tuple(current)] if current else [])


def verify(db: Engine, chunk_rows: int = VERIFY_CHUNK_ROWS, repair: bool = False) -> dict[str, int]:
    """Keys where a rollup table differs from its raw rows, per table (all zero = exact).
    Reads every raw row, one chunk of regions at a time (about ``chunk_rows`` rollup rows
    each, GROUP BYs spilling to disk past 1 GB), so memory stays bounded at any scale:
    for ``python -m etl rollups --check``, not for screens. ``repair``: also add each
    difference to its table (run it while no load is running), so that a second run
    finds none (``--repair``)."""
    out = {}
    for family in FAMILIES.values():
        raw_units = _raw_units(db, family)
        for table in family.tables():
            level, kind = family.kind_of(table)
            n, with_date = LEVELS[level], kind != "total"
            out[table] = 0
            for units in _verify_chunks(db, family, table, chunk_rows, raw_units):
                if with_date:
                    first, last = min(u[1] for u in units), max(u[1] for u in units)
                    raw_where = (f"{family.date_expr} >= toDate('{first // 100}-{first % 100:02d}-01') AND "
                                 f"{family.date_expr} < addMonths(toDate('{last // 100}-{last % 100:02d}-01'), 1) "
                                 f"AND (substring(grid_code, 1, {n}), toYYYYMM({family.date_expr})) IN %(keys)s")
                    rollup_where = f"(grid_code, toYYYYMM({family.date_col})) IN %(keys)s"
                    keys: tuple = units
                else:
                    raw_where, rollup_where = f"substring(grid_code, 1, {n}) IN %(keys)s", "grid_code IN %(keys)s"
                    keys = tuple(u[0] for u in units)
                diff = _diff_sql(family, table, raw_where, rollup_where)
                if repair:
                    rows = run(db, "rollup_repair_diff", f"{diff} {SPILL}", {"keys": keys})
                    if not rows.empty:
                        db.insert(table, rows[list(family.columns(with_date))])
                    out[table] += len(rows)
                else:
                    out[table] += int(run(db, "rollup_verify", f"SELECT count() AS n FROM ({diff}) {SPILL}",
                                          {"keys": keys})["n"].iloc[0])
    if repair and any(out.values()):
        logger.warning("rollups repaired: %s", ", ".join(f"{t} {k}" for t, k in out.items() if k))
    return out
