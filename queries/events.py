"""Event-log queries for live displays: the latest events and data freshness."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from store.engine import Engine
from store.executor import run
from store.filters import Filter

EVENT_TYPE_ZH = {
    "registration": "新设立", "change": "变更", "cancellation": "注销", "revocation": "吊销",
    "licence": "许可", "penalty": "处罚", "complaint": "投诉举报", "inspection": "检查",
    "sampling": "抽检", "list_entry": "列入名录", "list_exit": "移出名录",
}
EVENT_TYPE_EN = {
    "registration": "Registration", "change": "Change", "cancellation": "Cancellation",
    "revocation": "Revocation", "licence": "Licence", "penalty": "Penalty", "complaint": "Complaint",
    "inspection": "Inspection", "sampling": "Sampling", "list_entry": "Listed", "list_exit": "De-listed",
}


def recent_events(db: Engine, flt: Filter, limit: int = 20, since: dt.date | None = None) -> pd.DataFrame:
    """The ``limit`` latest events in the region (newest first, ties by event_id
    descending), with the entity's name: event_id, event_time, event_type,
    detail, result, credit_code, name, grid_code.

    ``since`` (a live screen passes today) lets the search read the events from that day
    on first, then a day and a month more, and the whole log only when they are fewer
    than ``limit``."""
    limit = max(1, min(int(limit), 200))
    for bound in _widening(since):
        ev = run(db, "recent_events", f"""
            SELECT event_id, event_time, toString(event_type) AS event_type, detail, toString(result) AS result,
                   credit_code, grid_code
            FROM events WHERE grid_code LIKE %(like)s {'AND event_date >= %(since)s' if bound else ''}
            ORDER BY event_time DESC, event_id DESC LIMIT %(limit)s""",
                 {"like": flt.like, "limit": limit, **({"since": bound} if bound else {})})
        if len(ev) == limit:
            break
    if ev.empty:
        return ev.assign(name=pd.Series(dtype=object))[RECENT_COLUMNS]
    # Names of those events' entities only, found by their grids first (the sorting key).
    names = run(db, "recent_event_names", """
        SELECT credit_code, any(name) AS name FROM entities
        WHERE grid_code IN %(grids)s AND credit_code IN %(codes)s GROUP BY credit_code""",
                {"grids": tuple(sorted(set(ev["grid_code"]))), "codes": tuple(sorted(set(ev["credit_code"])))})
    return ev.merge(names, on="credit_code", how="left")[RECENT_COLUMNS]


RECENT_COLUMNS = ["event_id", "event_time", "event_type", "detail", "result", "credit_code", "name", "grid_code"]


def _widening(since: dt.date | None) -> list[dt.date | None]:
    """The lower bounds a search tries in turn: ``since``, a day earlier, a month earlier, none."""
    if since is None:
        return [None]
    return [since, since - dt.timedelta(days=1), since - dt.timedelta(days=31), None]
