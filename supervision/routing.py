"""Which department a pushed task goes to, from the departments the locality loaded
(``python -m etl departments load``, docs/onboarding.md).

A department serves its region and everything below it (region codes nest by
prefix); the department nearest to the place wins. Duties:

- ``regulator``: the market regulator (市场监管) nearest the place — a town's market
  regulation office, else the county's or city's bureau;
- ``town_office``: the town's comprehensive-governance office (综治办), which receives
  clues found on patrol; else the nearest market regulator;
- ``licensing``: the department that licenses the entity's trade (谁审批、谁监管):
  the nearest department whose ``industries`` list the trade's GB/T 4754 section;
  a trade nobody lists goes to the market regulator of the city (or above).

Pure functions over a departments frame (dept_id, region_code, kind, industries);
a place with no matching department gets '' (the batch then says so).
"""
from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DUTIES = ("regulator", "town_office", "licensing", "city_regulator")
#: A department id as a locality may write it (letters, digits, Chinese, - _ / . #; at most 32).
DEPT_ID = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff_\-/.#]{1,32}$")


def valid_dept_id(value: object) -> bool:
    """Whether ``value`` is a well-formed department id (the demo's ``4419-01`` and any loaded one)."""
    return isinstance(value, str) and bool(DEPT_ID.match(value))
_PREFIXES = (12, 9, 6, 4, 2)
_CITY = 4


def _nearest(depts: pd.DataFrame, places: pd.Series, kind: str | None, max_len: int = 12,
             industry: pd.Series | None = None) -> pd.Series:
    """The dept_id of the deepest department of ``kind`` (any kind when None) whose region
    is a prefix of each place, listing that row's ``industry`` when given; '' when none."""
    out = pd.Series([""] * len(places), index=places.index, dtype=object)
    pool = depts if kind is None else depts[depts["kind"].astype(str) == kind]
    if pool.empty or places.empty:
        return out
    pool = pool.sort_values(["region_code", "dept_id"])
    todo = np.ones(len(places), dtype=bool)
    for n in _PREFIXES:
        if n > max_len or not todo.any():
            continue
        level = pool[pool["region_code"].str.len() == n]
        if level.empty:
            continue
        key = places.str[:n]
        if industry is None:
            table = level.drop_duplicates("region_code").set_index("region_code")["dept_id"]
            hit = key.map(table)
        else:
            pairs = level.assign(section=level["industries"].fillna("").str.split(",")).explode("section")
            pairs = pairs[pairs["section"] != ""].drop_duplicates(["region_code", "section"])
            table = pairs.set_index(pairs["region_code"] + "|" + pairs["section"])["dept_id"]
            hit = (key + "|" + industry.fillna("")).map(table)
        found = hit.notna().to_numpy() & todo
        out[found] = hit[found]
        todo &= ~found
    return out


def route(depts: pd.DataFrame, places: pd.Series, duty: str, industry: pd.Series | None = None) -> pd.Series:
    """The responsible department for each place (a region or grid code) under ``duty``."""
    if duty not in DUTIES:
        raise ValueError(f"unknown duty {duty!r}")
    places = places.astype(str).reset_index(drop=True)
    if duty == "regulator":
        return _nearest(depts, places, "market_regulator")
    if duty == "city_regulator":
        return _nearest(depts, places, "market_regulator", max_len=_CITY)
    if duty == "town_office":
        out = _nearest(depts, places, "town_office")
        return out.where(out != "", _nearest(depts, places, "market_regulator"))
    if industry is None:
        raise ValueError("licensing needs the industry of each place")
    out = _nearest(depts, places, None, industry=industry.astype(str).reset_index(drop=True))
    return out.where(out != "", _nearest(depts, places, "market_regulator", max_len=_CITY))


def first_department(depts: pd.DataFrame, task_type: str, source: str, grid: pd.Series, industry: pd.Series,
                     named: pd.Series | None = None) -> pd.Series:
    """The department a new task of ``task_type`` pushed from a ``source`` record goes to
    (docs/tasks.md): a clue to the town's office; a licence's disclosure to the department
    the record names, else the trade's licensing department; anything else to the named
    department, else the nearest market regulator."""
    if task_type == "clue":
        return route(depts, grid, "town_office")
    routed = route(depts, grid, "licensing", industry) if source == "licence" else route(depts, grid, "regulator")
    if named is None:
        return routed
    named = named.reset_index(drop=True).fillna("").astype(str)
    return named.where(named != "", routed)
