"""Push timeliness (推送时效): how long after its own time a record reached its village.

The source documents require a registration or change to reach its village (社区) within
1 hour (登记后1小时内推送至属地村（社区）); the same clock is kept for every record that
pushes a task (a licence or penalty decision, a failed inspection). A task's push is its
first task event (``from_status = 'none'``): ``event_time`` is when it was pushed,
``source_time`` the record's own time (registration, change, inspection or decision time),
``source`` the source that delivered it. Pushes whose source time is not recorded (data
loaded before push times were kept) are left out.

Per unit — the region's children, or the sources — over the pushes dated within the
period: ``pushed``, ``timely`` (lag ≤ the limit, JINJIAN_TASK_PUSH_MINUTES), ``late``,
``ontime_rate`` (%), ``late_median_hours`` (the median lag of the late pushes: the
⌊n/2⌋-th of their sorted lags, counting from 0) and ``late_max_hours``. The same rules as
the catalogue's ``push_ontime_rate`` / ``push_late`` (indicators/measures.py).
"""
from __future__ import annotations

import logging

import pandas as pd

from domain.errors import InvalidParameter
from domain.sources import SOURCES
from indicators.measures import PUSH_LAG, PUSHED
from indicators.periods import Period
from queries.regions import RegionNode, region_node
from store.engine import Engine
from store.executor import run
from store.filters import Filter
from supervision.rules import TaskRules

logger = logging.getLogger(__name__)

BY = ("region", "source", "total")
COLUMNS = ("unit", "pushed", "timely", "late", "ontime_rate", "late_median_hours", "late_max_hours")


def push_timeliness(db: Engine, flt: Filter, period: Period, by: str, rules: TaskRules) -> pd.DataFrame:
    """Push timeliness of ``flt.region`` per child region (``by='region'``; every child
    listed, zeros included), per source (``'source'``; the sources that pushed) or as one
    row (``'total'``, unit = the region's code)."""
    if by not in BY:
        raise InvalidParameter(f"by {by!r} not in {BY}", user_message="统计单位不正确")
    node = region_node(db, flt.region, flt.scope)
    if by == "region" and node.child_length is None:
        return pd.DataFrame({c: [] for c in COLUMNS})
    key = {"region": "substring(grid_code, 1, %(n)s)", "source": "source", "total": "%(region)s"}[by]
    late = f"{PUSH_LAG} > %(limit)s"
    df = run(db, f"push_timeliness_{by}", f"""
        SELECT {key} AS unit, count() AS pushed, countIf(NOT ({late})) AS timely, countIf({late}) AS late,
               quantileExactIf(0.5)({PUSH_LAG}, {late}) AS late_median_s, maxIf({PUSH_LAG}, {late}) AS late_max_s
        FROM task_events
        WHERE grid_code LIKE %(like)s AND event_date >= %(start)s AND event_date <= %(end)s AND {PUSHED}
        GROUP BY unit""", {"like": flt.like, "region": flt.region, "start": period.start, "end": period.end,
                           "n": node.child_length or 0, "limit": rules.push_minutes * 60})
    if by != "source":  # every unit listed, zeros included
        units = node.children["code"] if by == "region" else [flt.region]
        df = df.set_index("unit").reindex(pd.Index(units, name="unit")).reset_index()
    for col in ("pushed", "timely", "late"):
        df[col] = df[col].fillna(0).astype("int64")
    has_late = df["late"] > 0
    df["ontime_rate"] = (df["timely"] / df["pushed"].where(df["pushed"] > 0) * 100.0).astype(float)
    df["late_median_hours"] = (df["late_median_s"].astype(float) / 3600.0).where(has_late)
    df["late_max_hours"] = (df["late_max_s"].astype(float) / 3600.0).where(has_late)
    return df[list(COLUMNS)].sort_values("unit").reset_index(drop=True)


def unit_names(node: RegionNode, by: str) -> dict[str, str]:
    """Names of the units of :func:`push_timeliness`: the child regions' or the sources' (Chinese)."""
    if by == "source":
        return {k: s.zh for k, s in SOURCES.items()}
    return dict(zip(node.children["code"], node.children["name"])) | {node.code: node.name}
