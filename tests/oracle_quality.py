"""Independent pandas oracle of the data-quality (数据质量) figures, written from
their definitions (docs/quality.md, the catalogue's ``definition_en``) over the raw
``ingest_batches`` and ``quarantine`` rows — never the SQL.

- a batch's current state is its row with the largest ``version``;
- a batch belongs to the region of its ``region_code``; '' (no scope) means the
  jurisdiction root (JINJIAN_ROOT_REGION): a viewer of region R sees the batches
  whose (root-substituted) region code starts with R;
- periods are inclusive dates of ``received_at``; record counts come from batches
  whose current state is ``loaded``;
- a rejected record is a distinct (batch_id, row_no) of ``quarantine``; incomplete
  records are those with a ``required`` or ``missing_column`` problem;
- a batch is timely when it loaded at least one record and ``received_at − data_to``
  is at most 24 hours.

The indicator oracles take the usual ``(data, region, start, end)``; ``data`` is any
object with ``ingest_batches`` and ``quarantine`` frames — the demo data set has
neither (nothing was ever ingested), so there every count is 0 and every rate NaN.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from settings import Settings
from tests.oracle import oracle

BATCH_COLUMNS = ["batch_id", "source", "unit", "region_code", "file_name", "fmt", "encoding", "received_at",
                 "finished_at", "state", "rows_in", "rows_loaded", "rows_rejected", "data_from", "data_to",
                 "message", "version"]
QUARANTINE_COLUMNS = ["batch_id", "source", "region_code", "received_at", "row_no", "field", "reason_code",
                      "reason", "raw"]
DAY = pd.Timedelta(hours=24)


def _root() -> str:
    return Settings.from_env().root_region


def raw_frames(data: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw ingestion rows of ``data`` (empty frames when it has none)."""
    b = getattr(data, "ingest_batches", None)
    q = getattr(data, "quarantine", None)
    b = pd.DataFrame(columns=BATCH_COLUMNS) if b is None else b
    q = pd.DataFrame(columns=QUARANTINE_COLUMNS) if q is None else q
    return b, q


def current(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per batch: its newest version."""
    if raw.empty:
        return raw.copy()
    out = raw.sort_values("version").groupby("batch_id", as_index=False).tail(1)
    out = out.assign(state=out["state"].astype(str), received_at=pd.to_datetime(out["received_at"]),
                     data_to=pd.to_datetime(out["data_to"]))
    return out.reset_index(drop=True)


def visible(batches: pd.DataFrame, region: str, root: str | None = None) -> pd.DataFrame:
    root = _root() if root is None else root
    code = batches["region_code"].astype(str).where(batches["region_code"].astype(str) != "", root)
    return batches[code.str.startswith(region)]


def in_period(batches: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    day = pd.to_datetime(batches["received_at"]).dt.normalize()
    return batches[(day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))]


def period_batches(data: Any, region: str, start: dt.date, end: dt.date, root: str | None = None,
                   source: str | None = None, loaded: bool = False) -> pd.DataFrame:
    b, _ = raw_frames(data)
    cur = current(b)
    if cur.empty:
        return cur
    cur = in_period(visible(cur, region, root), start, end)
    if source is not None:
        cur = cur[cur["source"] == source]
    return cur[cur["state"] == "loaded"] if loaded else cur


def incomplete_records(data: Any, batch_ids: set[str]) -> int:
    _, q = raw_frames(data)
    q = q[q["batch_id"].isin(batch_ids) & q["reason_code"].isin(["required", "missing_column"])]
    return len(q[["batch_id", "row_no"]].drop_duplicates())


def timely(batches: pd.DataFrame) -> pd.Series:
    has = batches["rows_loaded"].astype(int) > 0
    return has & (pd.to_datetime(batches["received_at"]) - pd.to_datetime(batches["data_to"]) <= DAY)


def _ratio(num: float, den: float) -> float:
    return math.nan if den == 0 else num / den * 100.0


def totals(data: Any, region: str, start: dt.date, end: dt.date, root: str | None = None,
           source: str | None = None) -> dict[str, float]:
    """The page's headline figures (queries.quality.quality_totals) from the raw rows."""
    every = period_batches(data, region, start, end, root, source)
    states = every["state"] if len(every) else pd.Series([], dtype=str)
    lb = every[states == "loaded"] if len(every) else every
    rows_in = int(lb["rows_in"].astype(int).sum()) if len(lb) else 0
    loaded = int(lb["rows_loaded"].astype(int).sum()) if len(lb) else 0
    rejected = int(lb["rows_rejected"].astype(int).sum()) if len(lb) else 0
    complete = rows_in - incomplete_records(data, set(lb["batch_id"]) if len(lb) else set())
    data_batches = int((lb["rows_loaded"].astype(int) > 0).sum()) if len(lb) else 0
    on_time = int(timely(lb).sum()) if len(lb) else 0
    return {"batches": len(every), "loaded": len(lb), "failed": int((states == "failed").sum()),
            "in_progress": int(states.isin(["received", "staged"]).sum()),
            "rows_in": rows_in, "rows_loaded": loaded, "rows_rejected": rejected, "rows_complete": complete,
            "data_batches": data_batches, "timely": on_time, "accept_rate": _ratio(loaded, rows_in),
            "completeness_rate": _ratio(complete, rows_in), "timeliness_rate": _ratio(on_time, data_batches)}


# ------------------------------------------------------------------ indicator oracles


def _value(key: str):
    def fn(data: Any, region: str, start: dt.date, end: dt.date) -> float:
        return float(totals(data, region, start, end)[key])
    return fn


oracle("data_records_in")(_value("rows_in"))
oracle("data_records_rejected")(_value("rows_rejected"))
oracle("data_accuracy_rate")(_value("accept_rate"))
oracle("data_timeliness_rate")(_value("timeliness_rate"))
oracle("data_completeness_rate")(_value("completeness_rate"))
