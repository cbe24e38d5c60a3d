"""Data-quality queries (数据质量): ingestion batches, per-source freshness, top
rejection reasons and the headline totals of the ``/quality`` page.

Sources of truth (``store.schema``): ``ingest_batches`` holds one row per state
change of a batch; its current state is the row with the largest ``version``
(read with ``argMax(…, version) GROUP BY batch_id``: :data:`BATCHES`).
``quarantine`` holds one row per problem; a rejected record is a distinct
``(batch_id, row_no)``.

Region scope. A batch belongs to the region scope of the unit that sent it
(``region_code``, the unit's token or inbox folder); ``''`` means the unit has no
regional restriction (the inbox's top folder, the CLI without ``--region``) and
the batch belongs to the whole deployment. The rule, one expression used by the
page and the indicators alike::

    if(region_code = '', <root>, region_code) LIKE '<viewer region>%'

i.e. a viewer of region R sees the batches whose region code starts with R, and
the deployment-wide ('') batches only when R is the jurisdiction root
(``JINJIAN_ROOT_REGION``; or a code above it, which the scope check forbids
here). A viewer of 4419 never sees a batch sent under 4401 or 441900003's
neighbour; a viewer of a town does not see the city's batches.

Periods are closed date ranges on the date of ``received_at`` (when the batch
arrived). Counts of records come from batches whose current state is
``loaded`` (rows in = loaded + rejected holds for them; ``failed`` batches — an
unreadable file — have no records, ``received``/``staged`` ones are still being
loaded). Definitions in docs/quality.md.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Mapping

import pandas as pd

from domain.sources import SOURCES
from store.engine import Engine
from domain.errors import InvalidParameter
from store.executor import run
from store.filters import Filter, RegionScope, default_scope

#: Hours between the newest record of a batch (``data_to``) and its arrival
#: (``received_at``) within which the batch counts as timely (报送及时).
TIMELY_HOURS = 24
#: Reason codes that make a record incomplete (完整性): an empty required field or a
#: file without a required column.
INCOMPLETE_CODES = ("required", "missing_column")
BATCH_LIMIT = 5000
STATES = ("received", "staged", "loaded", "failed")

#: Every batch with its current state (a FROM item; plain column names).
BATCHES = """(
    SELECT batch_id, b_source AS source, b_unit AS unit, b_region AS region_code, b_file AS file_name,
           b_fmt AS fmt, b_encoding AS encoding, b_received AS received_at, b_finished AS finished_at,
           b_state AS state, b_in AS rows_in, b_loaded AS rows_loaded, b_rejected AS rows_rejected,
           b_from AS data_from, b_to AS data_to, b_message AS message
    FROM (
        SELECT batch_id, argMax(source, version) AS b_source, argMax(unit, version) AS b_unit,
               argMax(region_code, version) AS b_region, argMax(file_name, version) AS b_file,
               argMax(fmt, version) AS b_fmt, argMax(encoding, version) AS b_encoding,
               argMax(received_at, version) AS b_received, argMax(finished_at, version) AS b_finished,
               argMax(toString(state), version) AS b_state, argMax(rows_in, version) AS b_in,
               argMax(rows_loaded, version) AS b_loaded, argMax(rows_rejected, version) AS b_rejected,
               argMax(data_from, version) AS b_from, argMax(data_to, version) AS b_to,
               argMax(message, version) AS b_message
        FROM ingest_batches GROUP BY batch_id))"""

#: The loaded batches with their quality measures, one row per batch (a FROM item;
#: the indicator source ``ingest_quality``). ``grid_code`` is the batch's region
#: scope with '' replaced by ``%(root)s`` so that ``grid_code LIKE %(like)s`` applies
#: the rule above; ``records_complete`` = records in minus the distinct records with
#: a ``required`` / ``missing_column`` problem; ``timely`` = at least one record
#: loaded and the newest of them at most TIMELY_HOURS before ``received_at``.
INGEST_QUALITY = f"""(
    SELECT s.batch_id AS batch_id, s.source AS source, s.received_at AS received_at,
           s.rows_in AS records_in, s.rows_loaded AS records_loaded, s.rows_rejected AS records_rejected,
           toInt64(s.rows_in) - toInt64(ifNull(q.incomplete, 0)) AS records_complete,
           s.rows_loaded > 0 AS has_data,
           s.rows_loaded > 0 AND s.data_to >= s.received_at - {TIMELY_HOURS * 3600} AS timely,
           if(s.region_code = '', %(root)s, s.region_code) AS grid_code
    FROM (SELECT * FROM {BATCHES} WHERE state = 'loaded') AS s
    LEFT JOIN (SELECT batch_id, uniqExact(row_no) AS incomplete FROM quarantine
               WHERE reason_code IN ('required', 'missing_column') GROUP BY batch_id) AS q
        ON s.batch_id = q.batch_id)"""

SCOPE_SQL = "if(region_code = '', %(root)s, region_code) LIKE %(like)s"
PERIOD_SQL = "toDate(received_at) >= %(start)s AND toDate(received_at) <= %(end)s"


def _root(root: str | None) -> str:
    if root is None:
        from settings import Settings

        return Settings.from_env().root_region
    return root


def _params(region: str, start: dt.date, end: dt.date, source: str | None, root: str | None,
            scope_sql: str = SCOPE_SQL) -> tuple[str, dict[str, Any]]:
    """The WHERE conditions (``scope_sql``, period, source) and their parameters; the
    region must lie inside the jurisdiction ``root`` (default: JINJIAN_ROOT_REGION, and then
    inside the current user's scope too; ScopeViolation otherwise)."""
    scope = RegionScope(root) if root is not None else default_scope()  # None: the current user's scope
    root = _root(root)
    flt = Filter(region=region, scope=scope, start=start, end=end)
    conds = [scope_sql, PERIOD_SQL]
    params: dict[str, Any] = {"root": root, "like": flt.like, "start": start, "end": end}
    if source is not None:
        if source not in SOURCES:
            raise InvalidParameter(f"unknown source {source!r}", user_message=f"未知的数据来源：{source}")
        conds.append("source = %(source)s")
        params["source"] = source
    return " AND ".join(conds), params


def _rate(num: float, den: float) -> float:
    return num / den * 100.0 if den else math.nan


def batches(db: Engine, region: str, start: dt.date, end: dt.date, source: str | None = None,
            limit: int = 500, *, root: str | None = None) -> pd.DataFrame:
    """The batches received in [start, end] visible to ``region``, newest first, each
    with its current state and counts (every state: received, staged, loaded, failed)."""
    where, params = _params(region, start, end, source, root)
    params["limit"] = max(1, min(int(limit), BATCH_LIMIT))
    return run(db, "quality_batches", f"""
        SELECT batch_id, source, unit, region_code, file_name, fmt, encoding, received_at, finished_at, state,
               rows_in, rows_loaded, rows_rejected, data_from, data_to, message
        FROM {BATCHES} WHERE {where}
        ORDER BY received_at DESC, batch_id LIMIT %(limit)s""", params)


def batch_count(db: Engine, region: str, start: dt.date, end: dt.date, source: str | None = None, *,
                root: str | None = None) -> int:
    """How many batches :func:`batches` would list without a limit."""
    where, params = _params(region, start, end, source, root)
    df = run(db, "quality_batch_count", f"SELECT count() AS n FROM {BATCHES} WHERE {where}", params)
    return int(df["n"].iloc[0])


def _epoch_to_nat(s: pd.Series) -> pd.Series:
    """DateTime aggregates over no rows come back as the epoch: make them NaT."""
    s = pd.to_datetime(s)
    return s.where(s.dt.year > 1970)


def source_summary(db: Engine, region: str, start: dt.date, end: dt.date, now: dt.datetime,
                   late_hours: Mapping[str, float], *, root: str | None = None) -> pd.DataFrame:
    """One row per source in :data:`SOURCES` order (all of them, zeros when silent):

    - ``batches`` / ``failed``: batches received in the period (any state) / failed ones;
    - ``rows_in``, ``rows_loaded``, ``rows_rejected``: records of the period's loaded batches;
    - ``accept_rate``: rows_loaded / rows_in × 100 (NaN without records);
    - ``last_received``: arrival of the newest loaded batch ever (any period), NaT if none;
    - ``last_data_time``: newest record time (``data_to``) of any loaded batch with records;
    - ``hours_since``: hours from ``last_received`` to ``now`` (NaN if none);
    - ``late_hours``: the source's limit (JINJIAN_SOURCE_LATE_HOURS); ``late``: no loaded
      batch ever, or the newest is more than ``late_hours`` old at ``now``.
    """
    _, params = _params(region, start, end, None, root)
    df = run(db, "quality_source_summary", f"""
        SELECT source,
               countIf({PERIOD_SQL}) AS n_batches,
               countIf({PERIOD_SQL} AND state = 'failed') AS n_failed,
               sumIf(rows_in, {PERIOD_SQL} AND state = 'loaded') AS n_in,
               sumIf(rows_loaded, {PERIOD_SQL} AND state = 'loaded') AS n_loaded,
               sumIf(rows_rejected, {PERIOD_SQL} AND state = 'loaded') AS n_rejected,
               maxIf(received_at, state = 'loaded') AS last_rcv,
               maxIf(data_to, state = 'loaded' AND rows_loaded > 0) AS last_data
        FROM {BATCHES} WHERE {SCOPE_SQL}
        GROUP BY source""", params)  # aliases differ from the columns they aggregate (18.16 and 2x)
    df = df.rename(columns={"n_batches": "batches", "n_failed": "failed", "n_in": "rows_in", "n_loaded": "rows_loaded",
                            "n_rejected": "rows_rejected", "last_rcv": "last_received", "last_data": "last_data_time"})
    out = pd.DataFrame({"source": list(SOURCES), "source_zh": [s.zh for s in SOURCES.values()]})
    out = out.merge(df, on="source", how="left")
    for col in ("batches", "failed", "rows_in", "rows_loaded", "rows_rejected"):
        out[col] = out[col].fillna(0).astype("int64")
    for col in ("last_received", "last_data_time"):
        out[col] = _epoch_to_nat(out[col])
    out["accept_rate"] = [_rate(a, b) for a, b in zip(out["rows_loaded"], out["rows_in"])]
    now_ts = pd.Timestamp(now)
    out["hours_since"] = [(now_ts - t).total_seconds() / 3600.0 if pd.notna(t) else math.nan
                          for t in out["last_received"]]
    # a source sent when something is found (巡查线索) has no limit and is never late
    out["late_hours"] = [float(late_hours.get(s, math.nan)) if SOURCES[s].scheduled else math.nan
                         for s in out["source"]]
    out["late"] = [bool(not math.isnan(lim) and (math.isnan(h) or h > lim))
                   for h, lim in zip(out["hours_since"], out["late_hours"])]
    return out


def top_reasons(db: Engine, region: str, start: dt.date, end: dt.date, limit: int = 10,
                source: str | None = None, *, root: str | None = None) -> pd.DataFrame:
    """The most frequent rejection reasons of the period's loaded batches, by reason
    code and field: reason_code, field, reason (one example text: the smallest),
    records (distinct rejected records with that problem), share (% of all the
    period's rejected records; a record with several problems counts under each, so
    shares may add up to more than 100)."""
    where, params = _params(region, start, end, source, root)
    params["limit"] = max(1, min(int(limit), 100))
    inner = f"SELECT batch_id FROM {BATCHES} WHERE state = 'loaded' AND {where}"
    total = int(run(db, "quality_rejected_records", f"""
        SELECT uniqExact(batch_id, row_no) AS n FROM quarantine WHERE batch_id IN ({inner})""",
                    params)["n"].iloc[0])
    df = run(db, "quality_top_reasons", f"""
        SELECT reason_code, field, min(reason) AS reason, uniqExact(batch_id, row_no) AS records
        FROM quarantine WHERE batch_id IN ({inner})
        GROUP BY reason_code, field
        ORDER BY records DESC, reason_code, field LIMIT %(limit)s""", params)
    df["share"] = [_rate(r, total) for r in df["records"]]
    df.attrs["total_records"] = total
    return df


def quality_totals(db: Engine, region: str, start: dt.date, end: dt.date, source: str | None = None, *,
                   root: str | None = None) -> dict[str, float]:
    """The headline figures of the period (definitions in docs/quality.md):
    batches / loaded / failed / in_progress (received or staged), rows_in / rows_loaded /
    rows_rejected / rows_complete (of loaded batches), accept_rate (数据准确率, %),
    completeness_rate (完整率, %), data_batches (loaded batches with records), timely,
    timeliness_rate (报送及时率, %). Rates are NaN without a denominator. Equal to the
    catalogue's 数据质量 indicators for the same region and period."""
    where, params = _params(region, start, end, source, root)
    counts = run(db, "quality_batch_states", f"""
        SELECT count() AS batches, countIf(state = 'loaded') AS loaded, countIf(state = 'failed') AS failed,
               countIf(state IN ('received', 'staged')) AS in_progress
        FROM {BATCHES} WHERE {where}""", params).iloc[0]
    qwhere, _ = _params(region, start, end, source, root, scope_sql="grid_code LIKE %(like)s")
    q = run(db, "quality_totals", f"""
        SELECT sum(records_in) AS rows_in, sum(records_loaded) AS rows_loaded,
               sum(records_rejected) AS rows_rejected, sum(records_complete) AS rows_complete,
               countIf(has_data) AS data_batches, countIf(timely) AS timely
        FROM {INGEST_QUALITY} WHERE {qwhere}""", params).iloc[0]
    out: dict[str, float] = {k: int(counts[k]) for k in ("batches", "loaded", "failed", "in_progress")}
    out.update({k: int(q[k]) for k in ("rows_in", "rows_loaded", "rows_rejected", "rows_complete",
                                       "data_batches", "timely")})
    out["accept_rate"] = _rate(out["rows_loaded"], out["rows_in"])
    out["completeness_rate"] = _rate(out["rows_complete"], out["rows_in"])
    out["timeliness_rate"] = _rate(out["timely"], out["data_batches"])
    return out
