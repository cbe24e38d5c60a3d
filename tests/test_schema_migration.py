"""``etl init`` on a database from an older release adds the columns declared since
(store.schema.ADDED_COLUMNS) and keeps the rows: here the push's source time and source
of ``task_events`` (推送时效), on chDB, the ClickHouse server and the 2-shard cluster
(each shard's ``_local`` table, the Distributed tables and the stage table)."""
from __future__ import annotations

import pytest

from store.executor import run
from store.schema import ADDED_COLUMNS, TABLES, init_schema
from store.sql import execute
from tests.conftest import make_test_engine

NEW = ADDED_COLUMNS["task_events"]


def _columns(db, table: str) -> set[str]:
    return set(run(db, "t_cols", "SELECT name FROM system.columns WHERE database = %(d)s AND table = %(t)s",
                   {"d": db.database, "t": table})["name"])


def _old_ddl(name: str, table: str) -> str:
    """The table as the release before the new columns created it."""
    ddl = TABLES["task_events"].replace(", source_time DateTime DEFAULT toDateTime(0), source String DEFAULT ''", "")
    assert "source_time" not in ddl
    return ddl.replace("CREATE TABLE IF NOT EXISTS task_events ", f"CREATE TABLE IF NOT EXISTS {table} ", 1)


@pytest.mark.parametrize("kind", ["chdb", "server"])
def test_older_task_events_gain_the_push_columns(kind, request):
    db = make_test_engine(kind, request, "test_migrate")
    for t in ("task_events", "stage_task_events"):
        execute(db, "t_drop", f"DROP TABLE IF EXISTS {t}")
    execute(db, "t_old", _old_ddl("task_events", "task_events"))
    execute(db, "t_old_stage", _old_ddl("task_events", "stage_task_events"))
    execute(db, "t_row", "INSERT INTO task_events (task_id, event_time, event_date, from_status, status, task_type) "
            "SELECT 'T1', toDateTime('2026-11-02 09:00:00'), toDate('2026-11-02'), 'none', 'pending', "
            "'verify_registration'")
    init_schema(db)
    for t in ("task_events", "stage_task_events"):
        assert set(NEW) <= _columns(db, t), t
    row = run(db, "t_read", "SELECT task_id, toUnixTimestamp(source_time) AS st, source FROM task_events")
    assert row.to_dict("records") == [{"task_id": "T1", "st": 0, "source": ""}]  # kept; not recorded
    init_schema(db)  # twice: nothing more to do
    assert set(NEW) <= _columns(db, "task_events")
