"""The same app and queries on a two-shard ClickHouse cluster (docs/deploy.md).

Two ClickHouse 18.16 servers on loopback with one ``<remote_servers>`` entry; the
app's engine connects to the first with JINJIAN_CLICKHOUSE_CLUSTER. The fixed demo
data set is loaded through the Distributed tables. Checked: rows are split by
entity, rollups equal pandas totals, every indicator equals its pandas oracle, a risk
snapshot scored across the shards gives the oracle's risk figures, and
ingestion (new entities, entities moved to another grid) keeps all of it true.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from store.rollups import FAMILIES
from indicators.catalogue import INDICATORS
from queries.indicator_values import compute
from indicators.periods import Period
from store.engine import ServerEngine
from store.executor import run
from store.filters import Filter
from settings import ConfigError
from tests.chserver import ClickHouseServer, find_clickhouse_server, make_remote_servers_xml
from tests.conftest import DEMO_END, DEMO_ROOT
from tests.oracle import oracle_value
from tests.rollupkit import mismatches

CLUSTER = "two_shards"
TOWN = "441900110"
PERIODS = {"month_to_date": Period(DEMO_END.replace(day=1), DEMO_END),
           "past_quarter": Period(DEMO_END.replace(month=4, day=1), DEMO_END.replace(month=6, day=30)),
           "quiet_month": Period(DEMO_END.replace(year=2000, month=1, day=1), DEMO_END.replace(year=2000, month=1,
                                                                                                 day=31))}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if find_clickhouse_server() is None:
        pytest.skip("clickhouse-server is not installed")
    base = tmp_path_factory.mktemp("cluster")
    a, b = ClickHouseServer(base / "a", name="shard1"), ClickHouseServer(base / "b", name="shard2")
    a.remote_servers_xml = b.remote_servers_xml = make_remote_servers_xml(CLUSTER, [a.address, b.address])
    with a, b:
        yield a, b


@pytest.fixture(scope="module")
def cluster_db(servers, demo_data):
    from etl.load import load_regions, load_tables
    from store.schema import drop_data_tables, init_schema

    db = ServerEngine(servers[0].url, database="test_cluster", cluster=CLUSTER)
    drop_data_tables(db)
    init_schema(db)
    load_regions(db)
    load_tables(db, demo_data.tables())
    return db


def _local(db: ServerEngine, table: str, cols: str) -> list[pd.DataFrame]:
    return [run(shard, "t_local", f"SELECT {cols} FROM {table}_local") for shard in db.shards()]


def test_rows_are_sharded_by_entity(cluster_db, demo_data) -> None:
    assert len(cluster_db.shards()) == 2
    for table, frame in (("entities", demo_data.entities), ("events", demo_data.events), ("tasks", demo_data.tasks),
                         ("task_events", demo_data.task_events)):
        parts = _local(cluster_db, table, "credit_code")
        sizes = [len(p) for p in parts]
        assert sum(sizes) == len(frame) and min(sizes) > len(frame) * 0.3, (table, sizes)
    owners = [set(p["credit_code"]) for p in _local(cluster_db, "entities", "credit_code")]
    assert not owners[0] & owners[1]
    for shard_no, events in enumerate(_local(cluster_db, "events", "credit_code")):
        known = set(events["credit_code"]) & (owners[0] | owners[1])
        assert known <= owners[shard_no]  # an entity's events live on its shard


def test_unknown_cluster_is_a_clear_error(servers) -> None:
    with pytest.raises(ConfigError, match="no such cluster"):
        ServerEngine(servers[0].url, database="test_cluster", cluster="nope").shards()


def test_rollups_equal_pandas_totals_on_the_cluster(cluster_db) -> None:
    assert mismatches(cluster_db) == []
    for f in FAMILIES.values():
        parts = [len(p) for p in _local(cluster_db, f.table("town"), "grid_code")]
        assert min(parts) > 0  # each shard keeps the rollup of its own rows
    from store.rollup_tables import verify

    assert set(verify(cluster_db, chunk_rows=500).values()) == {0}  # etl rollups --check over the shards


def _same(a: float, b: float) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("period_name", list(PERIODS))
@pytest.mark.parametrize("region", [DEMO_ROOT, TOWN])
def test_every_indicator_equals_its_oracle_on_the_cluster(cluster_db, demo_data, region, period_name) -> None:
    period = PERIODS[period_name]
    got = compute(cluster_db, INDICATORS, Filter(region=region), period).set_index("indicator_id")
    wrong = {}
    for ind in INDICATORS:
        want = oracle_value(demo_data, ind.id, region, period.start, period.end)
        if not _same(got.loc[ind.id, "value"], want):
            wrong[ind.id] = (got.loc[ind.id, "value"], want)
    assert wrong == {}


@pytest.mark.parametrize("by_child", [False, True])
def test_several_periods_in_one_query_on_the_cluster(cluster_db, by_child) -> None:
    """Flows and stock rollups of several periods, each in one query over the Distributed
    tables (ARRAY JOIN, UNION ALL), equal each period computed alone."""
    from queries.indicator_values import compute_periods

    periods = list(PERIODS.values())
    flt = Filter(region=DEMO_ROOT)
    together = compute_periods(cluster_db, INDICATORS, flt, periods, by_child=by_child)
    for period, got in zip(periods, together):
        pd.testing.assert_frame_equal(got, compute(cluster_db, INDICATORS, flt, period, by_child=by_child),
                                      check_exact=False, rtol=1e-9, obj=str(period))
    totals = together[0].groupby("indicator_id")["value"].sum()
    assert totals["entity_stock"] > 0 and totals["tasks_open"] > 0


def test_risk_snapshot_on_the_cluster(cluster_db, demo_data, monkeypatch) -> None:
    """Scored across both shards (batch linkage crosses them) and stored on the app's
    node, a snapshot gives the pandas oracle's risk figures."""
    from queries import risk_snapshots as rs
    from supervision.risk import RiskRules

    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "300")
    rs.clear_cache()
    snap = rs.build(cluster_db, DEMO_ROOT, DEMO_END, RiskRules.from_env())
    assert rs.usable(cluster_db, TOWN, DEMO_END, RiskRules.from_env()).id == snap.id
    risk = [i for i in INDICATORS if i.numerator.source == "entity_risk"]
    for region in (DEMO_ROOT, TOWN):
        got = compute(cluster_db, risk, Filter(region=region), Period(DEMO_END, DEMO_END)).set_index("indicator_id")
        for ind in risk:
            want = oracle_value(demo_data, ind.id, region, DEMO_END, DEMO_END)
            assert _same(got.loc[ind.id, "value"], want), (ind.id, region, got.loc[ind.id, "value"], want)
    rs.clear_cache()


def test_ingestion_on_the_cluster(cluster_db, demo_data, tmp_path, monkeypatch) -> None:
    """Registrations and address changes through the normal loader: rollups still equal
    pandas totals of the raw rows, and each moved entity exists once, on its shard."""
    from etl.ingest.batch import Ingestor
    from etl.ingest.config import IngestSettings
    from etl.ingest.lookups import clear_grid_cache
    from tests.ingestkit import to_csv, zh

    monkeypatch.setenv("JINJIAN_INGEST_DIR", str(tmp_path / "ingest"))
    from etl.ingest import lookups

    monkeypatch.setattr(lookups, "CHUNK", 1)  # look-ups joined against a key table: GLOBAL IN over the shards
    clear_grid_cache()
    ing = Ingestor(cluster_db, IngestSettings.from_env())
    ents = run(cluster_db, "t", "SELECT credit_code, grid_code FROM entities WHERE status = 'active' "
               "AND grid_code LIKE %(p)s ORDER BY credit_code LIMIT 6", {"p": f"{TOWN}%"})
    grids = run(cluster_db, "t", "SELECT DISTINCT grid_code FROM entities WHERE grid_code LIKE %(p)s "
                "AND grid_code NOT LIKE %(t)s ORDER BY grid_code LIMIT 6", {"p": f"{DEMO_ROOT}%", "t": f"{TOWN}%"})
    when = (pd.Timestamp(DEMO_END) - pd.Timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    rows = [zh("change", {"record_id": f"CLUSTER{i:03d}", "credit_code": c, "event_time": when,
                          "change_item": "住所", "new_value": "新住所", "new_grid_code": g})
            for i, (c, g) in enumerate(zip(ents["credit_code"], grids["grid_code"]))]
    path = tmp_path / "变更.csv"
    path.write_bytes(to_csv(rows))
    res = ing.ingest_file(path, "change")
    assert (res.state, res.rows_loaded) == ("loaded", 6), res.summary()
    moved = run(cluster_db, "t", "SELECT credit_code, grid_code FROM entities WHERE credit_code IN %(c)s",
                {"c": list(ents["credit_code"])})
    assert dict(zip(moved["credit_code"], moved["grid_code"])) == dict(zip(ents["credit_code"], grids["grid_code"]))
    assert mismatches(cluster_db) == []
    period = PERIODS["month_to_date"]
    monkeypatch.setenv("JINJIAN_ROLLUPS", "1")
    fast = compute(cluster_db, INDICATORS, Filter(region=DEMO_ROOT), period, by_child=True)
    monkeypatch.setenv("JINJIAN_ROLLUPS", "0")
    slow = compute(cluster_db, INDICATORS, Filter(region=DEMO_ROOT), period, by_child=True)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-9)



def test_older_cluster_gains_added_columns(servers) -> None:
    """A cluster database from before the push columns: ``init_schema`` adds them to every
    shard's ``task_events_local`` and every Distributed ``task_events``."""
    from store.schema import ADDED_COLUMNS, init_schema
    from store.sql import execute

    db = ServerEngine(servers[0].url, database="test_cluster_migrate", cluster=CLUSTER)
    init_schema(db)
    for shard in db.shards():
        for table in ("task_events_local", "task_events"):
            for col in ADDED_COLUMNS["task_events"]:
                execute(shard, "t_drop_col", f"ALTER TABLE {table} DROP COLUMN {col}")
    init_schema(db)
    for shard in db.shards():
        cols = run(shard, "t_cols", "SELECT table, name FROM system.columns WHERE database = %(d)s "
                   "AND table IN ('task_events', 'task_events_local')", {"d": db.database})
        for table in ("task_events_local", "task_events"):
            assert set(ADDED_COLUMNS["task_events"]) <= set(cols.loc[cols["table"] == table, "name"]), table
    assert run(db, "t_push", "SELECT count() AS n FROM task_events WHERE toUnixTimestamp(source_time) > 0")["n"].iloc[0] == 0
