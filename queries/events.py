"""Event-log queries for live displays: the latest events and data freshness."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from queries.engine import Engine
from queries.executor import run
from queries.filters import Filter

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


def recent_events(db: Engine, flt: Filter, limit: int = 20) -> pd.DataFrame:
    """The ``limit`` latest events in the region (newest first, ties by event_id
    descending), with the entity's name: event_id, event_time, event_type,
    detail, result, credit_code, name, grid_code."""
    limit = max(1, min(int(limit), 200))
    return run(db, "recent_events", """
        SELECT e.event_id AS event_id, e.event_time AS event_time, toString(e.event_type) AS event_type,
               e.detail AS detail, toString(e.result) AS result, e.credit_code AS credit_code,
               n.name AS name, e.grid_code AS grid_code
        FROM (
            SELECT event_id, event_time, event_type, detail, result, credit_code, grid_code
            FROM events WHERE grid_code LIKE %(like)s
            ORDER BY event_time DESC, event_id DESC LIMIT %(limit)s
        ) AS e
        LEFT JOIN (
            SELECT credit_code, any(name) AS name FROM entities
            WHERE grid_code LIKE %(like)s GROUP BY credit_code
        ) AS n ON e.credit_code = n.credit_code
        ORDER BY event_time DESC, event_id DESC""", {"like": flt.like, "limit": limit})


def latest_event_time(db: Engine, flt: Filter) -> dt.datetime | None:
    """Time of the newest event in the region (data freshness), None if none."""
    df = run(db, "latest_event_time", """
        SELECT count() AS n, max(event_time) AS latest FROM events WHERE grid_code LIKE %(like)s""",
             {"like": flt.like})
    if int(df["n"].iloc[0]) == 0:
        return None
    return pd.Timestamp(df["latest"].iloc[0]).to_pydatetime()
