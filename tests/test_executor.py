"""The SQL chokepoint: binding, allow-lists, logging, error mapping — on both engines."""
from __future__ import annotations

import datetime as dt
import logging

import pytest

from store.engine import ServerEngine
from domain.errors import DatabaseUnavailable, InvalidParameter, QueryFailed, QueryTimeout
from store.executor import run
from store.sql import ident, render
from tests.chserver import free_port


def test_render_escapes_values():
    sql = render("SELECT %(s)s, %(d)s, %(t)s, %(l)s, %(n)s",
                 {"s": "a'b\\c", "d": dt.date(2026, 1, 2), "t": dt.datetime(2026, 1, 2, 3, 4, 5),
                  "l": ["x", "y'"], "n": 3})
    assert sql == r"SELECT 'a\'b\\c', '2026-01-02', '2026-01-02 03:04:05', ('x', 'y\''), 3"


def test_render_rejects_bad_params():
    with pytest.raises(QueryFailed):
        render("SELECT %(missing)s", {})
    with pytest.raises(QueryFailed):
        render("SELECT %(x)s", {"x": object()})
    with pytest.raises(QueryFailed):
        render("SELECT 1 WHERE a IN %(x)s", {"x": []})


def test_ident_allow_list():
    assert ident("industry", ("industry", "status")) == "industry"
    with pytest.raises(InvalidParameter):
        ident("industry; DROP TABLE x", ("industry", "status"))


def test_injection_attempt_is_a_value(demo_db):
    df = run(demo_db, "t_inject", "SELECT count() AS n FROM regions WHERE code = %(c)s",
             {"c": "44' OR '1'='1"})
    assert int(df["n"].iloc[0]) == 0


def test_run_logs_name_ms_rows(demo_db, caplog):
    with caplog.at_level(logging.INFO, logger="store.sql"):
        df = run(demo_db, "t_log", "SELECT number FROM system.numbers LIMIT 3")
    assert len(df) == 3
    rec = [r.getMessage() for r in caplog.records if "t_log" in r.getMessage()]
    assert rec and "rows=3" in rec[0] and "ms=" in rec[0] and f"engine={demo_db.name}" in rec[0]


def test_sql_error_is_mapped(demo_db):
    with pytest.raises(QueryFailed) as err:
        run(demo_db, "t_err", "SELECT no_such_column FROM regions")
    assert err.value.user_message and "no_such_column" in err.value.detail


def test_timeout_is_mapped(ch_server):
    db = ServerEngine(ch_server.url, database="test_timeout", timeout=1)
    with pytest.raises(QueryTimeout):
        run(db, "t_slow", "SELECT count() FROM system.numbers WHERE sipHash64(number) = 0")


def test_chdb_timeout_is_mapped(chdb_engine):
    from store.engine import ChdbEngine

    db = ChdbEngine(chdb_engine.path.parent, database="test_timeout", sessions=1, timeout=1)
    with pytest.raises(QueryTimeout):
        run(db, "t_slow", "SELECT count() FROM system.numbers WHERE sipHash64(number) = 0")


def test_unreachable_server_raises_database_unavailable():
    with pytest.raises(DatabaseUnavailable) as err:
        ServerEngine(f"clickhouse://default@127.0.0.1:{free_port()}/x", connect_timeout=1)
    assert "数据库" in err.value.user_message


def test_server_outage_and_recovery(ch_server):
    db = ServerEngine(ch_server.url, database="test_outage")
    assert len(run(db, "t_up", "SELECT 1 AS x")) == 1
    ch_server.stop()
    try:
        with pytest.raises(DatabaseUnavailable):
            run(db, "t_down", "SELECT 1 AS x")
    finally:
        ch_server.start()
    assert len(run(db, "t_back", "SELECT 1 AS x")) == 1
