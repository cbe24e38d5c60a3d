"""The ClickHouse schema, created idempotently (``python -m etl init``).

DDL stays inside the portable subset (ClickHouse 18.16 … 26.x, DESIGN.md §4).
Region codes nest by prefix; every fact row carries the 15-digit ``grid_code`` of
the smallest unit it belongs to, so a region filter is ``grid_code LIKE '4419%'``
and a child-region grouping is ``substring(grid_code, 1, n)``.
"""
from __future__ import annotations

import logging

from queries.engine import Engine
from queries.executor import execute, run

logger = logging.getLogger(__name__)

ENTITY_TYPES = {"enterprise": 1, "individual": 2, "cooperative": 3}
ENTITY_STATUSES = {"active": 1, "cancelled": 2, "revoked": 3}
CREDIT_GRADES = {"A": 1, "B": 2, "C": 3, "D": 4}
EVENT_TYPES = {
    "registration": 1, "change": 2, "cancellation": 3, "revocation": 4, "licence": 5,
    "penalty": 6, "complaint": 7, "inspection": 8, "sampling": 9, "list_entry": 10, "list_exit": 11,
}
RESULTS = {"none": 0, "pass": 1, "fail": 2}
TASK_TYPES = {"verify_registration": 1, "verify_change": 2, "clue": 3, "disclosure": 4}
TASK_STATUSES = {
    "pending": 1, "inspecting": 2, "notice": 3, "recheck": 4, "joint": 5, "transferred": 6, "closed": 7,
}
DEPT_KINDS = {"market_regulator": 1, "licensing": 2, "town_office": 3, "other": 4}


def _enum(values: dict[str, int]) -> str:
    return "Enum8(" + ", ".join(f"'{k}' = {v}" for k, v in values.items()) + ")"


TABLES: dict[str, str] = {
    # The NBS division tree (levels 1-5) plus grids (level 6, village code + 3 digits).
    "regions": """
        CREATE TABLE IF NOT EXISTS regions (
            code String, name String, level UInt8, parent String
        ) ENGINE = MergeTree ORDER BY code""",
    "grid_workers": """
        CREATE TABLE IF NOT EXISTS grid_workers (
            worker_id String, grid_code String, name String, phone String
        ) ENGINE = MergeTree ORDER BY (grid_code, worker_id)""",
    "departments": f"""
        CREATE TABLE IF NOT EXISTS departments (
            dept_id String, name String, region_code String, kind {_enum(DEPT_KINDS)}
        ) ENGINE = MergeTree ORDER BY (region_code, dept_id)""",
    # Market entities as of the last load: one row per credit code.
    "entities": f"""
        CREATE TABLE IF NOT EXISTS entities (
            credit_code String, name String,
            entity_type {_enum(ENTITY_TYPES)}, industry String,
            grid_code String, reg_date Date,
            status {_enum(ENTITY_STATUSES)}, status_date Nullable(Date),
            credit_grade {_enum(CREDIT_GRADES)}, abnormal UInt8, dishonest UInt8,
            legal_rep String, owner_id String, capital Float64,
            lon Float64, lat Float64
        ) ENGINE = MergeTree ORDER BY (grid_code, credit_code)""",
    # Append-only event log.
    "events": f"""
        CREATE TABLE IF NOT EXISTS events (
            event_id UInt64, event_time DateTime, event_date Date,
            event_type {_enum(EVENT_TYPES)},
            credit_code String, grid_code String,
            entity_type {_enum(ENTITY_TYPES)}, industry String,
            detail String, result {_enum(RESULTS)}, amount Float64,
            batch_no String, dept_id String, source String
        ) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date)
          ORDER BY (event_date, grid_code, event_id)""",
    # Supervision tasks (current state) and their status events (append-only).
    "tasks": f"""
        CREATE TABLE IF NOT EXISTS tasks (
            task_id String, task_type {_enum(TASK_TYPES)},
            credit_code String, grid_code String, dept_id String,
            created_at DateTime, due_date Date,
            status {_enum(TASK_STATUSES)}, closed_at Nullable(DateTime),
            problem_found UInt8
        ) ENGINE = MergeTree ORDER BY (grid_code, task_id)""",
    "task_events": f"""
        CREATE TABLE IF NOT EXISTS task_events (
            task_id String, event_time DateTime, status {_enum(TASK_STATUSES)},
            actor String, note String
        ) ENGINE = MergeTree ORDER BY (task_id, event_time)""",
    # Load bookkeeping: which data set is in the database.
    "load_log": """
        CREATE TABLE IF NOT EXISTS load_log (
            loaded_at DateTime, kind String, root String, seed Int64, rows UInt64, note String
        ) ENGINE = MergeTree ORDER BY loaded_at""",
}


def init_schema(db: Engine) -> list[str]:
    """Create every table that does not exist yet; return the table names."""
    for name, ddl in TABLES.items():
        execute(db, f"create_{name}", ddl)
    logger.info("schema ready in database %s (%d tables)", db.database, len(TABLES))
    return list(TABLES)


def drop_data_tables(db: Engine) -> None:
    """Drop the tables (used before regenerating demo data)."""
    for name in TABLES:
        execute(db, f"drop_{name}", f"DROP TABLE IF EXISTS {name}")


def row_count(db: Engine, table: str) -> int:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    exists = run(db, "table_exists", "SELECT count() AS n FROM system.tables "
                 "WHERE database = %(db)s AND name = %(t)s", {"db": db.database, "t": table})
    if int(exists["n"].iloc[0]) == 0:
        return 0
    return int(run(db, f"count_{table}", f"SELECT count() AS n FROM {table}")["n"].iloc[0])
