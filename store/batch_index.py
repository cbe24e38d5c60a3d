"""Copies of fact rows sorted for their lookups: sampling records kept three times more,
for traceability linkage (抽检批次索引), and the entities sorted by credit code.

A batch that fails sampling anywhere warns every entity that handled it
(``queries.risk``). The event log is ordered by date and region, so finding the
failed batches meant reading every event of the period, and finding their handlers
every sampling record ever made. Three tables fix that, each filled by a materialized
view on every insert into ``events``:

- ``sampling_failures``: the failed sampling records, ordered by date: the batches
  that failed in a period are a short range of a small table;
- ``sampling_batches``: every sampling record, ordered by batch number with small
  granules: the handlers of a set of batches are read from those batches' granules;
- ``sampling_regions``: every sampling record, ordered by region: which of thousands of
  batches a city handled, and each entity's failed batches when a region is scored, read
  only that region's records.

``entities_by_code`` holds every entity row sorted by credit code, ``tasks_by_id`` every
task's current row sorted by task id, ``task_events_by_id`` every task event's task id and
time sorted by task id, with small granules: ingestion's checks of a file's credit codes
(already registered? which grid, which state?) and task ids (current stage, since when) and
the grids whose rollups a replaced row touches read the granules of those keys only, so
they do not grow with the tables (issue 20); ``entities``, ``tasks`` and ``task_events``
themselves are sorted by date and region for the screens.

Every delete of rows of a copied table is made on its copies too, with the same
condition (``etl.ingest.batch.delete_rows``): a replaced entity version, a batch undone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from store.engine import Engine
from store.executor import run
from store.replication import ddl_for
from store.sql import execute

logger = logging.getLogger(__name__)

COLUMNS = ("batch_no", "grid_code", "credit_code", "event_date", "event_id", "result", "batch_id")


ENTITY_COLUMNS = ("credit_code", "name", "entity_type", "industry", "grid_code", "reg_date", "status", "status_date",
                  "credit_grade", "abnormal", "dishonest", "legal_rep", "owner_id", "capital", "lon", "lat", "batch_id")

TASK_COLUMNS = ("task_id", "task_type", "credit_code", "grid_code", "dept_id", "created_at", "due_date", "status",
                "closed_at", "problem_found", "source_event_id", "detail", "late_stages", "work_days", "batch_id")


@dataclass(frozen=True)
class Index:
    table: str
    where: str      # which rows of the source it copies
    order: str      # its sorting key
    settings: str   # marks the current definition (checked against the table's engine)
    source: str = "events"
    columns: tuple[str, ...] = COLUMNS

    def select(self, src: str) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {src} WHERE {self.where}"


INDEXES: tuple[Index, ...] = (
    # Small granules: a lookup of a few hundred batches reads a few hundred small granules.
    Index("sampling_batches", "event_type = 'sampling'", "batch_no, grid_code", "index_granularity = 256"),
    Index("sampling_failures", "event_type = 'sampling' AND result = 'fail'", "event_date, batch_no",
          "index_granularity = 1024"),
    Index("sampling_regions", "event_type = 'sampling'", "grid_code, batch_no", "index_granularity = 1024"),
    Index("entities_by_code", "1", "credit_code", "index_granularity = 1024", "entities", ENTITY_COLUMNS),
    Index("tasks_by_id", "1", "task_id", "index_granularity = 1024", "tasks", TASK_COLUMNS),
    # When each task's current stage started (its newest event): task feedback reads the
    # granules of its task ids, not the whole event log (sorted by date and region).
    # (credit_code: a cluster shards every copy by it, as its source.)
    Index("task_events_by_id", "1", "task_id, event_time", "index_granularity = 1024", "task_events",
          ("task_id", "event_time", "credit_code", "batch_id")),
)
TABLES = tuple(i.table for i in INDEXES)


def sorted_copy(table: str, key: str) -> str:
    """The copy of every row of ``table`` sorted by ``key`` first (``tasks`` by ``task_id``:
    ``tasks_by_id``): the same rows, whose look-ups by that key read only the key's granules."""
    return next(i.table for i in INDEXES if i.source == table and i.where == "1"
                and i.order.split(",")[0].strip() == key)


def copies_of(table: str) -> list[str]:
    """The index tables that copy rows of ``table``."""
    return [i.table for i in INDEXES if i.source == table]


def _stale(db: Engine, local_suffix: str) -> list[Index]:
    """The indexes whose table or view is missing or out of date on ``db``."""
    names = tuple(n for i in INDEXES for n in (i.table + local_suffix, f"mv_{i.table}{local_suffix}"))
    have = run(db, "batch_index_exists", "SELECT name, engine_full FROM system.tables WHERE database = %(db)s "
               "AND name IN %(names)s", {"db": db.database, "names": names})
    engines = dict(zip(have["name"], have["engine_full"]))
    out = []
    for index in INDEXES:
        current = engines.get(index.table + local_suffix, "")
        ordered = f"ORDER BY ({index.order})" in current or f"ORDER BY {index.order} " in current + " "
        if not (f"mv_{index.table}{local_suffix}" in engines and index.settings in current and ordered):
            out.append(index)
    return out


def drop_stale(replicas: list[Engine], local_suffix: str) -> None:
    """Drop, on every replica of a shard, each index stale on any of them (see
    :func:`store.rollup_tables.drop_stale_families`)."""
    stale = {i.table: i for r in replicas for i in _stale(r, local_suffix)}
    for replica in replicas:
        for index in stale.values():
            _drop(replica, index, local_suffix)


def create(db: Engine, local_suffix: str = "", fill: bool = True) -> list[str]:
    """Create the tables and their views where missing or out of date, filled from the
    events already there (run it while no load is running; ``fill=False``: a shard's second
    replica, whose Replicated table copies the first one's rows). Returns the tables built."""
    built = []
    for index in _stale(db, local_suffix):
        table, view, src = index.table + local_suffix, f"mv_{index.table}{local_suffix}", index.source + local_suffix
        _drop(db, index, local_suffix)
        execute(db, "batch_index_create", ddl_for(db, f"CREATE TABLE {table} ENGINE = MergeTree "
                f"ORDER BY ({index.order}) SETTINGS {index.settings} AS {index.select(src)} AND 0"))
        execute(db, "batch_index_view", f"CREATE MATERIALIZED VIEW {view} TO {table} AS {index.select(src)}")
        if fill:
            execute(db, "batch_index_fill", f"INSERT INTO {table} ({', '.join(index.columns)}) {index.select(src)}")
        logger.info("%s built from %s", table, src)
        built.append(index.table)
    return built


def _drop(db: Engine, index: Index, local_suffix: str) -> None:
    execute(db, "batch_index_drop_view", f"DROP TABLE IF EXISTS mv_{index.table}{local_suffix}")
    execute(db, "batch_index_drop", f"DROP TABLE IF EXISTS {index.table}{local_suffix}")


def drop(db: Engine, local_suffix: str = "") -> None:
    for index in INDEXES:
        _drop(db, index, local_suffix)
