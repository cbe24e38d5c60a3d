"""Risk queries (风险预警): entity scores with their breakdown, grade distributions,
region aggregates, high-risk points, warning feed and traceability linkage.

Entities are scored live by ``queries.risk_score.ENTITY_RISK``.

Traceability: a batch that failed sampling *anywhere* warns every entity that
handled it; the list of failed batch numbers is read without a region filter on
purpose (that is the linkage), while every row returned stays inside the region.
Failed samplings and all samplings are read from their own copies ordered by date, by
batch and by region (``store.batch_index``).

Screens asking about a day with a risk snapshot (``queries.risk_snapshots``) read the
scores computed ahead (:func:`scored`) instead of ``ENTITY_RISK``.
"""
from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from store.engine import Engine
from domain.errors import InvalidParameter
from store.executor import run
from store.filters import Filter
from queries.regions import region_node
from queries.risk_score import ENTITY_COLUMNS, ENTITY_RISK, risk_params
from queries.risk_snapshots import SCORES_FROM, Snapshot, grades_from, usable
from store.rollups import level_for
from supervision.risk import RiskRules

logger = logging.getLogger(__name__)

def scored(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules) -> tuple[str, dict[str, object], Snapshot | None]:
    """The scored entities of ``flt``'s region on ``asof``: a FROM item with the columns of
    ``ENTITY_RISK``, its parameters, and the risk snapshot it reads (None: computed live)."""
    snap = usable(db, flt.region, asof, rules)
    if snap is not None:
        return SCORES_FROM, {"like": flt.like, "sid": snap.id}, snap
    return ENTITY_RISK, risk_params(flt, asof, rules), None


def scored_at(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules) -> dt.datetime | None:
    """When the scores screens show for ``flt``'s region on ``asof`` were computed: the
    risk snapshot's time, or None when they are computed live."""
    snap = usable(db, flt.region, asof, rules)
    return None if snap is None else snap.finished


def top_entities(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules, limit: int = 50,
                 grade: str | None = None) -> pd.DataFrame:
    """The highest-scoring entities (ties by credit code) with their breakdown."""
    if grade is not None and grade not in ("red", "orange", "yellow", "blue"):
        raise InvalidParameter(f"grade {grade!r}", user_message=f"风险等级不正确：{grade}")
    from_item, params, _ = scored(db, flt, asof, rules)
    params.update({"limit": max(1, min(int(limit), 5000)), "grade": grade or ""})
    return run(db, "risk_top_entities", f"""
        SELECT {', '.join(ENTITY_COLUMNS)} FROM {from_item}
        WHERE (%(grade)s = '' OR grade = %(grade)s)
        ORDER BY score DESC, credit_code LIMIT %(limit)s""", params)


def entity_risk(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules, credit_code: str) -> dict | None:
    """One entity's score and breakdown, or None when it is not alive in the region."""
    from_item, params, _ = scored(db, flt, asof, rules)
    df = run(db, "risk_entity", f"SELECT {', '.join(ENTITY_COLUMNS)} FROM {from_item} "
                                "WHERE credit_code = %(code)s", {**params, "code": credit_code})
    return None if df.empty else df.iloc[0].to_dict()


def grade_distribution(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules) -> pd.DataFrame:
    """Entities per grade (every grade present): grade, entities."""
    from_item, params, snap = scored(db, flt, asof, rules)
    level = level_for(flt.region) if snap is not None else None
    count = "sum(n)" if level else "count()"
    df = run(db, "risk_distribution", f"SELECT grade, {count} AS entities FROM "
             f"{grades_from(level) if level else from_item} GROUP BY grade", params)
    out = pd.DataFrame({"grade": ["red", "orange", "yellow", "blue"]}).merge(df, on="grade", how="left")
    out["entities"] = out["entities"].fillna(0).astype("int64")
    return out


def risk_by_child(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules) -> pd.DataFrame:
    """Per child region of ``flt.region``: entities, high (red or orange), high_share
    (%), avg_score and the area grade from the high-risk share."""
    node = region_node(db, flt.region, flt.scope)
    kids = node.children[["code", "name"]].rename(columns={"code": "region_code", "name": "region_name"})
    if node.child_length is None or kids.empty:
        return kids.assign(entities=0, high=0, high_share=float("nan"), avg_score=float("nan"), grade=None)
    from_item, params, snap = scored(db, flt, asof, rules)
    level = level_for(flt.region, node.child_length) if snap is not None else None
    if level:  # the snapshot's counts per grade (scores summed in hundredths)
        sql = f"""SELECT substring(grid_code, 1, %(n)s) AS region_code, sum(n) AS entities,
                         sumIf(n, grade IN ('red', 'orange')) AS high, sum(score_c) / 100 / sum(n) AS avg_score
                  FROM {grades_from(level)} GROUP BY region_code"""
    else:
        sql = f"""SELECT substring(grid_code, 1, %(n)s) AS region_code, count() AS entities,
                         countIf(grade IN ('red', 'orange')) AS high, avg(score) AS avg_score
                  FROM {from_item} GROUP BY region_code"""
    df = run(db, "risk_by_child", sql, {**params, "n": node.child_length})
    out = kids.merge(df, on="region_code", how="left")
    out[["entities", "high"]] = out[["entities", "high"]].fillna(0).astype("int64")
    out["high_share"] = (out["high"] / out["entities"].where(out["entities"] > 0) * 100.0).astype(float)
    out["grade"] = [rules.area_grade(s) if s == s else None for s in out["high_share"]]
    return out.reset_index(drop=True)


def high_risk_points(db: Engine, flt: Filter, asof: dt.date, rules: RiskRules, limit: int = 5000) -> pd.DataFrame:
    """Coordinates of red and orange entities (highest first) for the heat layer."""
    from_item, params, _ = scored(db, flt, asof, rules)
    return run(db, "risk_points", f"""
        SELECT credit_code, name, lon, lat, score, grade FROM {from_item}
        WHERE grade IN ('red', 'orange') AND NOT (lon = 0 AND lat = 0)
        ORDER BY score DESC, credit_code LIMIT %(limit)s""", {**params, "limit": max(1, min(int(limit), 20000))})


def batch_alerts(db: Engine, flt: Filter, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Batches that failed sampling anywhere in [start, end] and were handled by
    entities in the region: batch_no, first_fail (date), entities (in the region),
    regions (distinct towns in the region), newest failure first."""
    return newest_batch_alerts(db, flt, start, end, limit=None)[0]


def newest_batch_alerts(db: Engine, flt: Filter, start: dt.date, end: dt.date,
                        limit: int | None) -> tuple[pd.DataFrame, int]:
    """The ``limit`` newest rows of :func:`batch_alerts` (all with None) and how many
    batches there are in all. The fan-out (entities, towns) is counted for the rows
    returned only: at 10 million entities a week has thousands of failed batches."""
    columns = ["batch_no", "first_fail", "entities", "towns"]
    failed = """SELECT batch_no, min(event_date) AS first_fail, max(grid_code LIKE %(like)s) AS inside
                FROM sampling_failures WHERE event_date >= %(start)s AND event_date <= %(end)s GROUP BY batch_no"""
    params = {"like": flt.like, "start": start, "end": end}
    firsts = run(db, "risk_failed_batches", failed, params)
    if firsts.empty:
        return pd.DataFrame(columns=columns), 0
    # A batch that failed inside the region was handled there; for the others (thousands a
    # week at national scale) the region's sampling records, ordered by region, tell; the
    # few rows shown count their fan-out from the records ordered by batch (store.batch_index).
    # A jurisdiction's own wall needs no lookup.
    elsewhere = firsts.loc[firsts["inside"] == 0, "batch_no"]
    handled = set(firsts.loc[firsts["inside"] != 0, "batch_no"])
    if len(elsewhere):
        outside_failed = f"SELECT batch_no FROM ({failed}) WHERE inside = 0"
        handled |= set(run(db, "risk_batches_handled", f"""
            SELECT DISTINCT batch_no FROM sampling_regions WHERE grid_code LIKE %(like)s
            AND {_batches(elsewhere, outside_failed)} AND event_date <= %(end)s""",
                           {**params, "batches": _listed(elsewhere)})["batch_no"])
    mine = firsts[firsts["batch_no"].isin(handled)].sort_values(["first_fail", "batch_no"], ascending=[False, True])
    shown = mine if limit is None else mine.head(max(1, int(limit)))
    if shown.empty:
        return pd.DataFrame(columns=columns), 0
    fanout = run(db, "risk_batch_alerts", f"""
        SELECT batch_no, uniqExact(credit_code) AS entities, uniqExact(substring(grid_code, 1, 9)) AS towns
        FROM sampling_batches PREWHERE {_batches(shown["batch_no"], f"SELECT batch_no FROM ({failed})")}
        WHERE grid_code LIKE %(like)s AND event_date <= %(end)s GROUP BY batch_no""",
                 {**params, "batches": _listed(shown["batch_no"])})
    out = shown.merge(fanout, on="batch_no")[columns].reset_index(drop=True)
    return out, len(mine)


#: Up to this many batch numbers are bound as a list; more are read by a subquery (the
#: server's longest query text is 256 KiB).
_LISTED = 5000


def _batches(batches: pd.Series, batches_sql: str) -> str:
    """A condition selecting the sampling records of ``batches`` (those of ``batches_sql``, a
    SELECT of batch numbers, when there are too many to list)."""
    return "batch_no IN %(batches)s" if len(batches) <= _LISTED else f"batch_no GLOBAL IN ({batches_sql})"


def _listed(batches: pd.Series) -> list[str]:
    return sorted(batches)[:_LISTED] or [""]


def batch_fanout(db: Engine, flt: Filter, batch_no: str) -> tuple[pd.DataFrame, int]:
    """Entities in the region recorded as handling ``batch_no`` (credit_code, grid,
    failed_samples, samples, first_seen) and the number of entities outside the
    region that handled it too."""
    if not (batch_no.startswith("PC") and batch_no[2:].isdigit() and len(batch_no) <= 32):
        raise InvalidParameter(f"bad batch {batch_no!r}", user_message=f"批次号不正确：{batch_no}")
    params = {"like": flt.like, "batch": batch_no}
    inside = run(db, "risk_batch_fanout", """
        SELECT credit_code, any(grid_code) AS grid, countIf(result = 'fail') AS failed_samples,
               count() AS samples, min(event_date) AS first_seen
        FROM sampling_batches WHERE grid_code LIKE %(like)s AND batch_no = %(batch)s
        GROUP BY credit_code ORDER BY credit_code""", params)
    outside = run(db, "risk_batch_outside", """
        SELECT uniqExact(credit_code) AS n FROM sampling_batches
        WHERE batch_no = %(batch)s AND NOT (grid_code LIKE %(like)s)""", params)
    return inside, int(outside["n"].iloc[0])


WARNING_EVENTS = "(event_type IN ('complaint', 'penalty', 'list_entry') OR (event_type IN ('inspection', 'sampling') AND result = 'fail'))"


def warning_feed(db: Engine, flt: Filter, asof: dt.date, limit: int = 30) -> pd.DataFrame:
    """The newest events that raise an entity's risk (complaints, penalties, list
    entries, failed inspections and samplings) up to the end of ``asof``: those of the
    last week first, the whole log only when they are too few."""
    limit = max(1, min(int(limit), 500))
    for since in (asof - dt.timedelta(days=7), asof - dt.timedelta(days=90), None):
        df = run(db, "risk_warning_feed", f"""
            SELECT event_time, toString(event_type) AS event_type, detail, credit_code, grid_code, batch_no
            FROM events WHERE grid_code LIKE %(like)s AND event_date <= %(end)s AND {WARNING_EVENTS}
              {'AND event_date >= %(since)s' if since else ''}
            ORDER BY event_time DESC, event_id DESC LIMIT %(limit)s""",
                 {"like": flt.like, "end": asof, "limit": limit, **({"since": since} if since else {})})
        if len(df) == limit:
            break
    return df


def warning_trend(db: Engine, flt: Filter, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Warning events per day and type in [start, end]: day, event_type, events."""
    return run(db, "risk_warning_trend", f"""
        SELECT event_date AS day, toString(event_type) AS event_type, count() AS events
        FROM events WHERE grid_code LIKE %(like)s AND event_date >= %(start)s AND event_date <= %(end)s
          AND {WARNING_EVENTS}
        GROUP BY day, event_type ORDER BY day, event_type""", {"like": flt.like, "start": start, "end": end})
