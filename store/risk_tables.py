"""The tables risk snapshots are kept in (:mod:`queries.risk_snapshots` builds and reads
them): every entity's scores for one day (``risk_scores``), the counts per grade of each
region (``risk_grades``) and the list of snapshots (``risk_snapshots``). Created by
``etl init`` on the server the app connects to (on a cluster with replicas: on every
server, replicated to all)."""
from __future__ import annotations

from store.engine import Engine
from store.replication import ddl_for
from store.sql import execute
from supervision.risk import FACTORS

_COUNTS = ("complaints", "penalties", "failed_inspections", "failed_batches", "overdue_verifications")
#: Columns of ``risk_scores`` besides ``snapshot_id`` (those of ``queries.risk_score.ENTITY_RISK`` that screens read).
SCORE_COLUMNS: dict[str, str] = {
    "credit_code": "String", "name": "String", "grid_code": "String", "industry": "String",
    "credit_grade": "String", "abnormal": "UInt8", "dishonest": "UInt8", **{c: "UInt32" for c in _COUNTS},
    "credit_class": "UInt8", "industry_class": "UInt8", **{f"p_{f.id}": "Float64" for f in FACTORS},
    "score": "Float64", "grade": "String", "lon": "Float64", "lat": "Float64",
}
TABLES: dict[str, str] = {
    "risk_scores": "CREATE TABLE IF NOT EXISTS risk_scores (snapshot_id UInt64, "
                   + ", ".join(f"{c} {t}" for c, t in SCORE_COLUMNS.items())
                   + ") ENGINE = MergeTree PARTITION BY snapshot_id ORDER BY (grid_code, credit_code)",
    # Entities per grade (and batch linkage) and their summed score in hundredths, per region of one level.
    "risk_grades": "CREATE TABLE IF NOT EXISTS risk_grades (snapshot_id UInt64, level String, grid_code String, "
                   "grade String, linked UInt8, n UInt64, score_c Int64) "
                   "ENGINE = MergeTree PARTITION BY snapshot_id ORDER BY (level, grid_code)",
    "risk_snapshots": "CREATE TABLE IF NOT EXISTS risk_snapshots (snapshot_id UInt64, root String, as_of Date, "
                      "rules String, data_version UInt64, state String, started DateTime, finished DateTime, "
                      "entities UInt64, seconds Float64) ENGINE = MergeTree ORDER BY (snapshot_id, state)",
}


def create_tables(db: Engine) -> None:
    for name, ddl in TABLES.items():
        execute(db, f"create_{name}", ddl_for(db, ddl))


def drop_tables(db: Engine) -> None:
    for name in TABLES:
        execute(db, f"drop_{name}", f"DROP TABLE IF EXISTS {name}")
