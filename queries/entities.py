"""Market-entity queries: stock per child region and registration flow over time.

All queries are limited to the filter's region (inside its scope) by the
15-digit ``grid_code`` prefix.
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping

import pandas as pd

from store.rollups import FAMILIES, level_for, rollups_enabled
from store.engine import Engine
from store.executor import run
from store.sql import ident
from store.filters import GRAIN_FREQ, GRAIN_SQL, Filter
from queries.regions import region_node

BREAKDOWNS = ("entity_type", "industry", "status", "credit_grade")

ENTITY_TYPE_ZH = {"enterprise": "企业", "individual": "个体工商户", "cooperative": "农民专业合作社"}
STATUS_ZH = {"active": "存续", "cancelled": "注销", "revoked": "吊销"}


def entity_counts_by_child(db: Engine, flt: Filter, by: str | None = None,
                           active_only: bool = False) -> pd.DataFrame:
    """Entities per child region of ``flt.region`` (pass-through levels skipped).

    Columns: child_code, child_name, [by], entities. Without ``by`` every child
    appears, with 0 where it has no entity.
    """
    node = region_node(db, flt.region, flt.scope)
    n = node.child_length
    if n is None:
        return pd.DataFrame({"child_code": pd.Series(dtype=str), "child_name": pd.Series(dtype=str),
                             "entities": pd.Series(dtype="int64")})
    dim = f", toString({ident(by, BREAKDOWNS, 'breakdown')}) AS {by}" if by else ""
    group = f", {by}" if by else ""
    where_status = "AND status = 'active'" if active_only else ""
    sql = f"""
        SELECT substring(grid_code, 1, %(n)s) AS child_code{dim}, count() AS entities
        FROM entities
        WHERE grid_code LIKE %(like)s {where_status}
        GROUP BY child_code{group}
        ORDER BY child_code{group}"""
    counts = run(db, "entity_counts_by_child", sql, {"n": n, "like": flt.like})
    names = node.children.rename(columns={"code": "child_code", "name": "child_name"})[
        ["child_code", "child_name"]]
    if by:
        out = counts.merge(names, on="child_code", how="left")
        out["child_name"] = out["child_name"].fillna(out["child_code"])
        return out[["child_code", "child_name", by, "entities"]].reset_index(drop=True)
    out = names.merge(counts, on="child_code", how="outer")
    out["child_name"] = out["child_name"].fillna(out["child_code"])
    out["entities"] = out["entities"].fillna(0).astype("int64")
    return out.sort_values("child_code").reset_index(drop=True)


def entity_totals(db: Engine, flt: Filter) -> pd.DataFrame:
    """Entities in the region by type and status: entity_type, status, entities."""
    return run(db, "entity_totals", """
        SELECT toString(entity_type) AS entity_type, toString(status) AS status, count() AS entities
        FROM entities WHERE grid_code LIKE %(like)s
        GROUP BY entity_type, status ORDER BY entity_type, status""", {"like": flt.like})


def registration_flow(db: Engine, flt: Filter) -> pd.DataFrame:
    """New registrations, cancellations and revocations per period of ``flt.grain``
    between ``flt.start`` and ``flt.end`` (both inclusive), every period present.

    Columns: period (Timestamp, start of the period), registered, cancelled,
    revoked, net (registered − cancelled − revoked).
    """
    start, end = flt.period()
    return _complete(_flow_rows(db, flt, flt.grain, start, end), flt.grain, start, end)


def registration_flows(db: Engine, flt: Filter, windows: Mapping[str, tuple[str, dt.date, dt.date]]
                       ) -> dict[str, pd.DataFrame]:
    """Several :func:`registration_flow` series of ``flt.region`` from one query: each
    window (name → grain, first day, last day) as that function gives it. The wall and
    the region page show the last 30 days and the last 13 months side by side."""
    first = min(w[1] for w in windows.values())
    last = max(w[2] for w in windows.values())
    days = _flow_rows(db, flt, "day", first, last)
    out = {}
    for name, (grain, start, end) in windows.items():
        rows = days[(days["period"] >= pd.Timestamp(start)) & (days["period"] <= pd.Timestamp(end))]
        key = rows["period"].dt.to_period(_period_alias(grain)).dt.start_time.astype("datetime64[ns]")
        grouped = rows.drop(columns="period").groupby(key.rename("period")).sum().reset_index()
        out[name] = _complete(grouped, grain, start, end)
    return out


def _flow_rows(db: Engine, flt: Filter, grain: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The counts per period of ``grain`` that had any (period as a Timestamp)."""
    bucket = GRAIN_SQL[grain].format(col="event_date")
    # The events rollup of the region's depth holds the same counts, already grouped by day.
    level = level_for(flt.region) if rollups_enabled() else None
    table, count = (FAMILIES["events"].table(level), "sumIf(n, {})") if level else ("events", "countIf({})")
    df = run(db, "registration_flow", f"""
        SELECT {bucket} AS period,
               {count.format("event_type = 'registration'")} AS registered,
               {count.format("event_type = 'cancellation'")} AS cancelled,
               {count.format("event_type = 'revocation'")} AS revoked
        FROM {table}
        WHERE grid_code LIKE %(like)s AND event_date >= %(start)s AND event_date <= %(end)s
          AND event_type IN ('registration', 'cancellation', 'revocation')
        GROUP BY period ORDER BY period""", {"like": flt.like, "start": start, "end": end})
    df["period"] = pd.to_datetime(df["period"]).astype("datetime64[ns]")
    return df


def _complete(df: pd.DataFrame, grain: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """``df`` with every period of ``grain`` from ``start`` to ``end`` (zeros where none) and ``net``."""
    first = pd.Timestamp(start).to_period(_period_alias(grain)).start_time
    periods = pd.date_range(first, pd.Timestamp(end), freq=GRAIN_FREQ[grain])
    full = pd.DataFrame({"period": periods.astype("datetime64[ns]")})
    out = full.merge(df, on="period", how="left").fillna(0)
    for col in ("registered", "cancelled", "revoked"):
        out[col] = out[col].astype("int64")
    out["net"] = out["registered"] - out["cancelled"] - out["revoked"]
    return out


def _period_alias(grain: str) -> str:
    return {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}[grain]
