"""Helpers of tests/test_replicas.py: clients of one server, waits for replicas, the
cluster's rows read back as the oracle's input."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from clickhouse_driver import Client

from etl.demo import DemoData
from store.executor import run
from tests.chserver import ClickHouseServer

DATABASE = "test_replicas"


def frames(db) -> DemoData:
    """The cluster's rows read back as the oracle's input (tests/oracle.py)."""
    def table(name: str) -> pd.DataFrame:
        return run(db, f"replica_{name}", f"SELECT * FROM {name}")
    return DemoData(table("regions"), table("grid_workers"), table("departments"), table("entities"),
                    table("events"), table("tasks"), table("task_events"), table("inspectors"),
                    **{name: table(name) for name in ("random_plans", "random_items", "joint_cases", "joint_actions")})


def alive(data: DemoData, region: str, day: dt.date) -> int:
    ent, end = data.entities, pd.Timestamp(day)
    ent = ent[ent["grid_code"].str.startswith(region)]
    return int(((ent["reg_date"] <= end) & ((ent["status"] == "active") | (ent["status_date"] > end))).sum())


def client(server: ClickHouseServer) -> Client:
    return Client("127.0.0.1", port=server.tcp_port, database=DATABASE)


def sync(server: ClickHouseServer) -> dict[str, int]:
    """Wait until the server's replicas have fetched every part they lack; row count per table."""
    c = client(server)
    tables = [t for (t,) in c.execute("SELECT table FROM system.replicas WHERE database = %(d)s",
                                      {"d": DATABASE})]
    for table in tables:
        c.execute(f"SYSTEM SYNC REPLICA {DATABASE}.{table}")
    return {t: c.execute(f"SELECT count() FROM {DATABASE}.{t}")[0][0] for t in tables}


def all_active(servers: dict, timeout: float = 60) -> None:
    """Wait until every replica of every table is active again (the tests above restart
    servers; a replicated ALTER needs them all)."""
    import time

    deadline = time.monotonic() + timeout
    for node in servers.values():
        while client(node).execute("SELECT count() FROM system.replicas WHERE database = %(d)s "
                                    "AND active_replicas < total_replicas", {"d": DATABASE})[0][0]:
            assert time.monotonic() < deadline, f"{node.name}: replicas still inactive after {timeout:.0f} s"
            time.sleep(0.2)


def close(a: float, b: float) -> bool:
    """Equal figures (NaN equals NaN: an undefined rate on both sides)."""
    import math

    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
