"""涉企检查 (supervision/discipline.py, docs/double_random.md): every on-site inspection of a
firm — the departments' inspection records (events) and the 双随机 results — and what the
command centre flags: 多头检查 (different departments within the window), 频繁检查 (more
than the yearly limit) and the 无事不扰 list of firms spared from random draws.

Every read is bounded by a region (grid code prefix) and dated as of the end of a day.
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from queries.random_checks import ITEMS_ASOF, names_of
from store.engine import Engine
from store.executor import run
from supervision.discipline import BLEMISHES, InspectionRules

logger = logging.getLogger(__name__)

__all__ = ["FIRM_FLAGS", "INSPECTIONS", "SPARED", "flagged", "inspections_of", "spared_codes", "discipline_params"]

#: Every on-site inspection in the region ``%(like)s`` known at the end of ``%(end)s``, within the
#: year before it: a department's inspection record or a 双随机 result entered by then; a record
#: without a department counts for no department. (Both bounds inside each branch: the engines do
#: not push a filter on the union into it, and the events are the largest table.)
INSPECTIONS = f"""(SELECT credit_code, grid_code, dept_id, event_time AS inspected_at, 'department' AS kind
       FROM events WHERE event_type = 'inspection' AND event_date > toDate(%(end)s) - 366
                         AND event_date <= toDate(%(end)s) AND grid_code LIKE %(like)s
   UNION ALL
   SELECT credit_code, grid_code, dept_id, result_at AS inspected_at, 'random' AS kind
       FROM {ITEMS_ASOF} WHERE result != 'pending' AND grid_code LIKE %(like)s)"""
#: Per firm inspected within the year up to ``%(end)s``: the departments within the window
#: (``%(window)s`` days) and the inspections of the year.
FIRM_FLAGS = f"""(SELECT credit_code, any(grid_code) AS grid_code,
       uniqExactIf(dept_id, dept_id != '' AND toDate(inspected_at) > toDate(%(end)s) - %(window)s) AS depts_window,
       count() AS times_year
   FROM {INSPECTIONS}
   WHERE toDate(inspected_at) > toDate(%(end)s) - 365 AND toDate(inspected_at) <= toDate(%(end)s)
   GROUP BY credit_code)"""
#: 无事不扰 (on ``entities``, alive at ``%(end)s``): class A, on no list, no blemish within the year.
SPARED = (f"credit_grade = 'A' AND abnormal = 0 AND dishonest = 0 AND credit_code NOT IN ("
          f"SELECT credit_code FROM events WHERE {BLEMISHES} AND event_date > toDate(%(end)s) - %(spare)s "
          f"AND event_date <= toDate(%(end)s))")


def discipline_params(rules: InspectionRules) -> dict[str, int]:
    """The bound parameters FIRM_FLAGS and SPARED use besides ``end``."""
    return {"window": rules.window_days, "max_year": rules.max_per_year, "spare": rules.spare_days}


def flagged(db: Engine, region: str, day: dt.date, rules: InspectionRules) -> pd.DataFrame:
    """Firms of ``region`` flagged on ``day``: credit_code, name, grid_code, depts_window,
    times_year, multi (多头检查), frequent (频繁检查), and the names of the departments that
    inspected them within the window — most departments first."""
    df = run(db, "discipline_flagged", f"""
        SELECT credit_code, grid_code, depts_window, times_year FROM {FIRM_FLAGS}
        WHERE grid_code LIKE %(like)s AND (depts_window >= 2 OR times_year > %(max_year)s)
        ORDER BY depts_window DESC, times_year DESC, credit_code""",
             {"like": region + "%", "end": day, **discipline_params(rules)})
    df["multi"] = df["depts_window"] >= 2
    df["frequent"] = df["times_year"] > rules.max_per_year
    if df.empty:
        return df.assign(name="", departments="")
    codes = df["credit_code"].tolist()
    depts = run(db, "discipline_depts", f"""
        SELECT credit_code, groupUniqArray(dept_id) AS depts FROM {INSPECTIONS}
        WHERE credit_code IN %(c)s AND dept_id != '' AND toDate(inspected_at) > toDate(%(end)s) - %(window)s
          AND toDate(inspected_at) <= toDate(%(end)s)
        GROUP BY credit_code""", {"c": codes, "end": day, "like": region + "%", **discipline_params(rules)})
    label = names_of(db, "departments", "dept_id", sorted({d for ds in depts["depts"] for d in ds}))
    shown = {c: "、".join(sorted(label.get(d, d) for d in ds)) for c, ds in zip(depts["credit_code"], depts["depts"])}
    df["name"] = df["credit_code"].map(names_of(db, "entities", "credit_code", codes)).fillna("")
    df["departments"] = df["credit_code"].map(shown).fillna("")
    return df


def spared_codes(db: Engine, region: str, day: dt.date, rules: InspectionRules) -> frozenset[str]:
    """Credit codes of the region's 无事不扰 firms on ``day`` (spared from random draws)."""
    df = run(db, "discipline_spared", f"""
        SELECT credit_code FROM entities
        WHERE grid_code LIKE %(like)s AND reg_date <= %(end)s
          AND (status = 'active' OR ifNull(status_date, toDate('2100-01-01')) > %(end)s) AND {SPARED}""",
             {"like": region + "%", "end": day, **discipline_params(rules)})
    return frozenset(df["credit_code"])


def inspections_of(db: Engine, credit_code: str, region: str, day: dt.date) -> pd.DataFrame:
    """One firm's on-site inspections in the 365 days up to ``day`` (inside ``region``), newest
    first: inspected_at, dept_id, dept_name, kind (department | random)."""
    df = run(db, "discipline_firm", f"""
        SELECT inspected_at, dept_id, kind FROM {INSPECTIONS}
        WHERE credit_code = %(c)s AND grid_code LIKE %(like)s
          AND toDate(inspected_at) > toDate(%(end)s) - 365 AND toDate(inspected_at) <= toDate(%(end)s)
        ORDER BY inspected_at DESC""", {"c": credit_code, "like": region + "%", "end": day})
    names = names_of(db, "departments", "dept_id", sorted(set(df["dept_id"]) - {""}))
    df["dept_name"] = df["dept_id"].map(names).fillna(df["dept_id"])
    return df
