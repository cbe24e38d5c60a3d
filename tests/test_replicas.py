"""A wall that survives a server loss (#23 item 2, docs/deploy.md §3).

ZooKeeper (Debian's 3.8) and 2 shards × 2 replicas of ClickHouse 18.16 on loopback. ``etl
init`` creates Replicated tables on every server; the demo data go in through the
Distributed tables, new registrations through ingestion. One replica is killed (SIGKILL) in
the middle of a load: every file is loaded exactly once, the API keeps answering with the
pandas oracle's figures, and the replica catches up when it is back. A whole shard lost is
an outage (503 and the banner, never a 500); the app's own server lost, the app goes on
through the others (JINJIAN_CLICKHOUSE_ALT_HOSTS).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path

import pytest

from indicators.catalogue import INDICATORS
from indicators.periods import Period
from queries.indicator_values import compute
from store.engine import ServerEngine
from store.executor import run
from store.filters import Filter
from tests.chserver import ClickHouseServer, find_clickhouse_server, make_remote_servers_xml
from tests.conftest import DEMO_ROOT
from tests.ingestkit import IngestEnv, load_demo, to_csv
from tests.oracle import oracle_value
from tests.replicakit import DATABASE, all_active as _all_active, alive as _alive, client as _client, frames as _frames
from tests.replicakit import close as _close, sync as _sync
from tests.zkserver import ZooKeeperServer, find_zookeeper

CLUSTER = "two_by_two"
TOWN = "441900110"
FILES, ROWS = 6, 40


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if find_clickhouse_server() is None or find_zookeeper() is None:
        if os.environ.get("JINJIAN_REQUIRE_SERVER") == "1":  # make test installs both
            pytest.fail("clickhouse-server or zookeeper is not installed (scripts/install_debian_deps.sh)")
        pytest.skip("clickhouse-server or zookeeper is not installed")
    base = tmp_path_factory.mktemp("replicas")
    with ZooKeeperServer(base / "zk") as zk:
        nodes = {(s, r): ClickHouseServer(base / f"s{s}r{r}", name=f"s{s}r{r}", zookeeper=zk.address,
                                          macros={"shard": f"0{s}", "replica": f"r{r}"})
                 for s in (1, 2) for r in (1, 2)}
        xml = make_remote_servers_xml(CLUSTER, [[nodes[(s, 1)].address, nodes[(s, 2)].address] for s in (1, 2)])
        for node in nodes.values():
            node.remote_servers_xml = xml
            node.start()
        try:
            yield nodes
        finally:
            for node in nodes.values():
                node.kill()  # a replicated server's clean stop waits on ZooKeeper for seconds; the data go anyway


@pytest.fixture(scope="module")
def env(servers, demo_data, tmp_path_factory):
    alt = ",".join(f"{h}:{p}" for key, n in servers.items() if key != (1, 1) for h, p in [n.address])
    db = ServerEngine(servers[(1, 1)].url, database=DATABASE, cluster=CLUSTER, alt_hosts=alt)
    other = load_demo(db, demo_data)
    return IngestEnv("server", db, tmp_path_factory.mktemp("replica-ingest"), other)


@pytest.fixture
def api(env, flask_server, monkeypatch):
    from store import db as dbmod

    monkeypatch.setenv("JINJIAN_ROOT_REGION", "")
    monkeypatch.setenv("JINJIAN_CACHE_SECONDS", "0")
    dbmod.set_db(env.db)
    yield flask_server.test_client()
    dbmod.set_db(None)


def _stock(api, region: str, day: dt.date) -> tuple[int, float]:
    resp = api.get(f"/api/v1/indicators/entity_stock/values?region={region}&date={day.isoformat()}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.status_code, json.loads(resp.get_data(as_text=True))["items"][0]["value"]


def _wall_banner(region: str) -> tuple[str, str]:
    """The wall's refresh as the browser would call it: (banner text, banner class)."""
    from pages import home

    out = home.refresh(0, region, "zh", None, None)
    return out[-3], out[-2]


def test_every_table_is_replicated(env, servers) -> None:
    """Facts, rollups and the batch index per shard; dimension, bookkeeping and snapshot
    tables on every server; stage tables plain; the replicas of a shard hold the same rows."""
    for node in servers.values():
        engines = dict(_client(node).execute("SELECT name, engine FROM system.tables WHERE database = %(d)s",
                                             {"d": DATABASE}))
        for name in ("entities_local", "events_local", "tasks_local", "task_events_local", "regions",
                     "ingest_batches", "quarantine", "risk_snapshots", "random_items", "joint_cases"):
            assert engines[name].startswith("Replicated"), (node.name, name, engines[name])
        assert engines["ingest_batches"] == "ReplicatedReplacingMergeTree"
        assert any(n.startswith("rollup_") and e == "ReplicatedSummingMergeTree" for n, e in engines.items())
        assert engines["entities"] == "Distributed" and engines["stage_entities"] == "MergeTree"
    for s in (1, 2):
        first, second = _sync(servers[(s, 1)]), _sync(servers[(s, 2)])
        assert first == second and first["entities_local"] > 0, (s, first, second)
    assert _sync(servers[(1, 1)])["regions"] == _sync(servers[(2, 2)])["regions"] > 0


def test_a_replica_lost_in_the_middle_of_a_load(env, servers, api) -> None:
    """s2r1 (the replica shard 2's inserts and reads go to first) is killed after the first
    file is loaded: the other files load on s2r2, the API keeps answering, each record is
    loaded once, the figures equal the pandas oracle; back, s2r1 catches up."""
    today = dt.date.today()
    files = [(f"新设登记-{i}.csv", to_csv(env.registration(ROWS, when=dt.datetime.now() - dt.timedelta(hours=2))))
             for i in range(FILES)]
    results, first_done, errors = [], threading.Event(), []

    def load() -> None:
        try:
            for name, data in files:
                results.append(env.load("registration", data, name))
                first_done.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            first_done.set()

    loader = threading.Thread(target=load)
    loader.start()
    assert first_done.wait(120)
    servers[(2, 1)].kill()
    answers = []
    while loader.is_alive():  # the app keeps serving while the load goes on
        answers.append(_stock(api, DEMO_ROOT, today)[0])
    loader.join()
    assert errors == [] and answers and set(answers) == {200}
    assert _wall_banner(DEMO_ROOT)[1] == "wall-banner hidden"  # one replica down is no outage
    health = _healthz(api, 200)
    assert (health["status"], health["cluster"]["servers_down"], health["cluster"]["shards_down"]) == ("degraded", 1, 0)
    assert [s["up"] for s in health["cluster"]["shards"][1]["servers"]] == [False, True]
    batches = [r.batch_id for r in results]
    on_s2r2 = _client(servers[(2, 2)]).execute("SELECT count() FROM entities_local WHERE batch_id IN %(b)s",
                                               {"b": tuple(batches)})[0][0]
    assert on_s2r2 > 0  # shard 2's rows of the files loaded after the kill went to its other replica
    for res, (name, data) in zip(list(results), files):
        if res.state != "loaded":  # a batch cut off by the kill is sent again: loaded once, not twice
            results[results.index(res)] = env.load("registration", data, name)
    assert [(r.state, r.rows_loaded) for r in results] == [("loaded", ROWS)] * FILES, [r.summary() for r in results]
    codes = run(env.db, "replica_codes", "SELECT credit_code, count() AS n FROM entities WHERE batch_id IN %(b)s "
                "GROUP BY credit_code", {"b": [r.batch_id for r in results]})
    assert len(codes) == FILES * ROWS and set(codes["n"]) == {1}
    data = _frames(env.db)
    assert _stock(api, DEMO_ROOT, today)[1] == _alive(data, DEMO_ROOT, today)
    period = Period(today.replace(day=1), today)
    for region in (DEMO_ROOT, TOWN):
        got = compute(env.db, INDICATORS, Filter(region=region), period).set_index("indicator_id")["value"]
        want = {i.id: oracle_value(data, i.id, region, period.start, period.end) for i in INDICATORS}
        wrong = {k: (got[k], v) for k, v in want.items() if not _close(got[k], v)}
        assert wrong == {}, (region, wrong)
    servers[(2, 1)].start()
    assert _sync(servers[(2, 1)]) == _sync(servers[(2, 2)])  # back, it fetched what it missed
    assert _client(servers[(2, 1)]).execute("SELECT count() FROM entities_local WHERE batch_id IN %(b)s",
                                            {"b": tuple(batches)})[0][0] == on_s2r2


def test_a_whole_shard_lost_is_an_outage_not_an_error(env, servers, api) -> None:
    today = dt.date.today()
    before = _stock(api, DEMO_ROOT, today)[1]
    servers[(2, 1)].kill()
    servers[(2, 2)].kill()
    try:
        resp = api.get(f"/api/v1/indicators/entity_stock/values?region={DEMO_ROOT}&date={today.isoformat()}")
        assert resp.status_code == 503, resp.get_data(as_text=True)[:300]
        assert json.loads(resp.get_data(as_text=True))["error"]["code"] == "database_unavailable"
        text, cls = _wall_banner(DEMO_ROOT)
        assert cls == "wall-banner" and "数据库" in text  # the outage banner, the last figures kept
        health = _healthz(api, 503)  # a load balancer takes this app out while a shard is gone
        assert (health["database"], health["cluster"]["shards_down"]) == ("shard_down", 1)
    finally:
        servers[(2, 1)].start()
        servers[(2, 2)].start()
    assert _stock(api, DEMO_ROOT, today)[1] == before
    health = _healthz(api, 200)
    assert health["status"] == "ok" and health["cluster"]["servers_down"] == 0
    assert all("delay_seconds" in s for shard in health["cluster"]["shards"] for s in shard["servers"])


def _healthz(api, status: int) -> dict:
    resp = api.get("/healthz")
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    return json.loads(resp.get_data(as_text=True))


def test_the_apps_own_server_lost(env, servers, api, monkeypatch) -> None:
    """JINJIAN_CLICKHOUSE_URL's server gone, the app reads through the next one: same figures,
    the same risk snapshot (replicated to every server)."""
    from queries import risk_snapshots as rs
    from supervision.risk import RiskRules

    today = dt.date.today()
    monkeypatch.setenv("JINJIAN_RISK_SNAPSHOT_SECONDS", "300")
    rs.clear_cache()
    snap = rs.build(env.db, DEMO_ROOT, today, RiskRules.from_env())
    before = _stock(api, TOWN, today)[1]
    servers[(1, 1)].kill()
    try:
        rs.clear_cache()
        assert rs.usable(env.db, TOWN, today, RiskRules.from_env()).id == snap.id
        assert _stock(api, TOWN, today)[1] == before
        res = env.load("registration", to_csv(env.registration(5)), "新设登记-切换后.csv")  # loads go on too
        assert (res.state, res.rows_loaded) == ("loaded", 5), res.summary()
        assert _stock(api, DEMO_ROOT, today)[1] == _alive(_frames(env.db), DEMO_ROOT, today)
    finally:
        rs.clear_cache()
        servers[(1, 1)].start()
    assert _sync(servers[(1, 1)]) == _sync(servers[(1, 2)])


def test_every_screen_answers_with_a_replica_down(env, servers, api, caplog) -> None:
    """The screens' own callbacks (wall, map, region, indicators, tasks, data quality, an
    entity) on the cluster with one replica of each shard down: no query fails."""
    import logging

    from pages import entity, home, indicators, quality, region, tasks

    today = dt.date.today().isoformat()
    code = run(env.db, "replica_entity", "SELECT credit_code FROM entities WHERE grid_code LIKE %(p)s "
               "ORDER BY credit_code LIMIT 1", {"p": TOWN + "%"})["credit_code"].iloc[0]
    servers[(1, 2)].kill()
    servers[(2, 1)].kill()
    caplog.set_level(logging.WARNING)
    try:
        home.refresh(0, DEMO_ROOT, "zh", None, None)
        home.refresh_map(0, TOWN, "entity_stock", "zh", None)
        for code_ in (DEMO_ROOT, TOWN):
            region.refresh(code_, today, "month")
            region.refresh_table(code_, today, "month", ["entity_stock", "tasks_open"])
            region.refresh_map(code_, today, "month", ["entity_stock"])
            indicators.refresh(code_, today, "month")
            tasks.refresh(code_, today, None, None, "open", None)
            tasks.refresh_efficiency(code_, today)
            quality.refresh(0, code_, today[:8] + "01", today, None)
        entity.refresh(code, today)
        entity.refresh_risk(code, today)
    finally:
        servers[(1, 2)].start()
        servers[(2, 1)].start()
    failed = [r.getMessage()[:300] for r in caplog.records if r.levelno >= logging.WARNING
              and r.name.startswith(("store", "queries", "pages"))]
    assert failed == []


def test_a_batch_staged_on_a_lost_server_loads_again(env, monkeypatch) -> None:
    """A batch left ``staged`` whose stage is not on the app's server now (stage tables are
    each server's own; the server it was staged on was lost): sent again, it is loaded again
    from its bytes, every record once, not recorded as loaded with nothing published."""
    from etl.ingest.batch import Ingestor
    from domain.errors import DatabaseUnavailable
    from store.schema import STAGED_TABLES, stage_table
    from store.sql import execute

    data = to_csv(env.registration(7))
    real = Ingestor._publish

    def lost(self, batch_id, info, *a, **kw):
        for name in STAGED_TABLES:  # as seen from another server: nothing staged
            execute(self.db, "t_lose_stage", f"ALTER TABLE {stage_table(name)} DROP PARTITION %(b)s", {"b": batch_id})
        raise DatabaseUnavailable("server lost after staging")

    monkeypatch.setattr(Ingestor, "_publish", lost)
    with pytest.raises(DatabaseUnavailable):
        env.load("registration", data, "新设登记-中断.csv")
    monkeypatch.setattr(Ingestor, "_publish", real)
    res = env.load("registration", data, "新设登记-中断.csv")
    assert (res.state, res.rows_loaded) == ("loaded", 7), res.summary()
    n = run(env.db, "t_once", "SELECT count() AS n, uniqExact(credit_code) AS u FROM entities WHERE batch_id = %(b)s",
            {"b": res.batch_id})
    assert (int(n["n"].iloc[0]), int(n["u"].iloc[0])) == (7, 7)


def test_plain_tables_on_a_replicated_cluster_are_refused(env, servers) -> None:
    from settings import ConfigError
    from store.schema import init_schema

    _client(servers[(2, 2)]).execute("CREATE TABLE regions_old (code String) ENGINE = MergeTree ORDER BY code")
    try:
        with pytest.raises(ConfigError, match="regions_old"):
            init_schema(env.db)
    finally:
        _client(servers[(2, 2)]).execute("DROP TABLE regions_old")


def test_moved_entities_are_deleted_on_every_replica(env, servers) -> None:
    """Address changes replace entity rows (per-shard deletes on Replicated tables, then the
    rollups reconciled): each moved entity exists once, on both replicas of its shard, and the
    rollups equal pandas totals of the raw rows."""
    from tests.ingestkit import zh
    from tests.rollupkit import mismatches

    _all_active(servers)
    ents = env.entities(6)
    when = (dt.datetime.now() - dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    rows = [zh("change", {"record_id": env.next_id("MV"), "credit_code": e.credit_code, "event_time": when,
                          "change_item": "住所", "new_value": "新住所", "new_grid_code": env.grid(i + 3)})
            for i, e in enumerate(ents)]
    res = env.load("change", to_csv(rows), "变更-迁址.csv")
    assert (res.state, res.rows_loaded) == ("loaded", 6), res.summary()
    codes = tuple(e.credit_code for e in ents)
    for node in servers.values():
        _sync(node)
    for s in (1, 2):
        per = [dict(_client(servers[(s, r)]).execute("SELECT credit_code, count() FROM entities_local "
                                                     "WHERE credit_code IN %(c)s GROUP BY credit_code", {"c": codes}))
               for r in (1, 2)]
        assert per[0] == per[1] and set(per[0].values()) <= {1}, (s, per)
    moved = run(env.db, "t_moved", "SELECT credit_code, count() AS n FROM entities WHERE credit_code IN %(c)s "
                "GROUP BY credit_code", {"c": list(codes)})
    assert len(moved) == 6 and set(moved["n"]) == {1}
    assert mismatches(env.db) == []


def test_older_replicated_cluster_gains_added_columns(env, servers) -> None:
    """Columns added since a release reach every replica: ``etl init`` alters a Replicated table
    once (per shard for ``_local``), ZooKeeper carries the change to the other replicas."""

    from store.schema import ADDED_COLUMNS, init_schema
    from store.sql import execute

    _all_active(servers)  # a killed server's ZooKeeper session outlives it by the session timeout
    execute(env.db, "t_drop_col", "ALTER TABLE ingest_batches DROP COLUMN line_offset")
    for shard in env.db.shards():
        execute(shard, "t_drop_col", "ALTER TABLE task_events_local DROP COLUMN source_time")
    init_schema(env.db)
    for node in servers.values():
        deadline = time.monotonic() + 30
        while True:  # another replica applies a replicated ALTER on its own, soon after
            cols = {(t, c) for t, c in _client(node).execute(
                "SELECT table, name FROM system.columns WHERE database = %(d)s", {"d": DATABASE})}
            if ("ingest_batches", "line_offset") in cols and ("task_events_local", "source_time") in cols \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert ("ingest_batches", "line_offset") in cols and ("task_events_local", "source_time") in cols, node.name
        assert {("task_events", c) for c in ADDED_COLUMNS["task_events"]} <= cols, node.name


def test_a_server_killed_mid_insert_starts_again(servers) -> None:
    """A replica killed between writing a part and registering it in ZooKeeper keeps a part
    ZooKeeper never heard of, and 18.16 refuses to start when such parts hold over half a
    table's rows. The operator's step in docs/deploy.md (flags/force_restore_data, which
    tests/chserver.py takes on such a refusal): the server detaches the stray part and fetches
    what it lacks from its other replica."""
    s21, s22 = servers[(2, 1)], servers[(2, 2)]
    for node in (s21, s22):
        node.client().execute("CREATE TABLE crash_probe (n UInt32) ENGINE = ReplicatedMergeTree("
                              "'/clickhouse/tables/{shard}/default/crash_probe', '{replica}') ORDER BY n")
    try:
        s21.client().execute("INSERT INTO crash_probe VALUES", [(i,) for i in range(30)])
        s22.client().execute("SYSTEM SYNC REPLICA crash_probe")
        [(name, path)] = s21.client().execute("SELECT name, path FROM system.parts "
                                              "WHERE database = 'default' AND table = 'crash_probe' AND active")
        s21.kill()
        part = Path(path)
        part.rename(part.parent / "all_7_7_0")  # a block number ZooKeeper never handed out
        flag = s21.base_dir / "data" / "flags" / "force_restore_data"
        assert not flag.exists()
        s21.start()
        assert [p.name for p in (part.parent / "detached").iterdir()] != []  # the stray part, set aside
        assert not flag.exists()  # taken once: the next start checks again
        deadline = time.monotonic() + 30  # the fetch is queued as the table attaches, not at once
        while (got := s21.client().execute("SELECT count(), sum(n) FROM crash_probe")) != [(30, sum(range(30)))] \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert got == [(30, sum(range(30)))], name
    finally:
        for node in (s21, s22):
            node.client().execute("DROP TABLE IF EXISTS crash_probe")
