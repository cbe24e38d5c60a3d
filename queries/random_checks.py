"""Reads of 双随机一公开 (docs/double_random.md): plans, drawn firms, the pool a plan draws
from, the department's inspector roster, and the figures — plan completion, overdue firms
and the problem rate by credit-risk class. Every read is bounded by a region scope: a plan
is seen where it covers (or lies inside) the viewer's scope, its firms only inside it.

The newest ``version`` of a plan or item row counts (``argMax``, portable to 18.16).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd

from store.engine import Engine
from store.executor import run
from store.filters import RegionScope

logger = logging.getLogger(__name__)

__all__ = ["ITEMS", "ITEMS_ASOF", "PLANS", "PoolSpec", "figures", "items", "names_of", "plan", "plans", "pool",
           "recent_pairs", "roster", "class_rates", "departments_for"]

#: Every plan at its newest version.
PLANS = """(SELECT plan_id, argMax(name, version) AS name, argMax(dept_id, version) AS dept_id,
       argMax(region_code, version) AS region_code, argMax(period_from, version) AS period_from,
       argMax(period_to, version) AS period_to, argMax(industries, version) AS industries,
       argMax(entity_types, version) AS entity_types, argMax(listed, version) AS listed,
       argMax(ratios, version) AS ratios, argMax(seed, version) AS seed,
       argMax(fingerprint, version) AS fingerprint, argMax(pool, version) AS pool,
       argMax(spared, version) AS spared,
       argMax(drawn, version) AS drawn, argMax(created_by, version) AS created_by,
       argMax(created_at, version) AS created_at
   FROM random_plans GROUP BY plan_id)"""
def _items(where: str) -> str:
    """Every drawn firm at its newest version among the rows that pass ``where``. Items are
    written before their plan, so rows of a draw that stopped before its plan was stored
    (no ``random_plans`` row) are left out everywhere."""
    return f"""(SELECT plan_id, credit_code, argMax(credit_class, version) AS credit_class,
       argMax(rank, version) AS rank, argMax(grid_code, version) AS grid_code, argMax(dept_id, version) AS dept_id,
       argMax(inspector_1, version) AS inspector_1, argMax(inspector_2, version) AS inspector_2,
       argMax(drawn_at, version) AS drawn_at, argMax(due_date, version) AS due_date,
       toString(argMax(result, version)) AS result, argMax(result_at, version) AS result_at,
       argMax(result_by, version) AS result_by, argMax(note, version) AS note
   FROM random_items WHERE plan_id IN (SELECT plan_id FROM random_plans){where}
   GROUP BY plan_id, credit_code)"""


#: Every drawn firm at its newest version (lists, the publication).
ITEMS = _items("")
#: Every drawn firm as the records stood at the end of ``%(end)s``: the newest row entered by then
#: (a result corrected later does not change a past day; figures, indicators, 涉企检查).
ITEMS_ASOF = _items(" AND toDate(entered_at) <= toDate(%(end)s)")
#: 名录 filters of a plan's pool: all firms, or only / none of the listed ones.
LISTED = {"all": "", "abnormal": "AND abnormal = 1", "dishonest": "AND dishonest = 1",
          "unlisted": "AND abnormal = 0 AND dishonest = 0"}


@dataclass(frozen=True)
class PoolSpec:
    """The firms a plan covers: alive, registered in ``region`` on or before ``day``, of the
    given industries (GB/T 4754 sections) and entity types (empty: all), and the list filter."""

    region: str
    day: dt.date
    industries: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    listed: str = "all"


def pool(db: Engine, spec: PoolSpec) -> pd.DataFrame:
    """credit_code, credit_class (A–D), grid_code of every firm in the pool."""
    where = [LISTED[spec.listed]]
    params: dict[str, object] = {"like": spec.region + "%", "day": spec.day}
    if spec.industries:
        where.append("AND industry IN %(ind)s")
        params["ind"] = list(spec.industries)
    if spec.entity_types:
        where.append("AND toString(entity_type) IN %(types)s")
        params["types"] = list(spec.entity_types)
    return run(db, "random_pool", f"""
        SELECT credit_code, toString(credit_grade) AS credit_class, grid_code FROM entities
        WHERE grid_code LIKE %(like)s AND reg_date <= %(day)s
          AND (status = 'active' OR ifNull(status_date, toDate('2100-01-01')) > %(day)s) {' '.join(where)}""",
               params)


def roster(db: Engine, dept_id: str) -> pd.DataFrame:
    """inspector_id, name, cert_no of a department's inspectors (执法人员名录)."""
    return run(db, "random_roster", "SELECT inspector_id, name, cert_no FROM inspectors WHERE dept_id = %(d)s "
               "ORDER BY inspector_id", {"d": dept_id})


def recent_pairs(db: Engine, since: dt.date) -> pd.DataFrame:
    """credit_code, inspector_id: who was sent to which firm by plans ending on or after
    ``since`` (the avoidance period: not the same inspector to the same firm again)."""
    return run(db, "random_recent_pairs", f"""
        SELECT credit_code, arrayJoin([inspector_1, inspector_2]) AS inspector_id FROM {ITEMS}
        WHERE plan_id IN (SELECT plan_id FROM {PLANS} WHERE period_to >= %(since)s)""", {"since": since})


def departments_for(db: Engine, scope: RegionScope) -> pd.DataFrame:
    """Departments that may draw inside ``scope``: market regulators and licensing departments
    whose region holds the scope or lies inside it (dept_id, name, region_code)."""
    return run(db, "random_departments", """
        SELECT dept_id, name, region_code FROM departments
        WHERE kind IN ('market_regulator', 'licensing')
          AND (startsWith(%(p)s, region_code) OR region_code LIKE %(like)s) ORDER BY region_code, dept_id""",
               {"p": scope.prefix, "like": scope.prefix + "%"})


#: The name look-ups :func:`names_of` may run (identifiers from this allow-list only).
NAMED = {("departments", "dept_id"), ("entities", "credit_code"), ("inspectors", "inspector_id")}


def names_of(db: Engine, table: str, key: str, keys: list[str]) -> dict[str, str]:
    """``key`` → name of the rows of ``table`` (departments, entities, inspectors) named in ``keys``."""
    if (table, key) not in NAMED:
        raise ValueError(f"no name look-up for {table}.{key}")
    keys = sorted({k for k in keys if k})
    if not keys:
        return {}
    df = run(db, f"names_{table}", f"SELECT {key} AS k, name FROM {table} WHERE {key} IN %(keys)s",
             {"keys": keys})
    return dict(zip(df["k"], df["name"]))


def plans(db: Engine, scope: RegionScope, plan_id: str | None = None) -> pd.DataFrame:
    """Plans seen in ``scope`` (covering it or inside it), newest first, with the department's
    name and their firms in the scope: drawn, done (a result entered) and problems found;
    only the plan ``plan_id`` when it is given."""
    one = "" if plan_id is None else "AND plan_id = %(plan)s"
    df = run(db, "random_plans", f"""
        SELECT p.plan_id AS plan_id, p.name AS name, p.dept_id AS dept_id, p.region_code AS region_code,
               p.period_from AS period_from, p.period_to AS period_to, p.industries AS industries,
               p.entity_types AS entity_types, p.listed AS listed, p.seed AS seed, p.fingerprint AS fingerprint,
               p.pool AS pool, p.spared AS spared, p.ratios AS ratios, p.created_by AS created_by,
               p.created_at AS created_at,
               c.drawn AS drawn, c.done AS done, c.problems AS problems
        FROM (SELECT * FROM {PLANS} WHERE (startsWith(%(p)s, region_code) OR region_code LIKE %(like)s) {one}) AS p
        LEFT JOIN (SELECT plan_id, count() AS drawn, countIf(result != 'pending') AS done,
                          countIf(result = 'problem') AS problems
                   FROM {ITEMS} WHERE grid_code LIKE %(like)s {one} GROUP BY plan_id) AS c ON p.plan_id = c.plan_id
        ORDER BY p.created_at DESC, p.plan_id""", {"p": scope.prefix, "like": scope.prefix + "%", "plan": plan_id or ""})
    depts = names_of(db, "departments", "dept_id", df["dept_id"].tolist())
    df.insert(3, "dept_name", [depts.get(d, d) for d in df["dept_id"]])
    for col in ("drawn", "done", "problems"):
        df[col] = df[col].fillna(0).astype(int)
    return df


def plan(db: Engine, plan_id: str, scope: RegionScope) -> dict | None:
    """One plan seen in ``scope``, or None."""
    df = plans(db, scope, plan_id)
    return None if df.empty else df.iloc[0].to_dict()


def items(db: Engine, plan_id: str, scope: RegionScope, credit_code: str | None = None) -> pd.DataFrame:
    """The plan's drawn firms inside ``scope``, in rank order, with the names of firm and
    inspectors; only the firm ``credit_code`` when it is given."""
    one = "" if credit_code is None else "AND credit_code = %(code)s"
    df = run(db, "random_items", f"""
        SELECT plan_id, credit_code, credit_class, rank, grid_code, dept_id, inspector_1, inspector_2, drawn_at, due_date,
               result,
               result_at, result_by, note
        FROM {ITEMS} WHERE plan_id = %(plan)s AND grid_code LIKE %(like)s {one} ORDER BY rank""",
             {"plan": plan_id, "like": scope.prefix + "%", "code": credit_code or ""})
    firms = names_of(db, "entities", "credit_code", df["credit_code"].tolist())
    staff = names_of(db, "inspectors", "inspector_id", df["inspector_1"].tolist() + df["inspector_2"].tolist())
    df.insert(2, "entity_name", [firms.get(c, "") for c in df["credit_code"]])
    for col in ("inspector_1", "inspector_2"):
        df[f"{col}_name"] = [staff.get(i, i) for i in df[col]]
    return df


def _items_in(db: Engine, region: str, name: str, select: str, group: str, day: dt.date) -> pd.DataFrame:
    """Items of the region as the records stood at the end of ``day``."""
    return run(db, name, f"SELECT {select} FROM {ITEMS_ASOF} WHERE grid_code LIKE %(like)s {group}",
               {"like": region + "%", "end": day})


def figures(db: Engine, region: str, day: dt.date) -> dict[str, int]:
    """Firms drawn in ``region`` as the records stood at the end of ``day``: drawn, done (a
    result entered by then), overdue (no result by then and the plan ended before ``day``),
    problems and absent (not found at the registered address)."""
    df = _items_in(db, region, "random_figures", """
        count() AS drawn, countIf(result != 'pending') AS done,
        countIf(result = 'pending' AND due_date < %(end)s) AS overdue,
        countIf(result = 'problem') AS problems, countIf(result = 'absent') AS absent""", "", day)
    row = df.iloc[0] if not df.empty else None
    return {k: int(row[k]) if row is not None and pd.notna(row[k]) else 0
            for k in ("drawn", "done", "overdue", "problems", "absent")}


def class_rates(db: Engine, region: str, day: dt.date) -> pd.DataFrame:
    """Per credit-risk class A–D: firms inspected by the end of ``day`` and those where a
    problem was found (the chart that shows whether the classification predicts risk)."""
    df = _items_in(db, region, "random_class_rates", """
        credit_class, countIf(result != 'pending') AS checked, countIf(result = 'problem') AS problems""",
                   "GROUP BY credit_class", day)
    out = pd.DataFrame({"credit_class": list("ABCD")}).merge(df, on="credit_class", how="left").fillna(0)
    out[["checked", "problems"]] = out[["checked", "problems"]].astype(int)
    out["rate"] = [p / c if c else float("nan") for p, c in zip(out["problems"], out["checked"])]
    return out


