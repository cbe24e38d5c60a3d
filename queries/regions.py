"""Region tree queries: a node, its children and its breadcrumb path.

Drill-down skips *pass-through* nodes, i.e. the only child of their parent that
has children of its own: 北京市 → (市辖区) → 东城区, 东莞市 → (东莞市 pseudo-county)
→ 镇街. The national root is the code ''.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pandas as pd

from store.engine import Engine
from domain.errors import RegionNotFound
from store.executor import run
from domain.regions import LEVEL_NAMES_ZH, ancestors
from store.filters import RegionScope, check_region_code, default_scope
from store.versions import reference_version

NATIONAL_NAME = LEVEL_NAMES_ZH[0]
__all__ = ["RegionNode", "region_node", "region_names", "LEVEL_NAMES_ZH", "NATIONAL_NAME"]


@dataclass(frozen=True)
class RegionNode:
    code: str
    name: str
    level: int
    children: pd.DataFrame  # code, name, level (pass-through levels skipped), sorted by code
    path: pd.DataFrame      # code, name, level from the national root down to this node

    @property
    def child_length(self) -> int | None:
        """Length of the children's codes (uniform), None for a leaf."""
        return len(self.children["code"].iloc[0]) if len(self.children) else None


#: A region's children: their codes start with its code (the table's sorting key narrows the read).
_CHILDREN_SQL = """
    SELECT code, name, level FROM regions WHERE code LIKE %(like)s AND parent = %(parent)s ORDER BY code"""


#: :func:`_load_node`'s rows, told apart by ``part``: the lineage (ancestors that exist and the
#: region), child counts of its nodes (``code`` = the parent, ``n``), the region's children. (An
#: alias never names another column: ClickHouse would read the alias in WHERE too.)
_NODE_SQL = """
    SELECT 'lineage' AS part, code, name, level, parent, toUInt64(0) AS n FROM regions WHERE code IN %(codes)s
    UNION ALL SELECT 'count' AS part, p AS code, '' AS name, toUInt8(0) AS level, '' AS parent, n FROM (
        SELECT parent AS p, count() AS n FROM regions WHERE code LIKE %(like2)s AND parent IN %(codes)s GROUP BY parent)
    UNION ALL SELECT 'child' AS part, code, name, level, parent, toUInt64(0) AS n FROM regions
        WHERE code LIKE %(like)s AND parent = %(code)s"""


def _children(db: Engine, code: str, kids: pd.DataFrame | None = None) -> pd.DataFrame:
    """``code``'s children (``kids``: already read) past pass-through levels."""
    if kids is None:
        kids = run(db, "region_children", _CHILDREN_SQL, {"parent": code, "like": code + "%"})
    # Skip pass-through levels (a single child that itself has children).
    while len(kids) == 1:
        only = kids["code"].iloc[0]
        grand = run(db, "region_children", _CHILDREN_SQL, {"parent": only, "like": only + "%"})
        if grand.empty:
            break
        kids = grand
    return kids.reset_index(drop=True)


_CACHE_TTL = 300.0
_CACHE_MAX = 4096
_cache: dict[tuple[str, str, int], tuple[float, RegionNode]] = {}
_cache_lock = threading.Lock()
_loading: dict[tuple[str, str, int], threading.Lock] = {}


def region_node(db: Engine, code: str, scope: RegionScope | None = None) -> RegionNode:
    """The region ``code`` with its children and breadcrumb path.

    The tree changes only when grids are loaded, so nodes are cached per engine and
    reference version (:func:`store.versions.reference_version`) for five minutes (the
    scope is checked on every call, before the cache).
    Raises InvalidParameter (malformed), ScopeViolation (outside ``scope``) or
    RegionNotFound (well-formed but unknown).
    """
    check_region_code(code)
    (scope or default_scope()).check(code)
    key = (db.identity, code, reference_version(db))
    with _cache_lock:
        flight = _loading.setdefault(key, threading.Lock())
    with flight:  # the callbacks of one page ask at once: one loads, the others wait for it
        now = time.monotonic()
        with _cache_lock:
            hit = _cache.get(key)
        if hit and now - hit[0] < _CACHE_TTL:
            return hit[1]
        node = _load_node(db, code)
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
                _loading.clear()
            _cache[key] = (now, node)
    return node


def clear_region_cache() -> None:
    """Forget cached nodes (after loading regions or grids)."""
    with _cache_lock:
        _cache.clear()
        _loading.clear()


def _load_node(db: Engine, code: str) -> RegionNode:
    if code == "":
        kids = _children(db, "")
        path = pd.DataFrame({"code": [""], "name": [NATIONAL_NAME], "level": [0]})
        return RegionNode("", NATIONAL_NAME, 0, kids, path)
    # One round trip (a cold drill-down click waits for it): the lineage, how many children each
    # of its nodes has, and the region's own children.
    both = run(db, "region_node", _NODE_SQL, {"codes": ancestors(code) + [code], "code": code,
                                               "like": code + "%", "like2": code[:2] + "%"})
    lineage = both[both["part"] == "lineage"].sort_values("code", kind="stable")
    me = lineage[lineage["code"] == code]
    if me.empty:
        raise RegionNotFound(f"region {code!r} does not exist", user_message=f"未找到区划代码 {code}")
    counts = both[both["part"] == "count"]
    # A lineage node is pass-through when it is its parent's only child and has children.
    n_children = {"": 2, **dict(zip(counts["code"], counts["n"]))}  # the country has many provinces
    anc = lineage[lineage["code"] != code]
    keep = pd.Series([n_children.get(row.parent, 0) != 1 or n_children.get(row.code, 0) == 0
                      for row in anc.itertuples()], index=anc.index, dtype=bool)
    path = pd.concat([
        pd.DataFrame({"code": [""], "name": [NATIONAL_NAME], "level": [0]}),
        anc.loc[keep, ["code", "name", "level"]],
        me[["code", "name", "level"]],
    ], ignore_index=True)
    path["level"] = path["level"].astype("int64")
    row = me.iloc[0]
    kids = both[both["part"] == "child"].sort_values("code", kind="stable")[["code", "name", "level"]]
    return RegionNode(code, str(row["name"]), int(row["level"]), _children(db, code, kids), path)


def region_names(db: Engine, codes: list[str]) -> dict[str, str]:
    """Names for a list of codes (unknown codes are left out)."""
    if not codes:
        return {}
    df = run(db, "region_names", "SELECT code, name FROM regions WHERE code IN %(codes)s",
             {"codes": sorted(set(codes))})
    return dict(zip(df["code"], df["name"]))
