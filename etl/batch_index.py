"""The sampling records ordered by batch number (抽检批次索引), for traceability linkage.

A batch that fails sampling anywhere warns every entity that handled it
(``queries.risk``). The event log is ordered by date and region, so finding the
entities of a few batches used to read every sampling record ever made.
``sampling_batches`` holds the same records (``events`` rows of type
``sampling``) ordered by ``batch_no``: looking up a set of batches reads only their
granules. A materialized view fills it on every insert into ``events``; ingestion
deletes its rows wherever it deletes the events they copy (``batch_id``).
"""
from __future__ import annotations

import logging

from queries.engine import Engine
from queries.executor import execute, run

logger = logging.getLogger(__name__)

TABLE = "sampling_batches"
COLUMNS = ("batch_no", "grid_code", "credit_code", "event_date", "event_id", "result", "batch_id")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {{src}} WHERE event_type = 'sampling'"
#: Small granules: a lookup of a few hundred batches reads a few hundred small granules.
GRANULARITY = "index_granularity = 256"


def create(db: Engine, local_suffix: str = "") -> bool:
    """Create the table and its view if missing, filled from the events already there
    (run it while no load is running). Returns whether it was created."""
    table, view, src = TABLE + local_suffix, f"mv_{TABLE}{local_suffix}", "events" + local_suffix
    have = run(db, "batch_index_exists", "SELECT name, engine_full FROM system.tables WHERE database = %(db)s "
               "AND name IN %(names)s", {"db": db.database, "names": (table, view)})
    engines = dict(zip(have["name"], have["engine_full"]))
    if view in engines and GRANULARITY in engines.get(table, ""):
        return False
    execute(db, "batch_index_drop_view", f"DROP TABLE IF EXISTS {view}")
    execute(db, "batch_index_drop", f"DROP TABLE IF EXISTS {table}")
    execute(db, "batch_index_create", f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY (batch_no, grid_code) "
            f"SETTINGS {GRANULARITY} AS {_SELECT.format(src=src)} AND 0")
    execute(db, "batch_index_view", f"CREATE MATERIALIZED VIEW {view} TO {table} AS {_SELECT.format(src=src)}")
    execute(db, "batch_index_fill", f"INSERT INTO {table} ({', '.join(COLUMNS)}) {_SELECT.format(src=src)}")
    logger.info("%s built from %s", table, src)
    return True


def drop(db: Engine, local_suffix: str = "") -> None:
    execute(db, "batch_index_drop_view", f"DROP TABLE IF EXISTS mv_{TABLE}{local_suffix}")
    execute(db, "batch_index_drop", f"DROP TABLE IF EXISTS {TABLE}{local_suffix}")
