"""The ClickHouse schema, created idempotently (``python -m etl init``).

DDL stays inside the portable subset (ClickHouse 18.16 … 26.x, DESIGN.md §4).
Region codes nest by prefix; every fact row carries the 15-digit ``grid_code`` of
the smallest unit it belongs to, so a region filter is ``grid_code LIKE '4419%'``
and a child-region grouping is ``substring(grid_code, 1, n)``.
"""
from __future__ import annotations

import logging

from domain.codes import (
    ACTOR_KINDS, BATCH_STATES, CREDIT_GRADES, DEPT_KINDS, ENTITY_STATUSES, ENTITY_TYPES, EVENT_TYPES, RANDOM_RESULTS,
    RESULTS, TASK_FROM_STATUSES, TASK_STATUSES, TASK_TYPES,
)
from domain.errors import QueryFailed
from store import batch_index
from store.engine import Engine
from store.executor import run
from store.replication import check_engines, ddl_for, homes
from store.sql import execute

logger = logging.getLogger(__name__)



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
    # ``industries``: GB/T 4754 sections the department licenses (谁审批、谁监管), e.g. 'H,F,C'.
    "departments": f"""
        CREATE TABLE IF NOT EXISTS departments (
            dept_id String, name String, region_code String, kind {_enum(DEPT_KINDS)},
            industries String DEFAULT ''
        ) ENGINE = MergeTree ORDER BY (region_code, dept_id)""",
    # Geometry loaded by the operator (etl.reference): real town/village boundaries and grid
    # polygons (GeoJSON text, WGS-84; '' for a grid given only as a point), a representative
    # point, and a grid's planned number of grid workers (0 = not given).
    "region_geo": """
        CREATE TABLE IF NOT EXISTS region_geo (
            code String, level UInt8, geometry String, lon Float64, lat Float64,
            workers_planned UInt16, batch_id String
        ) ENGINE = MergeTree ORDER BY (level, code)""",
    # Market entities as of the last load: one row per credit code.
    "entities": f"""
        CREATE TABLE IF NOT EXISTS entities (
            credit_code String, name String,
            entity_type {_enum(ENTITY_TYPES)}, industry String,
            grid_code String, reg_date Date,
            status {_enum(ENTITY_STATUSES)}, status_date Nullable(Date),
            credit_grade {_enum(CREDIT_GRADES)}, abnormal UInt8, dishonest UInt8,
            legal_rep String, owner_id String, capital Float64,
            lon Float64, lat Float64, batch_id String
        ) ENGINE = MergeTree ORDER BY (grid_code, credit_code)""",
    # Append-only event log.
    "events": f"""
        CREATE TABLE IF NOT EXISTS events (
            event_id UInt64, event_time DateTime, event_date Date,
            event_type {_enum(EVENT_TYPES)},
            credit_code String, grid_code String,
            entity_type {_enum(ENTITY_TYPES)}, industry String,
            detail String, result {_enum(RESULTS)}, amount Float64,
            batch_no String, dept_id String, source String, batch_id String
        ) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date)
          ORDER BY (event_date, grid_code, event_id)""",
    # Supervision tasks: current state, one row per task (see supervision.rules);
    # ``late_stages`` = stages ended after their deadline, ``work_days`` = working
    # days from push to close (0 while open).
    "tasks": f"""
        CREATE TABLE IF NOT EXISTS tasks (
            task_id String, task_type {_enum(TASK_TYPES)},
            credit_code String, grid_code String, dept_id String,
            created_at DateTime, due_date Date,
            status {_enum(TASK_STATUSES)}, closed_at Nullable(DateTime),
            problem_found UInt8, source_event_id UInt64, detail String,
            late_stages UInt8, work_days UInt16, batch_id String
        ) ENGINE = MergeTree ORDER BY (grid_code, task_id)""",
    # Every transition of a task (append-only). ``due_date`` is the deadline of the
    # stage this event starts (for ``closed``: of the stage it ends); ``stage_due``
    # and ``stage_wd`` are the deadline and working days of the stage it ends;
    # ``late_stages`` counts the task's stages ended after their deadline so far.
    # A push (``from_status = 'none'``) keeps the source record's own time (registration,
    # change, inspection or decision time) in ``source_time`` and its source in ``source``;
    # ``event_time`` is the push. Epoch 0 / '' = not recorded (other events, older data).
    "task_events": f"""
        CREATE TABLE IF NOT EXISTS task_events (
            task_id String, event_time DateTime, event_date Date,
            from_status {_enum(TASK_FROM_STATUSES)}, status {_enum(TASK_STATUSES)},
            due_date Date, stage_due Date, stage_wd UInt16, late_stages UInt8,
            actor String, actor_kind {_enum(ACTOR_KINDS)}, note String,
            task_type {_enum(TASK_TYPES)}, grid_code String, dept_id String, credit_code String,
            batch_id String, source_time DateTime DEFAULT toDateTime(0), source String DEFAULT ''
        ) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date)
          ORDER BY (event_date, grid_code, task_id, event_time)""",
    # Ingestion (etl.ingest, docs/ingest.md). ``batch_id`` on the tables above names the
    # ingestion batch that wrote the row ('' for demo data). One row per batch state
    # change; the newest ``version`` is the batch's state.
    "ingest_batches": f"""
        CREATE TABLE IF NOT EXISTS ingest_batches (
            batch_id String, source String, unit String, region_code String,
            file_name String, fmt String, encoding String,
            received_at DateTime, finished_at DateTime, state {_enum(BATCH_STATES)},
            rows_in UInt32, rows_loaded UInt32, rows_rejected UInt32,
            data_from DateTime, data_to DateTime, message String, version UInt64,
            history UInt8 DEFAULT 0, line_offset UInt32 DEFAULT 0
        ) ENGINE = ReplacingMergeTree(version) ORDER BY batch_id""",
    # Rejected input: one row per problem (a record with two bad fields has two rows).
    "quarantine": """
        CREATE TABLE IF NOT EXISTS quarantine (
            batch_id String, source String, region_code String, received_at DateTime,
            row_no UInt32, field String, reason_code String, reason String, raw String
        ) ENGINE = MergeTree ORDER BY (batch_id, row_no)""",
    # Record keys already loaded, per source: duplicate detection across batches.
    "ingest_keys": """
        CREATE TABLE IF NOT EXISTS ingest_keys (
            source String, record_id String, batch_id String, row_no UInt32
        ) ENGINE = MergeTree ORDER BY (source, record_id)""",
    # Reference data loads (etl.reference: grids, boundaries, grid workers, departments):
    # the same states as ingestion batches; the newest ``version`` is the batch's state.
    "reference_batches": f"""
        CREATE TABLE IF NOT EXISTS reference_batches (
            batch_id String, kind String, unit String, region_code String, file_name String,
            fmt String, encoding String, received_at DateTime, finished_at DateTime,
            state {_enum(BATCH_STATES)}, rows_in UInt32, rows_loaded UInt32, rows_rejected UInt32,
            message String, version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY batch_id""",
    # Rejected reference records: one row per problem, like ``quarantine``.
    "reference_rejects": """
        CREATE TABLE IF NOT EXISTS reference_rejects (
            batch_id String, kind String, row_no UInt32, field String, reason_code String,
            reason String, raw String
        ) ENGINE = MergeTree ORDER BY (batch_id, row_no)""",
    # Each region's go-live date (上线日期): records dated before it load as history and push
    # no task (docs/onboarding.md). The newest ``version`` per region counts; 1970-01-01 = unset.
    "go_live": """
        CREATE TABLE IF NOT EXISTS go_live (
            region_code String, go_live Date, set_by String, set_at DateTime, version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY region_code""",
    # 执法人员名录 (etl.reference, kind ``inspectors``): who a 双随机 draw may send, by department.
    "inspectors": """
        CREATE TABLE IF NOT EXISTS inspectors (
            inspector_id String, name String, dept_id String, region_code String, cert_no String
        ) ENGINE = MergeTree ORDER BY (region_code, dept_id, inspector_id)""",
    # 双随机一公开 (etl.random_checks, docs/double_random.md): one row per plan and draw, and one
    # per drawn firm with its inspectors and result; the newest ``version`` of a row counts, as of a
    # day the newest one entered by then (``entered_at``); ``result_at`` is the inspection's date.
    # Items and actions keep every version (plain MergeTree: a Replacing engine would merge away
    # the rows a past day is computed from).
    "random_plans": """
        CREATE TABLE IF NOT EXISTS random_plans (
            plan_id String, name String, dept_id String, region_code String, period_from Date,
            period_to Date, industries String, entity_types String, listed String, ratios String,
            seed UInt64, fingerprint String, pool String, spared UInt32, drawn UInt32, created_by String,
            created_at DateTime, version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY plan_id""",
    "random_items": f"""
        CREATE TABLE IF NOT EXISTS random_items (
            plan_id String, credit_code String, credit_class String, rank String, grid_code String,
            dept_id String, inspector_1 String, inspector_2 String, drawn_at DateTime, due_date Date,
            result {_enum(RANDOM_RESULTS)}, result_at DateTime, result_by String, note String,
            entered_at DateTime, version UInt64
        ) ENGINE = MergeTree ORDER BY (plan_id, credit_code, version)""",
    # 联合惩戒 (etl.joint, docs/joint.md): one row per case and one per participating department's
    # action; the newest ``version`` counts (as of a day: the newest ``entered_at`` by then);
    # epoch 0 = not yet (closed_at, done_at).
    "joint_cases": """
        CREATE TABLE IF NOT EXISTS joint_cases (
            case_id String, credit_code String, grid_code String, memo_id String, dept_id String,
            reason String, opened_at DateTime, opened_by String, closed_at DateTime, closed_by String,
            close_note String, version UInt64
        ) ENGINE = ReplacingMergeTree(version) ORDER BY case_id""",
    "joint_actions": """
        CREATE TABLE IF NOT EXISTS joint_actions (
            case_id String, dept_id String, credit_code String, grid_code String, measures String,
            opened_at DateTime, due_date Date, done_at DateTime, done_by String, note String, entered_at DateTime,
            version UInt64
        ) ENGINE = MergeTree ORDER BY (case_id, dept_id, version)""",
    # Load bookkeeping: which data set is in the database.
    "load_log": """
        CREATE TABLE IF NOT EXISTS load_log (
            loaded_at DateTime, kind String, root String, seed Int64, rows UInt64, note String
        ) ENGINE = MergeTree ORDER BY loaded_at""",
}


#: Tables an ingestion batch writes; each has a ``stage_<name>`` twin holding a
#: validated batch until it is published (PARTITION BY batch_id: dropped at once).
STAGED_TABLES = ("entities", "events", "tasks", "task_events", "ingest_keys")


def stage_table(name: str) -> str:
    if name not in STAGED_TABLES:
        raise ValueError(f"no stage table for {name!r}")
    return f"stage_{name}"


def _stage_ddl(name: str) -> str:
    ddl = TABLES[name]
    body = ddl[ddl.index("("):ddl.index(") ENGINE") + 1]
    return (f"CREATE TABLE IF NOT EXISTS {stage_table(name)} {body} "
            "ENGINE = MergeTree PARTITION BY batch_id ORDER BY tuple()")


#: Fact tables that a cluster shards by credit code (every row of one market entity on
#: one shard): ``<name>_local`` on every shard, ``<name>`` a Distributed table over them.
SHARDED = ("entities", "events", "tasks", "task_events")


def init_schema(db: Engine) -> list[str]:
    """Create every table that does not exist yet; return the table names.

    On a cluster (``db.cluster``) the fact tables and their rollups are created on every
    shard as ``<name>_local`` with a Distributed ``<name>`` over them on every shard; the
    other tables live on the server the app connects to (which must be one of the shards).
    On a cluster with replicas (``db.replicated``) every table is created on every server
    with a Replicated engine (:mod:`store.replication`), the stage tables plain on each."""
    from store.risk_tables import create_tables as create_risk_tables
    from store.rollup_tables import create_rollups

    if db.replicated:
        check_engines(homes(db))
    for home in homes(db):
        for name, ddl in TABLES.items():
            if not (db.cluster and name in SHARDED):
                execute(home, f"create_{name}", ddl_for(home, ddl))
    _add_columns(db)
    for home in homes(db):
        for name in STAGED_TABLES:
            execute(home, f"create_stage_{name}", _stage_ddl(name))
        create_risk_tables(home)  # derived scores: with the other tables (on every server when replicated)
    if db.cluster:
        _init_cluster(db)
    else:
        create_rollups(db)
        batch_index.create(db)
    logger.info("schema ready in database %s (%d tables)", db.database, len(TABLES))
    return list(TABLES)


#: Columns added to a table after its first release: ``etl init`` adds them to an existing
#: table (with the declared default), so an operator's database keeps its rows.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {"departments": ("industries",), "ingest_batches": ("history", "line_offset"),
                                               "task_events": ("source_time", "source")}


def _add_columns(db: Engine) -> None:
    """Add :data:`ADDED_COLUMNS` to existing tables: on a cluster a sharded table's
    ``_local`` table on every shard, then its Distributed table on every server; and stage tables."""
    for table, cols in ADDED_COLUMNS.items():
        targets = [(db, table)]  # on a cluster with replicas, the ALTER of a Replicated table reaches every replica
        if db.cluster and table in SHARDED:
            nodes = [node for group in db.nodes() for node in group]
            targets = [(s, f"{table}_local") for s in db.shards()] + [(n, table) for n in nodes]
        if table in STAGED_TABLES:
            targets += [(home, stage_table(table)) for home in homes(db)]
        for engine, physical in targets:
            have = set(run(engine, "schema_table_columns", "SELECT name FROM system.columns WHERE database = %(db)s "
                           "AND table = %(t)s", {"db": engine.database, "t": physical})["name"])
            for col in cols:
                if have and col not in have:
                    _alter(engine, f"schema_add_{table}_{col}",
                           f"ALTER TABLE {physical} ADD COLUMN {_column_item(table, col)}")
                    logger.info("added column %s to %s", col, physical)


def _alter(db: Engine, name: str, sql: str) -> None:
    """An ALTER; on a Replicated table with a replica down (code 341) it is done here and
    queued in ZooKeeper for that replica, which applies it when it is back."""
    try:
        execute(db, name, sql)
    except QueryFailed as exc:
        if "Code: 341" not in exc.detail:
            raise
        logger.warning("%s: %s", name, exc.detail)


def _column_item(table: str, col: str) -> str:
    """The declaration of ``col`` in ``TABLES[table]`` (name, type and default)."""
    ddl = TABLES[table]
    return next(i.strip() for i in ddl[ddl.index("(") + 1:ddl.index(") ENGINE")].split(",")
                if i.split() and i.split()[0] == col)


def _init_cluster(db: Engine) -> None:
    from store.rollup_tables import create_rollups, drop_stale_families
    from store.rollups import FAMILIES, rollup_tables

    groups = db.nodes()
    rebuilt: set[str] = set()
    rebuilt_index: set[str] = set()
    for group in groups:
        for node in group:
            for name in SHARDED:
                execute(node, f"create_{name}_local", ddl_for(node, TABLES[name].replace(
                    f"CREATE TABLE IF NOT EXISTS {name} ", f"CREATE TABLE IF NOT EXISTS {name}_local ", 1)))
        if len(group) > 1:  # replicas share one table in ZooKeeper: an outdated one goes on all before any is rebuilt
            drop_stale_families(group, "_local")
            batch_index.drop_stale(group, "_local")
        for i, node in enumerate(group):  # the first replica fills new tables; the others copy its parts
            rebuilt |= set(create_rollups(node, local_suffix="_local", fill=i == 0))
            rebuilt_index |= set(batch_index.create(node, local_suffix="_local", fill=i == 0))
    # Rollup rows are additive, so where one lands does not matter (only reconcile inserts them directly).
    keys = {**{name: "cityHash64(credit_code)" for name in (*SHARDED, *batch_index.TABLES)},
            **{t: "rand()" for t in rollup_tables()}}
    for node in (n for group in groups for n in group):
        stale = [t for f in rebuilt for t in FAMILIES[f].tables()] + sorted(rebuilt_index)
        for table in stale:  # columns may have changed
            execute(node, f"drop_{table}_distributed", f"DROP TABLE IF EXISTS {table}")
        for name, key in keys.items():
            execute(node, f"create_{name}_distributed",
                    f"CREATE TABLE IF NOT EXISTS {name} AS {name}_local "
                    f"ENGINE = Distributed({db.cluster}, {db.database}, {name}_local, {key})")
    logger.info("cluster %s: %d shards × %s replicas, tables %s sharded by credit code", db.cluster, len(groups),
                "/".join(str(len(g)) for g in groups), ", ".join(SHARDED))


def drop_data_tables(db: Engine) -> None:
    """Drop the tables (used before regenerating demo data)."""
    from store.risk_tables import drop_tables as drop_risk_tables
    from store.rollup_tables import drop_rollups
    from store.rollups import rollup_tables

    drop_risk_tables(db)

    if db.cluster:
        for node in (n for group in db.nodes() for n in group):
            for name in (*SHARDED, *batch_index.TABLES, *rollup_tables()):
                execute(node, f"drop_{name}_distributed", f"DROP TABLE IF EXISTS {name}")
            drop_rollups(node, local_suffix="_local")
            batch_index.drop(node, local_suffix="_local")
            for name in SHARDED:
                execute(node, f"drop_{name}_local", f"DROP TABLE IF EXISTS {name}_local")
    else:
        drop_rollups(db)
        batch_index.drop(db)
    for home in homes(db):
        if home is not db:
            drop_risk_tables(home)
        for name in TABLES:
            execute(home, f"drop_{name}", f"DROP TABLE IF EXISTS {name}")
        for name in STAGED_TABLES:
            execute(home, f"drop_stage_{name}", f"DROP TABLE IF EXISTS {stage_table(name)}")


def row_count(db: Engine, table: str) -> int:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    exists = run(db, "table_exists", "SELECT count() AS n FROM system.tables "
                 "WHERE database = %(db)s AND name = %(t)s", {"db": db.database, "t": table})
    if int(exists["n"].iloc[0]) == 0:
        return 0
    return int(run(db, f"count_{table}", f"SELECT count() AS n FROM {table}")["n"].iloc[0])


def declared_columns(table: str) -> list[str]:
    """Column names declared in ``TABLES[table]`` (first word of each top-level item)."""
    ddl = TABLES[table]
    body = ddl[ddl.index("(") + 1:ddl.index(") ENGINE")]
    cols, depth, item = [], 0, ""
    for ch in body + ",":
        if ch == "," and depth == 0:
            cols.append(item.split()[0])
            item = ""
            continue
        depth += (ch == "(") - (ch == ")")
        item += ch
    return cols


def outdated_tables(db: Engine) -> dict[str, list[str]]:
    """Existing tables that lack declared columns (data from an older version):
    table → missing column names. Tables that do not exist are not listed."""
    have = run(db, "schema_columns", "SELECT table, name FROM system.columns WHERE database = %(db)s",
               {"db": db.database})
    out: dict[str, list[str]] = {}
    for table in TABLES:
        present = set(have.loc[have["table"] == table, "name"])
        if present:
            missing = [c for c in declared_columns(table) if c not in present]
            if missing:
                out[table] = missing
    return out
