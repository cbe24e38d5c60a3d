"""Sampling records kept three times more, for traceability linkage (抽检批次索引).

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

Ingestion deletes their rows wherever it deletes the events they copy (``batch_id``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from store.engine import Engine
from store.executor import run
from store.sql import execute

logger = logging.getLogger(__name__)

COLUMNS = ("batch_no", "grid_code", "credit_code", "event_date", "event_id", "result", "batch_id")


@dataclass(frozen=True)
class Index:
    table: str
    where: str      # which events rows it copies
    order: str      # its sorting key
    settings: str   # marks the current definition (checked against the table's engine)

    def select(self, src: str) -> str:
        return f"SELECT {', '.join(COLUMNS)} FROM {src} WHERE {self.where}"


INDEXES: tuple[Index, ...] = (
    # Small granules: a lookup of a few hundred batches reads a few hundred small granules.
    Index("sampling_batches", "event_type = 'sampling'", "batch_no, grid_code", "index_granularity = 256"),
    Index("sampling_failures", "event_type = 'sampling' AND result = 'fail'", "event_date, batch_no",
          "index_granularity = 1024"),
    Index("sampling_regions", "event_type = 'sampling'", "grid_code, batch_no", "index_granularity = 1024"),
)
TABLES = tuple(i.table for i in INDEXES)


def create(db: Engine, local_suffix: str = "") -> list[str]:
    """Create the tables and their views where missing or out of date, filled from the
    events already there (run it while no load is running). Returns the tables built."""
    built = []
    names = tuple(n for i in INDEXES for n in (i.table + local_suffix, f"mv_{i.table}{local_suffix}"))
    have = run(db, "batch_index_exists", "SELECT name, engine_full FROM system.tables WHERE database = %(db)s "
               "AND name IN %(names)s", {"db": db.database, "names": names})
    engines = dict(zip(have["name"], have["engine_full"]))
    for index in INDEXES:
        table, view, src = index.table + local_suffix, f"mv_{index.table}{local_suffix}", "events" + local_suffix
        current = engines.get(table, "")
        if view in engines and index.settings in current and f"ORDER BY ({index.order})" in current:
            continue
        _drop(db, index, local_suffix)
        execute(db, "batch_index_create", f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY ({index.order}) "
                f"SETTINGS {index.settings} AS {index.select(src)} AND 0")
        execute(db, "batch_index_view", f"CREATE MATERIALIZED VIEW {view} TO {table} AS {index.select(src)}")
        execute(db, "batch_index_fill", f"INSERT INTO {table} ({', '.join(COLUMNS)}) {index.select(src)}")
        logger.info("%s built from %s", table, src)
        built.append(index.table)
    return built


def _drop(db: Engine, index: Index, local_suffix: str) -> None:
    execute(db, "batch_index_drop_view", f"DROP TABLE IF EXISTS mv_{index.table}{local_suffix}")
    execute(db, "batch_index_drop", f"DROP TABLE IF EXISTS {index.table}{local_suffix}")


def drop(db: Engine, local_suffix: str = "") -> None:
    for index in INDEXES:
        _drop(db, index, local_suffix)
